import t from 'tap'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { seedCluster } from './helpers/kafscale-data.ts'
import { callRest, connectClient, startServer, type RunningServer } from './helpers/server.ts'
import { encodeSnapshot, decodeSnapshot } from '../lib/kafscale/snapshot.ts'
import { SNAPSHOT_BYTES } from './helpers/kafscale-data.ts'

let etcd: EtcdProcess
let server: RunningServer

t.before(async () => {
  etcd = await startEtcd()
  await seedCluster(etcd.client)
  server = await startServer(['--etcd-endpoints', etcd.endpoint, '--etcd-timeout', '1s'])
  await server.app.kafscaleStore!.checkReady()
})
t.teardown(async () => {
  await server.close()
  await etcd.destroy()
})

async function topicNames (): Promise<string[]> {
  const { body } = await callRest(server.base, 'list_topics', {})
  return (body.topics as Array<{ name: string }>).map((x) => x.name)
}

async function waitFor (predicate: () => Promise<boolean>, ms: number): Promise<number> {
  const start = Date.now()
  while (Date.now() - start < ms) {
    if (await predicate()) return Date.now() - start
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`condition not met within ${ms} ms`)
}

t.test('a snapshot written to etcd shows in list_topics within 1 s, without a restart', async (t) => {
  t.same(await topicNames(), ['orders', 'payments'])
  const snapshot = decodeSnapshot(SNAPSHOT_BYTES.toString())
  snapshot.topics.push({ ...snapshot.topics[1]!, name: 'refunds' })
  await etcd.client.put('/kafscale/metadata/snapshot').value(encodeSnapshot(snapshot))
  const elapsed = await waitFor(async () => (await topicNames()).includes('refunds'), 1000)
  t.ok(elapsed < 1000, `seen after ${elapsed} ms`)
  await etcd.client.put('/kafscale/metadata/snapshot').value(SNAPSHOT_BYTES)
  await waitFor(async () => !(await topicNames()).includes('refunds'), 1000)
})

t.test('an undecodable snapshot is ignored, reported, and the last good one served', async (t) => {
  await etcd.client.put('/kafscale/metadata/snapshot').value('{"Topics":[{"Topic":null}]}')
  await waitFor(async () => {
    const { body } = await callRest(server.base, 'cluster_status', {})
    return typeof body.etcd.error === 'string'
  }, 1000)
  const { body } = await callRest(server.base, 'cluster_status', {})
  t.match(body.etcd.error, 'corrupt value at etcd key /kafscale/metadata/snapshot: Topics[0].Topic: topic name is null')
  t.same(body.topics.map((x: { name: string }) => x.name), ['orders', 'payments'])
  await etcd.client.put('/kafscale/metadata/snapshot').value(SNAPSHOT_BYTES)
  await waitFor(async () => (await callRest(server.base, 'cluster_status', {})).body.etcd.error === undefined, 1000)
})

t.test('bad input: clear isError results over MCP, 400 over REST, nothing read', async (t) => {
  const client = await connectClient(server.base, 'modern')
  t.teardown(async () => { await client.close() })
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['describe_group', { group_id: 'g\uD800' }, /^invalid arguments: group_id "g\\ud800": must be a consumer group id: 1 to 32767 characters of well-formed Unicode$/],
    ['describe_group', { group_id: '' }, /^invalid arguments: group_id "": must be a consumer group id/],
    ['describe_group', {}, /^invalid arguments: arguments: missing required field "group_id"$/],
    ['fetch_offsets', { group_id: 'billing', topics: ['orders', 'x'.repeat(250)] }, /^invalid arguments: topics\.1 "x{60}…": must be a topic name: 1 to 249 characters of well-formed Unicode$/],
    ['describe_topics', { names: [''] }, /^invalid arguments: names\.0 "": must be a topic name/],
    ['describe_configs', { topics: 'orders' }, /^invalid arguments: topics "orders": must be array or null$/],
    ['list_topics', { verbose: true }, /^invalid arguments: arguments: unknown field "verbose"$/],
    ['describe_group', { group_id: 42 }, /^invalid arguments: group_id: must be string$/]
  ]
  const kv = server.app.kafscaleStore!.kv
  for (const [tool, args, message] of cases) {
    const before = kv.requestCount
    const result = await client.callTool({ name: tool, arguments: args })
    t.equal(result.isError, true, `${tool} ${JSON.stringify(args)} is an error`)
    t.match((result.content as Array<{ text: string }>)[0]!.text, message)
    t.same(result._meta?.['io.kafscale/error'], { code: 'KSMCP_ERR_INVALID_INPUT', statusCode: 400 })
    const rest = await callRest(server.base, tool, args)
    t.equal(rest.status, 400)
    t.match(rest.body, { statusCode: 400, code: 'KSMCP_ERR_INVALID_INPUT', error: 'Bad Request', message })
    t.equal(kv.requestCount, before, 'no etcd request was made')
  }
})

t.test('an unknown group is a clear error', async (t) => {
  const rest = await callRest(server.base, 'describe_group', { group_id: 'ghosts' })
  t.same(rest, { status: 404, body: { statusCode: 404, code: 'KSMCP_ERR_GROUP_NOT_FOUND', error: 'Not Found', message: 'consumer group "ghosts" not found' } })
  t.equal((await callRest(server.base, 'fetch_offsets', { group_id: 'ghosts' })).body.message, 'consumer group "ghosts" not found')
})

t.test('a corrupt value names its key; other tools keep working', async (t) => {
  await etcd.client.put('/kafscale/consumers/broken/metadata').value('not a protobuf')
  t.teardown(async () => { await etcd.client.delete().key('/kafscale/consumers/broken/metadata') })
  const described = await callRest(server.base, 'describe_group', { group_id: 'broken' })
  t.equal(described.status, 502)
  t.equal(described.body.code, 'KSMCP_ERR_CORRUPT_VALUE')
  t.match(described.body.message, /^corrupt value at etcd key \/kafscale\/consumers\/broken\/metadata: /)
  const listed = await callRest(server.base, 'list_groups', {})
  t.equal(listed.status, 200, 'the other groups are still listed')
  t.match(listed.body.errors, [{ key: '/kafscale/consumers/broken/metadata', code: 'KSMCP_ERR_CORRUPT_VALUE', reason: /^corrupt value at etcd key \/kafscale\/consumers\/broken\/metadata: / }])
  t.equal((await callRest(server.base, 'describe_group', { group_id: 'billing' })).status, 200)
  t.equal((await callRest(server.base, 'list_topics', {})).status, 200)

  await etcd.client.put('/kafscale/consumers/billing/offsets/orders/1').value('{"offset":"5"}')
  t.teardown(async () => { await etcd.client.delete().key('/kafscale/consumers/billing/offsets/orders/1') })
  const offsets = await callRest(server.base, 'fetch_offsets', { group_id: 'billing' })
  t.equal(offsets.status, 200, 'the readable offsets still come')
  t.same(offsets.body.errors, [{ key: '/kafscale/consumers/billing/offsets/orders/1', code: 'KSMCP_ERR_CORRUPT_VALUE', reason: 'corrupt value at etcd key /kafscale/consumers/billing/offsets/orders/1: offset: expected an int64, got "5"' }])
})

t.test('etcd down: prompt errors and /readyz 503; etcd back: calls succeed without a restart', async (t) => {
  t.equal((await fetch(`${server.base}/readyz`)).status, 200)
  await etcd.stop()
  const start = Date.now()
  const down = await callRest(server.base, 'describe_group', { group_id: 'billing' })
  const elapsed = Date.now() - start
  t.ok(elapsed < 3000, `answered in ${elapsed} ms`)
  t.equal(down.status >= 500, true)
  t.match(down.body.code, /^KSMCP_ERR_ETCD_(UNAVAILABLE|TIMEOUT)$/)
  t.match(down.body.message, /^etcd (unavailable: |did not answer within 1000 ms)/)
  const readyStart = Date.now()
  const ready = await fetch(`${server.base}/readyz`)
  t.equal(ready.status, 503)
  t.ok(Date.now() - readyStart < 3000, '/readyz answers promptly')
  t.equal((await fetch(`${server.base}/healthz`)).status, 200, 'liveness does not depend on etcd')
  const cached = await callRest(server.base, 'list_topics', {})
  t.equal(cached.status, 200, 'the cached snapshot still answers')

  await etcd.start()
  await waitFor(async () => (await callRest(server.base, 'describe_group', { group_id: 'billing' })).status === 200, 10_000)
  await waitFor(async () => (await fetch(`${server.base}/readyz`)).status === 200, 5000)
  const status = await callRest(server.base, 'cluster_status', {})
  t.equal(status.body.etcd.state, 'connected')

  const snapshot = decodeSnapshot(SNAPSHOT_BYTES.toString())
  snapshot.topics.push({ ...snapshot.topics[0]!, name: 'after-restart' })
  await etcd.client.put('/kafscale/metadata/snapshot').value(encodeSnapshot(snapshot))
  await waitFor(async () => (await topicNames()).includes('after-restart'), 3000)
  t.pass('the snapshot watch resumed after the restart')
})
