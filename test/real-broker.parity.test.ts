import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { isDeepStrictEqual } from 'node:util'
import t from 'tap'
import type { Client } from '@modelcontextprotocol/client'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { putMany } from './helpers/cluster-builder.ts'
import { connectClient, startServer, type RunningServer } from './helpers/server.ts'

// Parity with KafScale's own Go MCP server on what KafScale's real broker wrote
// (fixtures/real-broker/README.md): every case of cases.json is called on this server over MCP
// and compared field by field with the Go server's answer. The only differences allowed are
// those in ALLOWED_DIFFERENCES below, the same list as in the README ("Parity with the
// reference server"); each one must still occur, so the list cannot go stale.

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/real-broker/${name}`, import.meta.url), 'utf8')
interface Case { tool: string, case: string, args: Record<string, unknown> }
const CASES = JSON.parse(fixture('cases.json')) as Case[]
const RFC3339_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/

type Kind = 'added' | 'removed' | 'changed'
interface Allowed {
  tool: string
  /** Case names, or every case of the tool. */
  cases: string[] | '*'
  /** Field path; `[*]` stands for any array index, '' for the whole answer. */
  path: string
  kind: Kind
  reason: string
  /** For volatile fields: what both sides must still satisfy. */
  check?: (ours: unknown, reference: unknown) => boolean
}

const heartbeatNoLater = (ours: unknown, reference: unknown): boolean => Date.parse(String(ours)) <= Date.parse(String(reference))
const bothRfc3339 = (ours: unknown, reference: unknown): boolean => RFC3339_SECONDS.test(String(ours)) && RFC3339_SECONDS.test(String(reference))

const WHOLE_ANSWER = ''
const omittedFilter = ['analytics-active-omitted', 'audit-active-omitted', 'billing-left-omitted', 'manual-offsets-omitted', 'nosuch-group-omitted']
const groupWithoutOffsets = ['manual-offsets-topics-null', 'manual-offsets-topics-own', 'manual-offsets-topics-unknown', 'nosuch-group-topics-null', 'nosuch-group-topics-own', 'nosuch-group-topics-unknown']
const defaultConfigs = ['topic-audit-log', 'topic-autotopic', 'topic-orders', 'topic-with-create-configs']

/** The one list of differences from the reference; README "Parity with the reference server" says the same. */
const ALLOWED_DIFFERENCES: Allowed[] = [
  // Volatile: the time of the call.
  { tool: 'cluster_status', cases: '*', path: 'observed_at', kind: 'changed', reason: 'the time of the call', check: bothRfc3339 },
  { tool: 'cluster_metrics', cases: '*', path: 'observed_at', kind: 'changed', reason: 'the time of the call', check: bothRfc3339 },
  { tool: 'describe_configs', cases: defaultConfigs, path: 'configs[*].created_at', kind: 'changed', reason: 'a topic without a stored config gets created_at = now, as KafScale\'s defaults do', check: bothRfc3339 },
  // The dump was taken a moment before the reference's call, and audit-active's live member
  // heartbeated in between: the reference saw a later heartbeat than the dump holds.
  { tool: 'describe_group', cases: ['audit-active'], path: 'members[*].heartbeat_at', kind: 'changed', reason: 'a live member\'s heartbeat, written again between the dump and the reference\'s call', check: heartbeatNoLater },
  // Added fields.
  { tool: 'cluster_status', cases: '*', path: 'etcd.snapshot_loaded_at', kind: 'added', reason: 'added: when the cached snapshot was read' },
  { tool: 'cluster_status', cases: '*', path: 'etcd.since', kind: 'added', reason: 'added: since when etcd is in its present state' },
  { tool: 'cluster_metrics', cases: '*', path: 's3_error_rate', kind: 'added', reason: 'added' },
  { tool: 'cluster_metrics', cases: '*', path: 'source', kind: 'added', reason: 'added: per-broker or single-url' },
  { tool: 'cluster_metrics', cases: '*', path: 'brokers', kind: 'added', reason: 'added: every broker scraped, with its own figures' },
  { tool: 'describe_configs', cases: defaultConfigs, path: 'configs[*].source', kind: 'added', reason: 'added: stored, default or missing' },
  { tool: 'describe_group', cases: ['analytics-active', 'audit-active'], path: 'metadata', kind: 'added', reason: 'added: stored, or missing for a group whose members left' },
  { tool: 'fetch_offsets', cases: '*', path: 'offsets[*].committed', kind: 'added', reason: 'added: tells a partition never committed from a real offset 0' },
  { tool: 'fetch_offsets', cases: '*', path: 'offsets[*].committed_at', kind: 'added', reason: 'added: when the offset was committed' },
  { tool: 'describe_group', cases: ['manual-offsets', 'nosuch-group'], path: '_meta', kind: 'changed', reason: 'tool errors carry _meta["io.kafscale/error"] = { code, statusCode }' },
  // The reference's defects (fixtures/real-broker/README.md, CONTRACT.md §8).
  { tool: 'describe_topics', cases: ['noargs'], path: WHOLE_ANSWER, kind: 'changed', reason: 'the reference rejects {} (names required); here every filter is optional' },
  { tool: 'describe_configs', cases: ['noargs'], path: WHOLE_ANSWER, kind: 'changed', reason: 'the reference rejects {} (topics required); here every filter is optional' },
  { tool: 'fetch_offsets', cases: omittedFilter, path: WHOLE_ANSWER, kind: 'changed', reason: 'the reference rejects a call without topics; here every filter is optional' },
  { tool: 'describe_configs', cases: ['topics-null', 'topics-empty', 'multi-reverse', 'topic-clicks', 'topic-inventory', 'topic-payments'], path: WHOLE_ANSWER, kind: 'changed', reason: 'the reference fails output validation for every stored config (its empty map decodes as null); here it is {}' },
  { tool: 'describe_configs', cases: ['unknown', 'mixed-unknown'], path: WHOLE_ANSWER, kind: 'changed', reason: 'the reference fails the whole call with "unknown topic"; here an unknown topic is an entry with exists: false' },
  { tool: 'fetch_offsets', cases: ['analytics-active-topics-null', 'audit-active-topics-null', 'billing-left-topics-null'], path: 'offsets', kind: 'changed', reason: 'without topics the reference lists every partition of the cluster; here the partitions of the topics the group committed to' },
  { tool: 'fetch_offsets', cases: ['analytics-active-topics-unknown', 'audit-active-topics-unknown', 'billing-left-topics-unknown'], path: 'offsets', kind: 'changed', reason: 'no offsets: [] here, null in the reference' },
  { tool: 'fetch_offsets', cases: groupWithoutOffsets, path: WHOLE_ANSWER, kind: 'changed', reason: 'the reference answers offset 0 for any group id, even one that does not exist; here a group with neither metadata nor offsets is not found' },
  // Deliberate changes.
  { tool: 'list_groups', cases: '*', path: 'groups', kind: 'changed', reason: 'a group whose members left (billing-left: offsets, no metadata) is listed as empty, as Kafka lists it; the reference omits it' },
  { tool: 'describe_group', cases: ['billing-left'], path: WHOLE_ANSWER, kind: 'changed', reason: 'a group whose members left is described with metadata "missing", state "empty" and a note; the reference says not found' }
]

interface Difference { path: string, kind: Kind, ours?: unknown, reference?: unknown }

/** A result, a tool error or a JSON-RPC error: answers of different kinds differ as a whole. */
function answerKind (answer: unknown): string {
  if (typeof answer !== 'object' || answer === null) return 'result'
  return '_protocolError' in answer ? 'protocol error' : '_isError' in answer ? 'tool error' : 'result'
}

function differences (ours: unknown, reference: unknown, path = '', out: Difference[] = []): Difference[] {
  if (path === '' && answerKind(ours) !== answerKind(reference)) return [{ path, kind: 'changed', ours, reference }]
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
  const at = (key: string): string => (path === '' ? key : `${path}.${key}`)
  if (isObject(ours) && isObject(reference)) {
    for (const key of new Set([...Object.keys(ours), ...Object.keys(reference)])) {
      if (!(key in reference)) out.push({ path: at(key), kind: 'added', ours: ours[key] })
      else if (!(key in ours)) out.push({ path: at(key), kind: 'removed', reference: reference[key] })
      else differences(ours[key], reference[key], at(key), out)
    }
  } else if (Array.isArray(ours) && Array.isArray(reference) && ours.length === reference.length) {
    ours.forEach((item, i) => differences(item, reference[i], `${path}[${i}]`, out))
  } else if (!isDeepStrictEqual(ours, reference)) {
    out.push({ path, kind: 'changed', ours, reference })
  }
  return out
}

function pathMatches (pattern: string, path: string): boolean {
  const regex = new RegExp(`^${pattern.replace(/[.+?^${}()|\\]/g, '\\$&').replace(/\[\*\]/g, '\\[\\d+\\]')}$`)
  return regex.test(path)
}

/** What a client sees: structured content, a tool error, or a JSON-RPC error, in the fixture's shapes. */
async function answer (client: Client, c: Case): Promise<unknown> {
  try {
    const result = await client.callTool({ name: c.tool, arguments: c.args })
    if (result.isError === true) {
      return { _isError: true, _text: (result.content as Array<{ text: string }>)[0]!.text, _meta: result._meta ?? null, _structured: result.structuredContent ?? null }
    }
    return result.structuredContent
  } catch (err) {
    return { _protocolError: { message: (err as Error).message, code: (err as { code?: number }).code } }
  }
}

let etcd: EtcdProcess
let server: RunningServer
let metrics: Server
let client: Client

t.before(async () => {
  etcd = await startEtcd()
  const dump = JSON.parse(fixture('etcd-dump.json')) as { kvs: Array<{ key: string, value_b64: string }> }
  await putMany(etcd.client, dump.kvs.map((kv) => [kv.key, Buffer.from(kv.value_b64, 'base64')]))
  const text = fixture('broker-metrics.txt')
  metrics = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text) })
  await new Promise<void>((resolve) => metrics.listen(0, '127.0.0.1', resolve))
  // The snapshot's broker is 127.0.0.1: the per-broker URL derived from this one is this server.
  server = await startServer(['--etcd-endpoints', etcd.endpoint, '--broker-metrics-url', `http://127.0.0.1:${(metrics.address() as AddressInfo).port}/metrics`])
  await server.app.kafscaleStore!.checkReady()
  client = await connectClient(server.base, 'modern')
})
t.teardown(async () => {
  await client.close()
  await server.close()
  metrics.close()
  await etcd.destroy()
})

t.test('every case answers as the reference, but for the documented differences', async (t) => {
  const used = new Set<Allowed>()
  const unexplained: string[] = []
  for (const c of CASES) {
    const reference = JSON.parse(fixture(`reference/${c.tool}-${c.case}.json`)) as unknown
    for (const d of differences(await answer(client, c), reference)) {
      const allowed = ALLOWED_DIFFERENCES.find((a) => a.tool === c.tool && (a.cases === '*' || a.cases.includes(c.case)) && a.kind === d.kind && pathMatches(a.path, d.path))
      if (allowed === undefined || (allowed.check !== undefined && !allowed.check(d.ours, d.reference))) {
        unexplained.push(`${c.tool} ${c.case} ${d.kind} ${d.path === '' ? '(answer)' : d.path}: ours ${JSON.stringify(d.ours)} reference ${JSON.stringify(d.reference)}`)
      } else used.add(allowed)
    }
  }
  t.same(unexplained, [], 'no difference outside ALLOWED_DIFFERENCES')
  t.same(ALLOWED_DIFFERENCES.filter((a) => !used.has(a)).map((a) => `${a.tool} ${a.path}`), [], 'every documented difference still occurs')
})

t.test('cluster_health on the real broker\'s data: idle partitions without a lease are not a problem (item 21)', async (t) => {
  // clicks/2, clicks/4, inventory/1, inventory/2 and with-create-configs/* never had traffic and
  // have no lease; every partition holding records or committed offsets has one.
  const result = await client.callTool({ name: 'cluster_health', arguments: {} })
  const health = result.structuredContent as { status: string, findings: Array<{ code: string, subjects: string[] }> }
  t.same(health.findings.map((f) => [f.code, f.subjects]), [['GROUP_WITHOUT_MEMBERS', ['billing-left']]])
  t.equal(health.status, 'degraded', 'billing-left\'s consumers are gone: that is the one finding')
})
