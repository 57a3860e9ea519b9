import t from 'tap'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { seedCluster } from './helpers/kafscale-data.ts'
import { callRest, connectClient, startServer, type RunningServer } from './helpers/server.ts'
import { encodeSnapshot, decodeSnapshot } from '../lib/kafscale/snapshot.ts'
import { SNAPSHOT_BYTES } from './helpers/kafscale-data.ts'
import { eventually } from './helpers/wait.ts'

let etcd: EtcdProcess
let server: RunningServer

t.before(async () => {
  etcd = await startEtcd()
  await seedCluster(etcd.client)
  // No rate limit: eventually() polls, and its polls are not what this file tests.
  server = await startServer(['--etcd-endpoints', etcd.endpoint, '--etcd-timeout', '1s', '--rate-limit', '0'])
  await server.app.kafscaleStore!.checkReady()
})
t.teardown(async () => {
  await server.close()
  await etcd.destroy()
})

async function topicNames (): Promise<string[]> {
  const { status, body } = await callRest(server.base, 'list_topics', {})
  if (status !== 200) throw new Error(`list_topics answered ${status}: ${JSON.stringify(body)}`)
  return (body.topics as Array<{ name: string }>).map((x) => x.name)
}

/**
 * Whether predicate becomes true before a generous bound. The bound only tells "never" from
 * "slow on a busy machine": callers assert the result, never the time it took.
 */

t.test('a snapshot written to etcd shows in list_topics without a restart', async (t) => {
  t.same(await topicNames(), ['orders', 'payments'])
  const snapshot = decodeSnapshot(SNAPSHOT_BYTES.toString())
  snapshot.topics.push({ ...snapshot.topics[1]!, name: 'refunds' })
  await etcd.client.put('/kafscale/metadata/snapshot').value(encodeSnapshot(snapshot))
  t.ok(await eventually(async () => (await topicNames()).includes('refunds')), 'the new topic is listed')
  t.same(await topicNames(), ['orders', 'payments', 'refunds'])
  await etcd.client.put('/kafscale/metadata/snapshot').value(SNAPSHOT_BYTES)
  t.ok(await eventually(async () => !(await topicNames()).includes('refunds')), 'and gone again once the snapshot drops it')
})

t.test('an undecodable snapshot is ignored, reported, and the last good one served', async (t) => {
  await etcd.client.put('/kafscale/metadata/snapshot').value('{"Topics":[{"Topic":null}]}')
  t.ok(await eventually(async () => {
    const { body } = await callRest(server.base, 'cluster_status', {})
    return typeof body.etcd.error === 'string'
  }), 'cluster_status reports the undecodable snapshot')
  const { body } = await callRest(server.base, 'cluster_status', {})
  t.match(body.etcd.error, 'corrupt value at etcd key /kafscale/metadata/snapshot: Topics[0].Topic: topic name is null')
  t.same(body.topics.map((x: { name: string }) => x.name), ['orders', 'payments'])
  await etcd.client.put('/kafscale/metadata/snapshot').value(SNAPSHOT_BYTES)
  t.ok(await eventually(async () => (await callRest(server.base, 'cluster_status', {})).body.etcd.error === undefined), 'a good snapshot clears the error')
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

// With etcd gone, a call that waited for it would hang until this test's timeout: the timeout
// is the only time bound here (how fast the errors come belongs in bench/).
t.test('etcd down: errors and /readyz 503, no hang; etcd back: calls succeed without a restart', { timeout: 60_000 }, async (t) => {
  t.equal((await fetch(`${server.base}/readyz`)).status, 200)
  await etcd.stop()
  const down = await callRest(server.base, 'describe_group', { group_id: 'billing' })
  t.equal(down.status >= 500, true)
  t.match(down.body.code, /^KSMCP_ERR_ETCD_(UNAVAILABLE|TIMEOUT)$/)
  t.match(down.body.message, /^etcd (unavailable: |did not answer within 1000 ms)/)
  t.equal((await fetch(`${server.base}/readyz`)).status, 503)
  t.equal((await fetch(`${server.base}/healthz`)).status, 200, 'liveness does not depend on etcd')
  const cached = await callRest(server.base, 'list_topics', {})
  t.equal(cached.status, 200, 'the cached snapshot still answers')

  await etcd.start()
  t.ok(await eventually(async () => (await callRest(server.base, 'describe_group', { group_id: 'billing' })).status === 200), 'reads succeed again')
  t.ok(await eventually(async () => (await fetch(`${server.base}/readyz`)).status === 200), '/readyz is 200 again')
  const status = await callRest(server.base, 'cluster_status', {})
  t.equal(status.body.etcd.state, 'connected')

  const snapshot = decodeSnapshot(SNAPSHOT_BYTES.toString())
  snapshot.topics.push({ ...snapshot.topics[0]!, name: 'after-restart' })
  await etcd.client.put('/kafscale/metadata/snapshot').value(encodeSnapshot(snapshot))
  t.ok(await eventually(async () => (await topicNames()).includes('after-restart')), 'the snapshot watch resumed: a change written after the restart is listed')
  t.same(await topicNames(), ['after-restart', 'orders', 'payments'])
})
