import t, { type Test } from 'tap'
import type { Client } from '@modelcontextprotocol/client'
import { startDemoMetricsServer } from '../demo/cluster.ts'
import { freePort, startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { EXPECTED, seedCluster } from './helpers/kafscale-data.ts'
import { callRest, connectClient, ERAS, startServer, type RunningServer } from './helpers/server.ts'

const RFC3339_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/

let etcd: EtcdProcess
let server: RunningServer
let metrics: Awaited<ReturnType<typeof startDemoMetricsServer>>
let deadBroker: string

t.before(async () => {
  etcd = await startEtcd()
  await seedCluster(etcd.client)
  metrics = await startDemoMetricsServer()
  deadBroker = `http://127.0.0.1:${await freePort()}/metrics`
  // Brokers 0 and 1 serve the fixture; broker 2 refuses connections.
  server = await startServer(['--etcd-endpoints', etcd.endpoint, '--broker-metrics-url', metrics.url,
    '--broker-metrics-urls', `0=${metrics.url},1=${metrics.url},2=${deadBroker}`])
  await server.app.kafscaleStore!.checkReady()
})
t.teardown(async () => {
  await server.close()
  metrics.server.close()
  await etcd.destroy()
})

type Caller = (tool: string, args: Record<string, unknown>) => Promise<any>

function checkTools (t: Test, call: Caller): void {
  t.test('cluster_status', async (t) => {
    const out = await call('cluster_status', {})
    t.match(out.observed_at, RFC3339_SECONDS)
    t.equal(out.etcd.state, 'connected')
    t.type(out.etcd.snapshot_loaded_at, 'string')
    const { observed_at: _o, etcd: _e, ...rest } = out
    t.same(rest, EXPECTED.cluster_status)
  })
  t.test('cluster_metrics', async (t) => {
    const { observed_at: observed, brokers, ...rest } = await call('cluster_metrics', {})
    t.match(observed, RFC3339_SECONDS)
    t.same(rest, EXPECTED.cluster_metrics)
    t.equal(brokers.length, 3)
    for (const b of brokers.slice(0, 2)) {
      const { scraped_at: scrapedAt, ...figures } = b
      t.match(scrapedAt, /Z$/)
      t.same(figures, { ...EXPECTED.cluster_metrics_broker, node_id: b.node_id, host: b.host })
    }
    t.match(brokers[2], { node_id: 2, ok: false, error: `metrics request failed: GET ${deadBroker}: connect ECONNREFUSED ${new URL(deadBroker).host}` })
  })
  t.test('list_topics', async (t) => {
    t.same(await call('list_topics', {}), EXPECTED.list_topics)
  })
  t.test('describe_topics, all and filtered', async (t) => {
    t.same(await call('describe_topics', {}), EXPECTED.describe_topics)
    t.same(await call('describe_topics', { names: null }), EXPECTED.describe_topics)
    t.same(await call('describe_topics', { names: [] }), EXPECTED.describe_topics)
    t.same(await call('describe_topics', { names: ['payments', 'nope', 'payments'] }), EXPECTED.describe_topics_filtered)
  })
  t.test('list_groups', async (t) => {
    t.same(await call('list_groups', {}), EXPECTED.list_groups)
  })
  t.test('describe_group', async (t) => {
    t.same(await call('describe_group', { group_id: 'billing' }), EXPECTED.describe_group)
    // Its members left: KafScale deleted the metadata and kept the offsets. Nothing is made up.
    t.same(await call('describe_group', { group_id: 'archiver' }), {
      group_id: 'archiver',
      state: 'empty',
      metadata: 'missing',
      note: 'The group has no metadata in etcd, only committed offsets: KafScale deletes a group\'s metadata when its last member leaves (or on DeleteGroups) and keeps its offsets. Protocol, leader and generation are unknown; fetch_offsets and consumer_lag show the offsets.',
      committed_partitions: 1,
      members: []
    })
  })
  t.test('fetch_offsets', async (t) => {
    t.same(await call('fetch_offsets', { group_id: 'billing' }), EXPECTED.fetch_offsets)
    t.same(await call('fetch_offsets', { group_id: 'billing', topics: null }), EXPECTED.fetch_offsets)
    t.same(await call('fetch_offsets', { group_id: 'billing', topics: ['payments'] }), {
      group_id: 'billing',
      offsets: [
        { topic: 'payments', partition: 0, offset: 0, metadata: '', committed: false },
        { topic: 'payments', partition: 1, offset: 0, metadata: '', committed: false }
      ]
    })
    t.same(await call('fetch_offsets', { group_id: 'archiver' }), {
      group_id: 'archiver',
      offsets: [
        { topic: 'payments', partition: 0, offset: 0, metadata: '', committed: false },
        { topic: 'payments', partition: 1, offset: 7, metadata: 'm', committed: true, committed_at: '2026-03-01T12:00:00Z' }
      ]
    })
  })
  t.test('describe_configs', async (t) => {
    const all = await call('describe_configs', {})
    t.equal(all.configs.length, 2)
    t.same(all.configs[0], EXPECTED.describe_configs_orders)
    const { created_at: createdAt, ...payments } = all.configs[1]
    t.same(payments, EXPECTED.describe_configs_payments)
    t.match(createdAt, RFC3339_SECONDS, 'defaults carry the time of the call, as KafScale does')
    const some = await call('describe_configs', { topics: ['orders', 'ghost'] })
    t.same(some.configs[0], { name: 'ghost', exists: false, source: 'missing', partitions: 0, replication_factor: 0, retention_ms: 0, retention_bytes: 0, segment_bytes: 0, created_at: '', config: {} })
  })
}

for (const era of ERAS) {
  t.test(`MCP client, ${era} era`, async (t) => {
    const client: Client = await connectClient(server.base, era)
    t.teardown(async () => { await client.close() })
    t.equal(client.getServerVersion()?.name, 'kafscale-mcp')
    const listed = await client.listTools()
    t.same(listed.tools.map((tool) => tool.name).sort(), ['broker_status', 'cluster_health', 'cluster_metrics', 'cluster_status', 'consumer_lag', 'describe_configs', 'describe_group', 'describe_topics', 'fetch_offsets', 'list_groups', 'list_topics'])
    for (const tool of listed.tools) {
      t.same(Object.keys(tool.annotations ?? {}).filter((k) => k.endsWith('Hint')).sort(), ['destructiveHint', 'idempotentHint', 'openWorldHint', 'readOnlyHint'], `${tool.name} states all four hints`)
      t.equal(tool.annotations?.readOnlyHint, true)
      t.ok(tool.outputSchema, `${tool.name} has an output schema`)
    }
    checkTools(t, async (name, args) => {
      const result = await client.callTool({ name, arguments: args })
      if (result.isError === true) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`)
      t.same(JSON.parse((result.content as Array<{ text: string }>)[0]!.text), result.structuredContent, `${name}: text and structured content agree`)
      return result.structuredContent
    })
  })
}

t.test('REST mirror', async (t) => {
  checkTools(t, async (name, args) => {
    const { status, body } = await callRest(server.base, name, args)
    t.equal(status, 200, `${name} answers 200`)
    return body
  })
  t.test('GET /api/v1/tools lists every tool with its schemas', async (t) => {
    const body = await (await fetch(`${server.base}/api/v1/tools`)).json() as { tools: Array<{ name: string, input_schema: { type: string } }> }
    t.equal(body.tools.length, 11)
    t.ok(body.tools.every((tool) => tool.input_schema.type === 'object'))
  })
})

t.test('group reads come from the group mirror: no range read; describe_configs and the log ends are one transaction each', async (t) => {
  const store = server.app.kafscaleStore!
  const kv = store.kv
  const deadline = Date.now() + 10_000
  while (store.health().groupMirror.state !== 'synced' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  for (const [tool, args] of [['fetch_offsets', { group_id: 'billing' }], ['describe_group', { group_id: 'billing' }], ['list_groups', {}]] as const) {
    const before = kv.requestCount
    const answered = store.health().groupMirror.answered
    t.equal((await callRest(server.base, tool, args)).status, 200)
    t.equal(store.health().groupMirror.answered - answered, 1, `${tool}: answered from memory`)
    // A ping when etcd was silent for a second (the mirror's liveness check), never a range.
    t.ok(kv.requestCount - before <= 1, `${tool}: at most a liveness probe`)
  }
  const beforeConfigs = kv.requestCount
  await callRest(server.base, 'describe_configs', {})
  t.equal(kv.requestCount - beforeConfigs, 1, 'describe_configs: one transaction')
  const beforeLogEnds = kv.requestCount
  const { offsets } = await store.nextOffsets(['orders', 'payments', 'orders'])
  t.equal(kv.requestCount - beforeLogEnds, 1, 'the log ends of consumer_lag\'s topics: one transaction of ranges')
  t.same([...offsets].map(([topic, ends]) => [topic, [...ends]]), [['orders', [[0, 100n], [1, 200n], [2, 300n]]], ['payments', [[0, 100n], [1, 200n]]]])
})
