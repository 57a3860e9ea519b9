import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { Client } from '@modelcontextprotocol/client'
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio'
import { demoBackend } from '../demo/cluster.ts'
import { MemoryBackend } from '../lib/store/memory-backend.ts'
import { SNAPSHOT_KEY } from '../lib/kafscale/keys.ts'
import { encoded, snapshotWith } from './helpers/cluster-builder.ts'
import { callRest, connectClient, ERAS, startServer } from './helpers/server.ts'

const FIXTURE = readFileSync(new URL('./fixtures/broker-metrics.txt', import.meta.url), 'utf8')
const BIN = fileURLToPath(new URL('../bin/kafscale-mcp.ts', import.meta.url))

function backendWith (topics: Array<[string, number]>, brokers = 3): MemoryBackend {
  const kv = new MemoryBackend()
  kv.put(SNAPSHOT_KEY, encoded(snapshotWith(topics, brokers)))
  return kv
}

async function endpoint (handler: (res: import('node:http').ServerResponse) => void): Promise<{ url: string, server: Server }> {
  const server = createServer((_req, res) => handler(res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, server }
}

t.test('cluster_metrics over five brokers: one down (500), one hung, one garbage', async (t) => {
  // Broker 1: degraded S3, latency 0 (left out of the mean), error rate 0.2, one API at 2 ms.
  const degraded = FIXTURE
    .replace('state="healthy"} 1', 'state="healthy"} 0').replace('state="degraded"} 0', 'state="degraded"} 1')
    .replace('kafscale_s3_latency_ms_avg 37.250000', 'kafscale_s3_latency_ms_avg 0.000000')
    .replace('kafscale_s3_error_rate 0.000000', 'kafscale_s3_error_rate 0.200000')
    .replace('kafscale_produce_rps 1520.500000', 'kafscale_produce_rps 100.000000')
    .replace('kafscale_fetch_rps 980.250000', 'kafscale_fetch_rps 50.000000')
    .replace(/kafscale_admin_(requests_total|request_errors_total|request_latency_ms_avg)\{api="[^"]+"\} [\d.]+\n/g, '')
    .replace('# TYPE kafscale_admin_request_latency_ms_avg gauge\n', '# TYPE kafscale_admin_request_latency_ms_avg gauge\nkafscale_admin_requests_total{api="ListGroups"} 4\nkafscale_admin_request_errors_total{api="ListGroups"} 2\nkafscale_admin_request_latency_ms_avg{api="ListGroups"} 2.000\n')
  const hits = new Map<string, number>()
  const count = (name: string): void => { hits.set(name, (hits.get(name) ?? 0) + 1) }
  const endpoints = await Promise.all([
    endpoint((res) => { count('healthy'); res.end(FIXTURE) }),
    endpoint((res) => { count('degraded'); res.end(degraded) }),
    endpoint((res) => { count('500'); res.writeHead(500).end('boom') }),
    endpoint(() => { count('hung') }),
    endpoint((res) => { count('garbage'); res.end('<html><body>not metrics</body></html>') })
  ])
  t.teardown(() => { for (const e of endpoints) { e.server.closeAllConnections(); e.server.close() } })
  const TIMEOUT = 1000
  const WINDOW = 1500
  const server = await startServer(['--broker-metrics-urls', endpoints.map((e, i) => `${i}=${e.url}`).join(','), '--metrics-timeout', `${TIMEOUT}ms`,
    '--metrics-cache-ttl', `${WINDOW}ms`, '--max-concurrent', '100'], { backend: backendWith([], 5) })
  t.teardown(server.close)

  // The hung broker never answers, so a call that waited for it would never return. The bound
  // only tells such a hang from a slow machine; it measures nothing (timing belongs in bench/).
  const res = await fetch(`${server.base}/api/v1/tools/cluster_metrics`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(TIMEOUT * 20)
  })
  t.equal(res.status, 200, 'answers although one broker never does')
  const body = await res.json() as Record<string, any>
  t.same([...hits.entries()].sort(), [['500', 1], ['degraded', 1], ['garbage', 1], ['healthy', 1], ['hung', 1]])

  await new Promise((resolve) => setTimeout(resolve, WINDOW + 100)) // a new cache window
  const answers = await Promise.all(Array.from({ length: 50 }, async () => await callRest(server.base, 'cluster_metrics', {})))
  t.ok(answers.every((a) => a.status === 200))
  t.same([...hits.entries()].sort(), [['500', 2], ['degraded', 2], ['garbage', 2], ['healthy', 2], ['hung', 2]], '50 concurrent calls: one scrape per broker in the window')
  const latencyMean = ((1.25 + 0.667 + 4) / 3 + 2) / 2
  t.match(body, {
    source: 'per-broker',
    s3_state: 'degraded', // the worst state seen
    s3_latency_ms: 37, // brokers reporting 0 are left out
    s3_error_rate: 0.2, // mean of the rates above 0
    produce_rps: 1620.5,
    fetch_rps: 1030.25,
    admin_requests_total: 20,
    admin_request_errors_total: 3,
    admin_request_latency_ms: latencyMean
  })
  t.match(body.brokers, [
    { node_id: 0, ok: true, s3_state: 'healthy' },
    { node_id: 1, ok: true, s3_state: 'degraded', s3_latency_ms: 0 },
    { node_id: 2, ok: false, error: `metrics request failed: GET ${endpoints[2]!.url}: 500 Internal Server Error` },
    { node_id: 3, ok: false, error: `metrics request to ${endpoints[3]!.url} did not answer within ${TIMEOUT} ms` },
    { node_id: 4, ok: false, error: /^metrics request failed: GET .*: not a Prometheus exposition: line 1: expected a metric name/ }
  ])
  const counts = server.app.brokerMetrics!.scrapeCounts()
  t.ok([...counts.values()].every((n) => n === 2), 'the collector counted the same')
})

interface PagedWalk {
  /** How many times each name came back over all pages. */
  seen: Map<string, number>
  pages: number
  /** Characters of the longest answer. */
  largest: number
}

/** Calls a paged REST tool from the first page to the last, following next_cursor. */
async function walkPages (t: Test, base: string, tool: string, list: string): Promise<PagedWalk> {
  const walk: PagedWalk = { seen: new Map(), pages: 0, largest: 0 }
  let cursor: string | undefined
  for (;;) {
    const res = await fetch(`${base}/api/v1/tools/${tool}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(cursor === undefined ? {} : { cursor }) })
    const text = await res.text()
    walk.largest = Math.max(walk.largest, text.length)
    const body = JSON.parse(text) as Record<string, unknown> & { truncated?: boolean, next_cursor?: string }
    walk.pages++
    for (const item of body[list] as Array<{ name: string }>) walk.seen.set(item.name, (walk.seen.get(item.name) ?? 0) + 1)
    if (body.truncated !== true) return walk
    t.type(body.next_cursor, 'string', `${tool} page ${walk.pages}: a truncated answer says where to go on`)
    cursor = body.next_cursor
  }
}

t.test('paging: describe_topics and list_topics over 3,000 topics return each once, no answer over the cap', async (t) => {
  const topics: Array<[string, number]> = Array.from({ length: 3000 }, (_, i) => [`topic-${String(i).padStart(4, '0')}`, 3])
  const server = await startServer([], { backend: backendWith(topics) })
  t.teardown(server.close)
  // Both lists are far longer than the default 50,000-character cap (list_topics ~150,000).
  for (const [tool, list] of [['describe_topics', 'topics'], ['list_topics', 'topics']] as const) {
    const { seen, pages, largest } = await walkPages(t, server.base, tool, list)
    t.equal(seen.size, 3002, `${tool}: every topic (the fixture's two and 3,000 more)`)
    t.same([...seen.values()].filter((n) => n !== 1), [], `${tool}: each exactly once`)
    t.ok(largest <= 50_000, `${tool}: largest answer ${largest} characters in ${pages} pages`)
    t.ok(pages > 1, `${tool}: more than one page`)
  }

  const limited = await callRest(server.base, 'list_topics', { limit: 100, prefix: 'topic-2' })
  t.equal(limited.body.topics.length, 100)
  t.equal(limited.body.topics[0].name, 'topic-2000')
  t.equal(limited.body.truncated, true)
  const next = await callRest(server.base, 'list_topics', { limit: 100, prefix: 'topic-2', cursor: limited.body.next_cursor })
  t.equal(next.body.topics[0].name, 'topic-2100')
  const bad = await callRest(server.base, 'list_topics', { cursor: 'bm9wZQ' })
  t.same(bad.body, { statusCode: 400, code: 'KSMCP_ERR_INVALID_INPUT', error: 'Bad Request', message: 'invalid arguments: cursor: not a cursor of this server; pass the next_cursor of the previous answer unchanged' })
})

t.test('resources and prompts through a real client', async (t) => {
  const server = await startServer([], { backend: demoBackend() })
  t.teardown(server.close)
  for (const era of ERAS) {
    const client = await connectClient(server.base, era)
    const { resources } = await client.listResources()
    const uris = resources.map((r) => r.uri)
    t.ok(uris.includes('kafscale://cluster'), `${era}: the cluster resource`)
    t.ok(uris.includes('kafscale://topics/orders') && uris.includes('kafscale://groups/billing'), `${era}: topic and group resources are listed`)
    const { resourceTemplates } = await client.listResourceTemplates()
    t.same(resourceTemplates.map((r) => r.uriTemplate).sort(), ['kafscale://groups/{group_id}', 'kafscale://topics/{name}', 'kafscale://topics/{name}/config'])
    const topic = await client.readResource({ uri: 'kafscale://topics/orders' })
    const described = JSON.parse((topic.contents[0] as { text: string }).text)
    t.equal(described.topics[0].name, 'orders')
    t.equal(described.topics[0].partitions.length, 3)
    const group = JSON.parse(((await client.readResource({ uri: 'kafscale://groups/billing' })).contents[0] as { text: string }).text)
    t.equal(group.group.state, 'stable')
    t.equal(group.lag.partitions.length, 3)
    const cluster = JSON.parse(((await client.readResource({ uri: 'kafscale://cluster' })).contents[0] as { text: string }).text)
    t.equal(cluster.cluster_name, 'kafscale-demo')

    const { prompts } = await client.listPrompts()
    t.same(prompts.map((p) => p.name).sort(), ['cluster-health-report', 'diagnose-consumer-lag'])
    const lag = await client.getPrompt({ name: 'diagnose-consumer-lag', arguments: { group: 'billing' } })
    t.match((lag.messages[0]!.content as { text: string }).text, /consumer_lag with group_id "billing"/)
    const report = await client.getPrompt({ name: 'cluster-health-report', arguments: {} })
    t.match((report.messages[0]!.content as { text: string }).text, /Call cluster_health/)
    await client.close()
  }
})

t.test('stdio: a client that spawns the process lists and calls tools', async (t) => {
  const client = new Client({ name: 'stdio-test', version: '1.0.0' })
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [BIN, '--stdio', '--demo', '--log-level', 'warn'], stderr: 'pipe' }))
  t.teardown(async () => { await client.close() })
  const { tools } = await client.listTools()
  t.equal(tools.length, 11)
  const lag = await client.callTool({ name: 'consumer_lag', arguments: { group_id: 'billing' } })
  t.match(lag.structuredContent, { total_lag: Number, partition_count: 3 })
  const status = await client.callTool({ name: 'cluster_status', arguments: {} })
  t.equal((status.structuredContent as { cluster_name: string }).cluster_name, 'kafscale-demo')
})
