import { rmSync } from 'node:fs'
import t from 'tap'
import { loadConfig } from '../lib/config.ts'
import { makeCertificates, type TestCertificates } from './helpers/certificates.ts'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { seedCluster } from './helpers/kafscale-data.ts'
import { callRest, startServer } from './helpers/server.ts'

// A real etcd serving https:// on loopback and requiring client certificates
// (--client-cert-auth --trusted-ca-file), with certificates made by openssl for this run.

let certs: TestCertificates
let etcd: EtcdProcess

t.before(async () => {
  certs = makeCertificates()
  etcd = await startEtcd([], { tls: certs })
  await seedCluster(etcd.client)
})
t.teardown(async () => {
  await etcd.destroy()
  rmSync(certs.dir, { recursive: true, force: true })
})

async function describeBilling (tlsArgs: string[]): Promise<{ status: number, body: any }> {
  const server = await startServer(['--etcd-endpoints', etcd.endpoint, '--etcd-timeout', '1s', ...tlsArgs])
  try {
    return await callRest(server.base, 'describe_group', { group_id: 'billing' })
  } finally {
    await server.close()
  }
}

t.test('with the CA and a client certificate etcd trusts, tools read over TLS', async (t) => {
  const server = await startServer(['--etcd-endpoints', etcd.endpoint, '--etcd-timeout', '1s',
    '--etcd-ca-file', certs.caFile, '--etcd-cert-file', certs.clientCertFile, '--etcd-key-file', certs.clientKeyFile])
  t.teardown(async () => { await server.close() })
  await server.app.kafscaleStore!.checkReady()
  const group = await callRest(server.base, 'describe_group', { group_id: 'billing' })
  t.equal(group.status, 200)
  t.equal(group.body.group_id, 'billing')
  t.same((await callRest(server.base, 'list_topics', {})).body.topics.map((x: { name: string }) => x.name), ['orders', 'payments'])
  t.equal((await callRest(server.base, 'cluster_status', {})).body.etcd.state, 'connected')
})

t.test('without a client certificate: a clear error naming the endpoint', async (t) => {
  const refused = await describeBilling(['--etcd-ca-file', certs.caFile])
  t.equal(refused.status, 503)
  t.equal(refused.body.code, 'KSMCP_ERR_ETCD_UNAVAILABLE')
  t.equal(refused.body.message, `etcd unavailable: ${etcd.endpoint}: the TLS handshake was refused: etcd requires a client certificate signed by a CA it trusts`)
})

t.test('a client certificate from a CA etcd does not trust is refused', async (t) => {
  const refused = await describeBilling(['--etcd-ca-file', certs.caFile, '--etcd-cert-file', certs.strangerCertFile, '--etcd-key-file', certs.strangerKeyFile])
  t.equal(refused.status, 503)
  t.equal(refused.body.code, 'KSMCP_ERR_ETCD_UNAVAILABLE')
  t.equal(refused.body.message, `etcd unavailable: ${etcd.endpoint}: the TLS handshake was refused: etcd requires a client certificate signed by a CA it trusts`)
})

t.test('a server certificate not signed by the given CA is refused', async (t) => {
  const refused = await describeBilling(['--etcd-ca-file', certs.strangerCaFile, '--etcd-cert-file', certs.clientCertFile, '--etcd-key-file', certs.clientKeyFile])
  t.equal(refused.status, 503)
  t.equal(refused.body.code, 'KSMCP_ERR_ETCD_UNAVAILABLE')
  t.equal(refused.body.message, `etcd unavailable: ${etcd.endpoint}: etcd's TLS certificate is not signed by a trusted CA: give the CA that signed it`)
})

/** The configuration problems loadConfig reports, or "" when it accepts the flags. */
function problems (argv: string[], env: Record<string, string> = {}): string {
  try {
    loadConfig(['--http-addr', '127.0.0.1:0', ...argv], env)
    return ''
  } catch (err) {
    return (err as Error).message
  }
}

t.test('TLS settings are checked at start, every problem in words', async (t) => {
  t.equal(problems(['--etcd-endpoints', 'https://etcd.example:2379', '--etcd-ca-file', certs.caFile, '--etcd-cert-file', certs.clientCertFile, '--etcd-key-file', certs.clientKeyFile]), '')
  t.same(loadConfig(['--http-addr', '127.0.0.1:0', '--etcd-endpoints', 'https://etcd.example:2379'], { KAFSCALE_MCP_ETCD_CA_FILE: certs.caFile, KAFSCALE_MCP_ETCD_CERT_FILE: certs.clientCertFile, KAFSCALE_MCP_ETCD_KEY_FILE: certs.clientKeyFile }).etcdTls,
    { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile }, 'the environment variables set the same')
  t.equal(problems(['--etcd-endpoints', 'https://etcd.example:2379', '--etcd-cert-file', certs.clientCertFile]),
    'invalid configuration: a client certificate needs both KAFSCALE_MCP_ETCD_CERT_FILE (--etcd-cert-file) and KAFSCALE_MCP_ETCD_KEY_FILE (--etcd-key-file)')
  t.equal(problems(['--etcd-endpoints', 'https://etcd.example:2379', '--etcd-ca-file', '/nonexistent/ca.crt']),
    'invalid configuration: KAFSCALE_MCP_ETCD_CA_FILE (--etcd-ca-file): cannot read "/nonexistent/ca.crt": ENOENT')
  t.match(problems(['--etcd-endpoints', 'http://127.0.0.1:2379', '--etcd-ca-file', certs.caFile]), 'are for https:// endpoints: use https:// in KAFSCALE_MCP_ETCD_ENDPOINTS (--etcd-endpoints)')
  t.match(problems(['--etcd-endpoints', 'http://a:2379,https://b:2379']), 'mixes http:// and https:// endpoints')
})

t.test('the etcd password never goes in clear text to another host unless allowed', async (t) => {
  const withUser = (argv: string[], env: Record<string, string> = {}): string => problems(['--etcd-username', 'mcp', ...argv], env)
  t.equal(withUser(['--etcd-endpoints', 'http://127.0.0.1:2379,http://etcd.kafscale.svc:2379', '--etcd-password', 's3cret']),
    'invalid configuration: refusing to send the etcd password in clear text over http://etcd.kafscale.svc:2379: use https:// endpoints (with KAFSCALE_MCP_ETCD_CA_FILE (--etcd-ca-file) for a private CA), or pass KAFSCALE_MCP_ETCD_ALLOW_INSECURE_PASSWORD (--etcd-allow-insecure-password)')
  t.notMatch(withUser(['--etcd-endpoints', 'http://etcd.kafscale.svc:2379', '--etcd-password', 's3cret']), 's3cret', 'the refusal does not repeat the password')
  t.equal(withUser(['--etcd-endpoints', 'http://etcd.kafscale.svc:2379', '--etcd-password', 's3cret', '--etcd-allow-insecure-password']), '')
  t.equal(withUser(['--etcd-endpoints', 'http://etcd.kafscale.svc:2379'], { KAFSCALE_MCP_ETCD_PASSWORD: 's3cret', KAFSCALE_MCP_ETCD_ALLOW_INSECURE_PASSWORD: 'true' }), '')
  t.equal(withUser(['--etcd-endpoints', 'http://localhost:2379,http://[::1]:2379', '--etcd-password', 's3cret']), '', 'loopback stays on the host')
  t.equal(withUser(['--etcd-endpoints', 'https://etcd.kafscale.svc:2379', '--etcd-password', 's3cret']), '', 'https:// is fine')
  t.equal(withUser(['--etcd-endpoints', 'http://etcd.kafscale.svc:2379']), '', 'no password, nothing to protect')
})
