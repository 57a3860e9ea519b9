import { createServer, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import { loadConfig as loadServiceConfig, type Config } from '../lib/config.ts'
import { BrokerControlClient, BrokerControlPool, partitionLeaders } from '../lib/kafscale/control.ts'
import { SNAPSHOT_KEY } from '../lib/kafscale/keys.ts'
import brokerControlPlugin from '../plugins/broker-control.ts'
import { encoded, snapshotWith } from './helpers/cluster-builder.ts'
import { startControlServer, type ControlServer, type WirePartition } from './helpers/control-server.ts'
import { freePort, startEtcd } from './helpers/etcd.ts'
import { callRest, connectClient, ERAS, startServer } from './helpers/server.ts'

const TIMEOUT_MS = 3000

const ORDERS: WirePartition[] = [
  { topic: 'orders', partition: 0, leader: true, state: 'online', log_start_offset: 0, log_end_offset: 120, high_watermark: 118 },
  { topic: 'orders', partition: 1, leader: false, state: 'online', log_start_offset: 5, log_end_offset: 90, high_watermark: 90 }
]

async function started (t: Test, ...args: Parameters<typeof startControlServer>): Promise<ControlServer> {
  const server = await startControlServer(...args)
  t.teardown(server.close)
  return server
}

function clientOf (t: Test, nodeId: number, address: string, timeoutMs = TIMEOUT_MS): BrokerControlClient {
  const client = new BrokerControlClient({ nodeId, host: '127.0.0.1', address }, { timeoutMs })
  t.teardown(() => { client.close() })
  return client
}

t.test('today\'s broker: status decoded, S3 health split out of the partitions', async (t) => {
  const server = await started(t, { behaviour: 'today', nodeId: 2, version: '1.5.3', s3: { state: 'degraded', latencyMs: 120, errorRate: 0.25 } })
  const status = await clientOf(t, 2, server.address).getStatus()
  t.same(status, { brokerId: '2', version: '1.5.3', ready: false, s3: { state: 'degraded', avgLatencyMs: 120, errorRate: 0.25 }, partitions: [] })
})

t.test('a broker reporting partitions: offsets as numbers, leadership per broker', async (t) => {
  const server = await started(t, { behaviour: 'full', nodeId: 1, partitions: ORDERS })
  const status = await clientOf(t, 1, server.address).getStatus()
  t.same(status.s3, { state: 'healthy', avgLatencyMs: 37, errorRate: 0 })
  t.same(status.partitions, [
    { topic: 'orders', partition: 0, leader: true, state: 'online', logStartOffset: 0, logEndOffset: 120, highWatermark: 118 },
    { topic: 'orders', partition: 1, leader: false, state: 'online', logStartOffset: 5, logEndOffset: 90, highWatermark: 90 }
  ])
  t.same(partitionLeaders([{ target: { nodeId: 1, host: '127.0.0.1' }, status }, { target: { nodeId: 2, host: '' }, error: { code: 'X', message: 'down' } }]),
    [{ topic: 'orders', partition: 0, nodeId: 1 }])
})

t.test('an int64 beyond 2^53 is refused, not rounded', async (t) => {
  const server = await started(t, { behaviour: 'full', nodeId: 1, partitions: [{ ...ORDERS[0]!, log_end_offset: '9007199254740993' }] })
  await t.rejects(clientOf(t, 1, server.address).getStatus(), {
    code: 'KSMCP_ERR_CONTROL_FAILED',
    statusCode: 502,
    message: `broker 1 (${server.address}) GetStatus failed: orders/0 log_end_offset 9007199254740993 is beyond what a JSON number holds exactly`
  })
})

t.test('today\'s broker does not drain or flush: said plainly, with the broker and its address', async (t) => {
  const server = await started(t, { behaviour: 'today', nodeId: 2 })
  const client = clientOf(t, 2, server.address)
  await t.rejects(client.drainPartitions([{ topic: 'orders', partition: 0 }], 'rollout', 30), {
    code: 'KSMCP_ERR_CONTROL_NOT_IMPLEMENTED',
    statusCode: 501,
    message: `broker 2 (${server.address}) does not implement DrainPartitions yet`
  })
  await t.rejects(client.triggerFlush('all'), { code: 'KSMCP_ERR_CONTROL_NOT_IMPLEMENTED', message: `broker 2 (${server.address}) does not implement TriggerFlush yet` })
})

t.test('a broker that drains and flushes gets exactly what was asked', async (t) => {
  const server = await started(t, { behaviour: 'full', nodeId: 1, partitions: ORDERS, pending: [{ topic: 'orders', partition: 1 }] })
  const client = clientOf(t, 1, server.address)
  const refs = [{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 1 }]
  t.same(await client.drainPartitions(refs, 'rollout of 1.6', 30), { drained: [refs[0]], pending: [refs[1]] })
  t.same(server.drains, [{ partitions: refs, reason: 'rollout of 1.6', deadline_seconds: 30 }])
  t.same(await client.triggerFlush([refs[1]!]), { flushed: [refs[1]] })
  t.same(await client.triggerFlush('all'), { flushed: [refs[0]] }, 'the broker flushes what it leads')
  t.same(server.flushes, [{ partitions: [refs[1]], all_assigned: false }, { partitions: [], all_assigned: true }])
  await t.rejects(client.drainPartitions([], 'nothing', 30), { code: 'KSMCP_ERR_INVALID_INPUT' })
  await t.rejects(client.triggerFlush([]), { code: 'KSMCP_ERR_INVALID_INPUT' })
  await t.rejects(client.drainPartitions(refs, 'r', -1), { code: 'KSMCP_ERR_INVALID_INPUT' })
  t.equal(server.drains.length, 1, 'a refused call reaches no broker')
})

t.test('a dead address: a clear error naming the broker and address', async (t) => {
  const address = `127.0.0.1:${await freePort()}`
  const err = await clientOf(t, 1, address).getStatus().catch((e: unknown) => e)
  t.match(err, { code: 'KSMCP_ERR_CONTROL_UNAVAILABLE', statusCode: 503 })
  t.equal((err as Error).message, `broker 1 (${address}) control plane unavailable: connect ECONNREFUSED ${address}`)
})

t.test('a broker that accepts the connection and never answers: the deadline says so', async (t) => {
  const hung = await started(t, { behaviour: 'today', nodeId: 3, hang: true })
  await t.rejects(clientOf(t, 3, hung.address, 300).getStatus(), {
    code: 'KSMCP_ERR_CONTROL_UNAVAILABLE',
    message: `broker 3 (${hung.address}) control plane unavailable: GetStatus got no answer within 300 ms`
  })
  // Not even gRPC's handshake: a TCP listener that reads nothing. grpc-js leaves its half-made
  // connection open (unreferenced) after close(), so the test ends the server's side itself.
  const accepted = new Set<Socket>()
  const silent = createServer((socket) => { accepted.add(socket) })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of accepted) socket.destroy()
    silent.close()
  })
  const address = `127.0.0.1:${(silent.address() as { port: number }).port}`
  await t.rejects(clientOf(t, 4, address, 300).getStatus(), { code: 'KSMCP_ERR_CONTROL_UNAVAILABLE', message: `broker 4 (${address}) control plane unavailable: GetStatus got no answer within 300 ms` })
})

t.test('pool: addresses derived as metrics URLs are, explicit ones win', async (t) => {
  const pool = new BrokerControlPool({ port: 19094, addresses: new Map([[2, 'broker-two.example:7000']]), timeoutMs: TIMEOUT_MS })
  t.teardown(() => { pool.close() })
  t.same(pool.target({ nodeId: 0, host: 'kafscale-broker-0.kafscale-broker-headless.kafscale.svc.cluster.local' }),
    { nodeId: 0, host: 'kafscale-broker-0.kafscale-broker-headless.kafscale.svc.cluster.local', address: 'kafscale-broker-0.kafscale-broker-headless.kafscale.svc.cluster.local:19094' })
  t.equal(pool.target({ nodeId: 1, host: 'b1:9092' }).address, 'b1:19094', 'the snapshot host\'s own port is dropped')
  t.equal(pool.target({ nodeId: 3, host: '[fd00::3]:9092' }).address, '[fd00::3]:19094')
  t.equal(pool.target({ nodeId: 2, host: 'b2' }).address, 'broker-two.example:7000')
  t.same(pool.target({ nodeId: 4, host: '' }), { nodeId: 4, host: '' })
  t.throws(() => pool.client({ nodeId: 4, host: '' }), { code: 'KSMCP_ERR_CONTROL_NO_ADDRESS', message: /^broker 4 has no control-plane address \(its snapshot host is empty\)/ })
  t.equal(pool.client({ nodeId: 1, host: 'b1' }), pool.client({ nodeId: 1, host: 'b1:9092' }), 'one client per broker and address, reused')

  const explicitOnly = new BrokerControlPool({ port: 0, addresses: new Map([[2, 'b2:7000']]), timeoutMs: TIMEOUT_MS })
  t.ok(explicitOnly.configured)
  t.throws(() => explicitOnly.client({ nodeId: 1, host: 'b1' }), { message: /^broker 1 has no control-plane address \(the control port is 0\)/ })
  t.notOk(new BrokerControlPool({ port: 0, addresses: new Map(), timeoutMs: TIMEOUT_MS }).configured)
})

t.test('pool over two brokers, one down: the down one has its error, the other answers', async (t) => {
  const up = await started(t, { behaviour: 'today', nodeId: 0 })
  const downAddress = `127.0.0.1:${await freePort()}`
  const pool = new BrokerControlPool({ port: up.port, addresses: new Map([[1, downAddress]]), timeoutMs: TIMEOUT_MS })
  const brokers = [{ nodeId: 0, host: '127.0.0.1', port: 9092, rack: null }, { nodeId: 1, host: '127.0.0.1', port: 9092, rack: null }]
  const [zero, one] = await pool.statuses(brokers)
  t.same(zero, { target: { nodeId: 0, host: '127.0.0.1', address: up.address }, status: { brokerId: '0', version: '1.5.0', ready: true, s3: { state: 'healthy', avgLatencyMs: 37, errorRate: 0 }, partitions: [] } })
  t.match(one, { target: { nodeId: 1, address: downAddress }, error: { code: 'KSMCP_ERR_CONTROL_UNAVAILABLE', message: `broker 1 (${downAddress}) control plane unavailable: connect ECONNREFUSED ${downAddress}` } })
  t.notOk('status' in one!)

  const kept = pool.client(brokers[0]!)
  pool.close()
  await t.rejects(kept.getStatus(), 'close() shut the channels it held')
  t.ok((await pool.statuses(brokers.slice(0, 1)))[0]!.status, 'a closed pool opens new channels when asked again')
  pool.close()
})

t.test('settings: port, addresses and timeout, read and checked', async (t) => {
  const loadConfig = (argv: string[], env: NodeJS.ProcessEnv): Config => loadServiceConfig(['--http-addr', '127.0.0.1:0', ...argv], env)
  const defaults = loadConfig([], {})
  t.same([defaults.brokerControlPort, defaults.brokerControlAddrs, defaults.brokerControlTimeoutMs], [19094, {}, 3000])
  const set = loadConfig(['--broker-control-port', '0', '--broker-control-timeout', '1.5s'], { KAFSCALE_MCP_BROKER_CONTROL_ADDRS: '1=b1:19094, 2=[fd00::2]:7000' })
  t.same([set.brokerControlPort, set.brokerControlAddrs, set.brokerControlTimeoutMs], [0, { 1: 'b1:19094', 2: '[fd00::2]:7000' }, 1500])
  t.throws(() => loadConfig(['--broker-control-port', '70000', '--broker-control-addrs', '1=b1,x=b2:1,3=b3:99999', '--broker-control-timeout', '0'], {}), {
    code: 'KSMCP_ERR_CONFIG',
    message: 'invalid configuration: KAFSCALE_MCP_BROKER_CONTROL_PORT (--broker-control-port): "70000" is not a port from 0 to 65535; ' +
      'KAFSCALE_MCP_BROKER_CONTROL_ADDRS (--broker-control-addrs): "1=b1" is not NODEID=host:port with a port from 1 to 65535; ' +
      'KAFSCALE_MCP_BROKER_CONTROL_ADDRS (--broker-control-addrs): "x=b2:1" is not NODEID=host:port with a port from 1 to 65535; ' +
      'KAFSCALE_MCP_BROKER_CONTROL_ADDRS (--broker-control-addrs): "3=b3:99999" is not NODEID=host:port with a port from 1 to 65535; ' +
      'KAFSCALE_MCP_BROKER_CONTROL_TIMEOUT (--broker-control-timeout): must be more than 0'
  })
})

t.test('plugin: options checked at registration, channels closed with the app', async (t) => {
  const bad = Fastify({ logger: false })
  t.teardown(async () => { await bad.close() })
  await t.rejects(async () => { await bad.register(brokerControlPlugin, { brokerControlPort: -1, brokerControlAddrs: { 1: 'b1' }, brokerControlTimeoutMs: 0 }) }, {
    code: 'KSMCP_ERR_PLUGIN_OPTIONS',
    message: 'invalid options for kafscale-broker-control: brokerControlPort: -1 is not a port from 0 to 65535; brokerControlAddrs[1]: "b1" is not host:port with a port from 1 to 65535; brokerControlTimeoutMs: must be more than 0'
  })

  const off = Fastify({ logger: false })
  await off.register(brokerControlPlugin, { brokerControlPort: 0, brokerControlAddrs: {}, brokerControlTimeoutMs: 1000 })
  t.equal(off.brokerControl, undefined, 'no port and no addresses: not configured')
  await off.close()

  const server = await started(t, { behaviour: 'today', nodeId: 0 })
  const app = Fastify({ logger: false })
  await app.register(brokerControlPlugin, { brokerControlPort: server.port, brokerControlAddrs: {}, brokerControlTimeoutMs: TIMEOUT_MS })
  const kept = app.brokerControl!.client({ nodeId: 0, host: '127.0.0.1' })
  t.ok(await kept.getStatus())
  await app.close()
  await t.rejects(kept.getStatus(), 'the app\'s close shut the pool\'s channels')
})

t.test('broker_status through the service, brokers from etcd', async (t) => {
  const etcd = await startEtcd()
  t.teardown(async () => { await etcd.destroy() })
  const snapshot = snapshotWith([], 3)
  await etcd.client.put(SNAPSHOT_KEY).value(encoded({ ...snapshot, brokers: snapshot.brokers.map((b) => ({ ...b, host: '127.0.0.1' })) }))

  // Broker 0 is dialled at its snapshot host and the control port; 1 and 2 by explicit address.
  const zero = await started(t, { behaviour: 'today', nodeId: 0, s3: { state: 'degraded', latencyMs: 250, errorRate: 0.125 } })
  const one = await started(t, { behaviour: 'full', nodeId: 1, version: '1.6.0', partitions: ORDERS })
  const deadAddress = `127.0.0.1:${await freePort()}`
  const server = await startServer(['--etcd-endpoints', etcd.endpoint, '--broker-control-port', String(zero.port), '--broker-control-addrs', `1=${one.address},2=${deadAddress}`])
  t.teardown(server.close)
  await server.app.kafscaleStore!.checkReady()

  const expected = [
    { node_id: 0, host: '127.0.0.1', address: zero.address, ok: true, broker_id: '0', version: '1.5.0', ready: false, s3: { state: 'degraded', avg_latency_ms: 250, error_rate: 0.125 }, partitions: [] },
    {
      node_id: 1,
      host: '127.0.0.1',
      address: one.address,
      ok: true,
      broker_id: '1',
      version: '1.6.0',
      ready: true,
      s3: { state: 'healthy', avg_latency_ms: 37, error_rate: 0 },
      partitions: [
        { topic: 'orders', partition: 0, leader: true, state: 'online', log_start_offset: 0, log_end_offset: 120, high_watermark: 118 },
        { topic: 'orders', partition: 1, leader: false, state: 'online', log_start_offset: 5, log_end_offset: 90, high_watermark: 90 }
      ]
    }
  ]
  const checkAnswer = (t: Test, answer: any): void => {
    t.match(answer.observed_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    t.same(answer.brokers.slice(0, 2), expected)
    t.same(answer.brokers[2], { node_id: 2, host: '127.0.0.1', address: deadAddress, ok: false, error: `broker 2 (${deadAddress}) control plane unavailable: connect ECONNREFUSED ${deadAddress}` })
  }

  t.test('REST', async (t) => {
    const res = await callRest(server.base, 'broker_status', {})
    t.equal(res.status, 200)
    checkAnswer(t, res.body)
    const some = await callRest(server.base, 'broker_status', { node_ids: [1] })
    t.same(some.body.brokers, [expected[1]])
    const unknown = await callRest(server.base, 'broker_status', { node_ids: [1, 7, 9] })
    t.same([unknown.status, unknown.body.code, unknown.body.message], [404, 'KSMCP_ERR_UNKNOWN_BROKER', 'node_ids: 7, 9 are not brokers of the cluster (brokers: 0, 1, 2)'])
  })

  for (const era of ERAS) {
    t.test(`MCP, ${era} era`, async (t) => {
      const client = await connectClient(server.base, era)
      t.teardown(async () => { await client.close() })
      const tool = (await client.listTools()).tools.find((tool) => tool.name === 'broker_status')
      t.match(tool?.annotations, { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true })
      const result = await client.callTool({ name: 'broker_status', arguments: {} })
      t.notOk(result.isError)
      checkAnswer(t, result.structuredContent)
    })
  }

  t.test('not configured: a declared error naming the settings', async (t) => {
    const off = await startServer(['--etcd-endpoints', etcd.endpoint, '--broker-control-port', '0'])
    t.teardown(off.close)
    const res = await callRest(off.base, 'broker_status', {})
    t.same([res.status, res.body.code], [503, 'KSMCP_ERR_CONTROL_NOT_CONFIGURED'])
    t.match(res.body.message, /KAFSCALE_MCP_BROKER_CONTROL_PORT .*KAFSCALE_MCP_BROKER_CONTROL_ADDRS/)
  })
})
