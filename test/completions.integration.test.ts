import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/client'
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { startIdp, type TestIdp } from './helpers/idp.ts'
import { BILLING_GROUP } from './helpers/kafscale-data.ts'
import { encoded, putMany, snapshotWith } from './helpers/cluster-builder.ts'
import { auditLines } from './helpers/audit-file.ts'
import { connectClient, ERAS, startServer, type Era, type RunningServer } from './helpers/server.ts'

// completion/complete for the resource templates' variables and the prompts' arguments: real
// SDK clients in both protocol eras, a real server on a port, real etcd, a real OIDC issuer for
// callers whose policies differ.

const RESOURCE = 'https://mcp.example.test/mcp'
const BIN = fileURLToPath(new URL('../bin/kafscale-mcp.ts', import.meta.url))
const TOPIC = { type: 'ref/resource', uri: 'kafscale://topics/{name}' } as const
const GROUP = { type: 'ref/resource', uri: 'kafscale://groups/{group_id}' } as const
const LAG_PROMPT = { type: 'ref/prompt', name: 'diagnose-consumer-lag' } as const

const BULK = Array.from({ length: 130 }, (_, i) => `bulk-${String(i).padStart(3, '0')}`)
// The fixture's "orders" and "payments", names the broker creates that Kafka would refuse, and
// one that differs from "orders" in case only.
const ODD = ['my topic', 'ns:events', 'grüße', 'a/partitions/0', '..', 'Orders']
const ALL_TOPICS = ['..', 'Orders', 'a/partitions/0', ...BULK, 'grüße', 'my topic', 'ns:events', 'orders', 'payments']
const commit = '{"offset":1,"metadata":"","committed_at":"2026-03-01T12:00:00Z"}'

const dir = mkdtempSync(join(tmpdir(), 'kafscale-completions-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const policyPath = join(dir, 'policy.yaml')
const auditPath = join(dir, 'audit.jsonl')
writeFileSync(policyPath, `
roles:
  observer: { tools: ["@observe"] }
  group-reader: { tools: ["list_groups", "describe_group", "consumer_lag", "describe_topics"] }
  lag-only: { tools: ["consumer_lag"] }
bindings:
  - { name: observers, subjects: [alice], roles: [observer] }
  - { name: group-readers, subjects: [bob], roles: [group-reader] }
  - { name: lag-only, subjects: [carol], roles: [lag-only] }
`)

let etcd: EtcdProcess
let idp: TestIdp
let server: RunningServer
t.before(async () => {
  etcd = await startEtcd()
  idp = await startIdp()
  await etcd.client.put('/kafscale/metadata/snapshot').value(encoded(snapshotWith([...ODD, ...BULK].map((name) => [name, 1]))))
  await putMany(etcd.client, [
    ['/kafscale/consumers/team/x/metadata', BILLING_GROUP],
    ['/kafscale/consumers/billing/metadata', BILLING_GROUP],
    ['/kafscale/consumers/g one/offsets/orders/0', commit],
    ['/kafscale/consumers/team/offsets/orders/0', commit],
    ['/kafscale/consumers/ns:readers/offsets/orders/0', commit],
    ['/kafscale/consumers/Grüße-App/offsets/orders/0', commit]
  ])
  server = await startServer(['--etcd-endpoints', etcd.endpoint, '--oidc-issuer', idp.issuer, '--resource-url', RESOURCE, '--policy-file', policyPath, '--audit-file', auditPath, '--rate-limit', '0'])
  await server.app.kafscaleStore!.checkReady()
})
t.teardown(async () => {
  await server.close()
  await idp.close()
  await etcd.destroy()
})

async function connect (t: Test, era: Era, sub: string): Promise<Client> {
  const now = Math.floor(Date.now() / 1000)
  const token = await idp.sign({ iss: idp.issuer, aud: RESOURCE, sub, iat: now, exp: now + 300, scope: 'kafscale:observe', client_id: 'tests' })
  const client = await connectClient(server.base, era, { authorization: `Bearer ${token}` })
  t.teardown(async () => { await client.close() })
  return client
}

type Ref = typeof TOPIC | typeof GROUP | typeof LAG_PROMPT
const argumentOf = (ref: Ref): string => ref === TOPIC ? 'name' : ref === GROUP ? 'group_id' : 'group'

async function complete (client: Client, ref: Ref, value: string): Promise<{ values: string[], total?: number, hasMore?: boolean }> {
  return (await client.complete({ ref, argument: { name: argumentOf(ref), value } })).completion
}

for (const era of ERAS) {
  t.test(`${era}: topic names complete by prefix, sorted, capped at 100 with the true total`, async (t) => {
    const client = await connect(t, era, 'alice')
    t.ok(client.getServerCapabilities()?.completions, 'the completions capability is advertised')
    t.same(await complete(client, TOPIC, 'bulk-12'), { values: BULK.slice(120, 130), total: 10, hasMore: false })
    t.same(await complete(client, TOPIC, 'bulk-'), { values: BULK.slice(0, 100), total: 130, hasMore: true }, '130 matches: the first 100 in order')
    t.same(await complete(client, TOPIC, ''), { values: ALL_TOPICS.slice(0, 100), total: ALL_TOPICS.length, hasMore: true }, 'nothing typed: every topic')
    t.same(await complete(client, TOPIC, 'bulk-129x'), { values: [], total: 0, hasMore: false })
  })

  t.test(`${era}: names with spaces, ":", "/", non-ASCII and case complete as they are`, async (t) => {
    const client = await connect(t, era, 'alice')
    const values = async (ref: Ref, value: string): Promise<string[]> => (await complete(client, ref, value)).values
    t.same(await values(TOPIC, 'my '), ['my topic'])
    t.same(await values(TOPIC, 'ns:'), ['ns:events'])
    t.same(await values(TOPIC, 'a/'), ['a/partitions/0'])
    t.same(await values(TOPIC, '.'), ['..'])
    t.same(await values(TOPIC, 'grü'), ['grüße'])
    t.same(await values(TOPIC, 'GRÜ'), ['grüße'], 'case is ignored when nothing matches exactly')
    t.same(await values(TOPIC, 'ord'), ['orders', 'Orders'], 'exact-case matches first, then the others')
    t.same(await values(TOPIC, 'Ord'), ['Orders', 'orders'])
    t.same(await values(GROUP, ''), ['Grüße-App', 'billing', 'g one', 'ns:readers', 'team', 'team/x'], 'every group, with metadata or only committed offsets')
    t.same(await values(GROUP, 'team'), ['team', 'team/x'])
    t.same(await values(GROUP, 'g '), ['g one'])
    t.same(await values(GROUP, 'grü'), ['Grüße-App'])
    t.same(await values(LAG_PROMPT, 'ns:'), ['ns:readers'], 'the lag prompt\'s group argument completes with group ids')
  })

  t.test(`${era}: a value longer than any name is refused before anything is read`, async (t) => {
    const client = await connect(t, era, 'alice')
    await t.rejects(complete(client, TOPIC, 'x'.repeat(250)), { code: -32602, message: `invalid arguments: value "${'x'.repeat(60)}…": must not have more than 249 characters`, data: { 'io.kafscale/error': { code: 'KSMCP_ERR_INVALID_INPUT', statusCode: 400 } } })
    await t.rejects(complete(client, LAG_PROMPT, 'x'.repeat(32768)), { code: -32602, message: `invalid arguments: value "${'x'.repeat(60)}…": must not have more than 32767 characters` })
    t.same(await complete(client, TOPIC, '😀'.repeat(249)), { values: [], total: 0, hasMore: false }, 'the bound counts characters, not UTF-16 units')
  })

  t.test(`${era}: a caller is offered only the names its policy lets it list`, async (t) => {
    const bob = await connect(t, era, 'bob')
    t.same(await complete(bob, TOPIC, 'bulk-12'), { values: [], total: 0, hasMore: false }, 'without list_topics: no topic names')
    t.same((await complete(bob, GROUP, 'team')).values, ['team', 'team/x'], 'with list_groups: group ids')
    const carol = await connect(t, era, 'carol')
    t.same(await complete(carol, LAG_PROMPT, 'team'), { values: [], total: 0, hasMore: false }, 'the lag prompt without list_groups: no group ids')
    t.same(await complete(carol, GROUP, 'team'), { values: [], total: 0, hasMore: false })
    const alice = await connect(t, era, 'alice')
    const before = auditLines(auditPath).length
    t.same((await complete(alice, TOPIC, 'bulk-12')).total, 10, 'the same request from a caller who may list topics')
    await complete(carol, LAG_PROMPT, 'team')
    const trail = auditLines(auditPath).slice(before).map((r) => ({ sub: r.principal.sub, tool: r.tool, arguments: r.arguments, decision: r.decision, outcome: r.outcome }))
    t.same(trail, [
      { sub: 'alice', tool: 'completion/complete list_topics', arguments: { value: 'bulk-12' }, decision: 'allow', outcome: 'ok' },
      { sub: 'carol', tool: 'completion/complete list_groups', arguments: { value: 'team' }, decision: 'deny', outcome: 'denied' }
    ], 'each completion leaves a record, as the listing it answers for would (a template hidden from bob is not his to complete: no record, as for its reads)')
  })

  t.test(`${era}: a prompt or template the server does not have completes to nothing`, async (t) => {
    const client = await connect(t, era, 'alice')
    t.same((await client.complete({ ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' }, argument: { name: 'arg1', value: 'test' } })).completion, { values: [], total: 0, hasMore: false })
    t.same((await client.complete({ ref: { type: 'ref/resource', uri: 'kafscale://nothing/{x}' }, argument: { name: 'x', value: '' } })).completion, { values: [], total: 0, hasMore: false })
    t.same((await client.complete({ ref: { type: 'ref/prompt', name: 'cluster-health-report' }, argument: { name: 'anything', value: '' } })).completion.values, [], 'a prompt without arguments')
  })
}

t.test('stdio: a session completes with the names of the cluster it serves', async (t) => {
  const client = new Client({ name: 'stdio-client', version: '1.0.0' })
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [BIN, '--stdio', '--demo', '--log-level', 'silent'], stderr: 'ignore' }))
  t.teardown(async () => { await client.close() })
  t.same(await complete(client, TOPIC, ''), { values: ['audit-log', 'clickstream', 'events', 'inventory', 'orders', 'payments'], total: 6, hasMore: false })
  t.same((await complete(client, TOPIC, 'pay')).values, ['payments'])
})

t.test('a completion the store cannot answer is an internal error with the service\'s code', async (t) => {
  const storeless = await startServer([])
  t.teardown(storeless.close)
  for (const era of ERAS) {
    const client = await connectClient(storeless.base, era)
    t.teardown(async () => { await client.close() })
    await t.rejects(complete(client, TOPIC, 'o'), {
      code: -32603,
      message: 'metadata store not configured: set KAFSCALE_MCP_ETCD_ENDPOINTS (or --etcd-endpoints)',
      data: { 'io.kafscale/error': { code: 'KSMCP_ERR_STORE_NOT_CONFIGURED', statusCode: 503 } }
    }, era)
  }
})
