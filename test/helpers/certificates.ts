import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EtcdTlsFixture } from './etcd.ts'

const OPENSSL = process.env.OPENSSL_BINARY ?? '/usr/bin/openssl'

export interface TestCertificates extends EtcdTlsFixture {
  dir: string
  /** A second client certificate, signed by a CA etcd does not trust. */
  strangerCertFile: string
  strangerKeyFile: string
  strangerCaFile: string
}

/** A CA, a server certificate for 127.0.0.1 and client certificates, made with the openssl CLI. */
export function makeCertificates (): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'kafscale-mcp-certs-'))
  const file = (name: string): string => join(dir, name)
  const openssl = (...args: string[]): void => { execFileSync(OPENSSL, args, { stdio: 'pipe' }) }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  const ca = (name: string): void => { openssl('req', '-x509', ...ec, '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`), '-days', '2', '-subj', `/CN=${name}`) }
  const signed = (name: string, by: string, extensions: string): void => {
    writeFileSync(file(`${name}.ext`), extensions)
    openssl('req', ...ec, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`)
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${by}.crt`), '-CAkey', file(`${by}.key`), '-CAcreateserial', '-out', file(`${name}.crt`), '-days', '2', '-extfile', file(`${name}.ext`))
  }
  ca('test-ca')
  ca('stranger-ca')
  signed('etcd-server', 'test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  signed('kafscale-mcp', 'test-ca', 'extendedKeyUsage=clientAuth\n')
  signed('stranger', 'stranger-ca', 'extendedKeyUsage=clientAuth\n')
  return {
    dir,
    caFile: file('test-ca.crt'),
    serverCertFile: file('etcd-server.crt'),
    serverKeyFile: file('etcd-server.key'),
    clientCertFile: file('kafscale-mcp.crt'),
    clientKeyFile: file('kafscale-mcp.key'),
    strangerCertFile: file('stranger.crt'),
    strangerKeyFile: file('stranger.key'),
    strangerCaFile: file('stranger-ca.crt')
  }
}
