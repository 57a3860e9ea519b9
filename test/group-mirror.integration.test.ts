import t from 'tap'
import type { Etcd3 } from 'etcd3'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { seedCluster } from './helpers/kafscale-data.ts'
import { encoded, putMany, snapshotWith } from './helpers/cluster-builder.ts'
import { callRest, startServer, type RunningServer } from './helpers/server.ts'
import { encodeConsumerGroup, type ConsumerGroup } from '../lib/kafscale/messages.ts'
import { EtcdBackend } from '../lib/store/etcd-backend.ts'
import { KafscaleStore, type MetadataReader } from '../lib/store/kafscale-store.ts'
import type { KvBackend } from '../lib/store/kv.ts'
import { MemoryBackend } from '../lib/store/memory-backend.ts'
import { SNAPSHOT_KEY } from '../lib/kafscale/keys.ts'

// The consumer-group mirror: group reads are answered from memory kept current by a watch on
// /kafscale/consumers/, rebuilt after a compaction or a restart, and never answer from a
// stream that stopped. Every wait below polls for a state with a generous bound; nothing
// asserts how long it took.

const SNAPSHOT = encoded(snapshotWith([['my topic', 2]]))
const commit = (offset: number): string => `{"offset":${offset},"metadata":"","committed_at":"2026-03-01T12:00:00Z"}`
const group = (groupId: string, members: string[], state = 'stable'): Buffer => Buffer.from(encodeConsumerGroup({
  groupId,
  state,
  protocolType: 'consumer',
  protocol: 'range',
  leader: members[0] ?? '',
  generationId: 1,
  rebalanceTimeoutMs: 300000,
  members: Object.fromEntries(members.map((m) => [m, { clientId: m, clientHost: '/10.0.0.1', heartbeatAt: '2026-03-01T12:00:00Z', assignments: [{ topic: 'orders', partitions: [0] }], subscriptions: ['orders'], sessionTimeoutMs: 45000 }]))
} satisfies ConsumerGroup))
const silent = { info () {}, warn () {}, error () {} }

async function eventually (predicate: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (await predicate()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`never happened: ${what}`)
}

let etcd: EtcdProcess
let server: RunningServer
const store = (): KafscaleStore => server.app.kafscaleStore!
const synced = (s: KafscaleStore): boolean => s.health().groupMirror.state === 'synced'

/** A tool's answer, which must have come from the mirror (not from an etcd range). */
async function mirrored (tool: string, args: Record<string, unknown>): Promise<{ status: number, body: any }> {
  const before = store().health().groupMirror.answered
  const answer = await callRest(server.base, tool, args)
  if (store().health().groupMirror.answered === before) throw new Error(`${tool} was not answered from the mirror`)
  return answer
}
const listed = async (): Promise<Array<[string, string, number]>> =>
  (await mirrored('list_groups', {})).body.groups.map((g: any) => [g.group_id, g.state, g.member_count])

t.before(async () => {
  etcd = await startEtcd()
  await seedCluster(etcd.client)
  await etcd.client.put(SNAPSHOT_KEY).value(SNAPSHOT)
  server = await startServer(['--etcd-endpoints', etcd.endpoint, '--etcd-timeout', '1s', '--rate-limit', '0'])
  await store().checkReady()
  t.equal(store().health().groupMirror.state, 'idle', 'no watch before the first group read')
  await callRest(server.base, 'list_groups', {})
  await eventually(() => synced(store()), 'the first group read builds the mirror')
})
t.teardown(async () => {
  await server.close()
  await etcd.destroy()
})

t.test('a group appears, changes and disappears, and the tools follow', async (t) => {
  t.match(store().health().groupMirror, { state: 'synced', revision: /^\d+$/, groups: 3, keys: 5, builds: 1 })
  await putMany(etcd.client, [
    ['/kafscale/consumers/live one/metadata', group('live one', ['m-1'])],
    ['/kafscale/consumers/live one/offsets/orders/0', commit(5)]
  ])
  await eventually(async () => (await listed()).some(([id]) => id === 'live one'), 'the new group is listed')
  t.same((await listed()).find(([id]) => id === 'live one'), ['live one', 'stable', 1])
  t.match((await mirrored('describe_group', { group_id: 'live one' })).body, { metadata: 'stored', leader: 'm-1', members: [{ member_id: 'm-1' }] })

  await putMany(etcd.client, [
    ['/kafscale/consumers/live one/metadata', group('live one', ['m-1', 'm-2'], 'preparing_rebalance')],
    ['/kafscale/consumers/live one/offsets/orders/0', commit(50)]
  ])
  await eventually(async () => (await mirrored('fetch_offsets', { group_id: 'live one' })).body.offsets[0].offset === 50, 'the new commit is fetched')
  t.same((await listed()).find(([id]) => id === 'live one'), ['live one', 'preparing_rebalance', 2])
  const lag = await mirrored('consumer_lag', { group_id: 'live one' })
  t.match(lag.body.partitions.find((p: any) => p.partition === 0), { committed_offset: 50, log_end_offset: 100, lag: 50 }, 'consumer_lag: the commit from memory, the log end from etcd')

  // The last member left: KafScale deletes the metadata and keeps the offsets.
  await etcd.client.delete().key('/kafscale/consumers/live one/metadata')
  await eventually(async () => (await listed()).some(([id, state]) => id === 'live one' && state === 'empty'), 'listed as empty')
  t.match((await mirrored('describe_group', { group_id: 'live one' })).body, { metadata: 'missing', committed_partitions: 1 })

  await etcd.client.delete().key('/kafscale/consumers/live one/offsets/orders/0')
  await eventually(async () => !(await listed()).some(([id]) => id === 'live one'), 'gone from the list')
  t.equal((await mirrored('describe_group', { group_id: 'live one' })).status, 404)
  t.equal((await mirrored('fetch_offsets', { group_id: 'live one' })).body.code, 'KSMCP_ERR_GROUP_NOT_FOUND')
})

t.test('names with "/" and spaces; a whole group prefix deleted at once; ambiguity follows the snapshot', async (t) => {
  const ambiguous = '/kafscale/consumers/q/offsets/r/offsets/orders/0'
  await putMany(etcd.client, [
    ['/kafscale/consumers/crew/a b/metadata', group('crew/a b', ['m-1'])],
    ['/kafscale/consumers/crew/a b/offsets/my topic/1', commit(3)],
    ['/kafscale/consumers/crew/offsets/orders/2', commit(4)],
    // Topic "orders" exists and "r/offsets/orders" does not: group "q/offsets/r".
    [ambiguous, commit(6)]
  ])
  await eventually(async () => (await listed()).some(([id]) => id === 'q/offsets/r'), 'the nested groups are listed')
  t.same((await listed()).filter(([id]) => /^(crew|q)/.test(id)), [['crew', 'empty', 0], ['crew/a b', 'stable', 1], ['q/offsets/r', 'empty', 0]])
  t.same((await mirrored('fetch_offsets', { group_id: 'crew/a b' })).body.offsets.map((o: any) => [o.topic, o.partition, o.committed]), [['my topic', 0, false], ['my topic', 1, true]])
  t.same((await mirrored('fetch_offsets', { group_id: 'crew' })).body.offsets.map((o: any) => [o.topic, o.partition, o.offset]), [['orders', 0, 0], ['orders', 1, 0], ['orders', 2, 4]], 'group "crew" does not take the keys of "crew/a b"')
  t.same((await mirrored('fetch_offsets', { group_id: 'q/offsets/r' })).body.offsets.find((o: any) => o.committed), { topic: 'orders', partition: 0, offset: 6, metadata: '', committed: true, committed_at: '2026-03-01T12:00:00Z' })

  // Once the cluster also has topic "r/offsets/orders", the key reads two ways: reported, not guessed.
  await etcd.client.put(SNAPSHOT_KEY).value(encoded(snapshotWith([['my topic', 2], ['r/offsets/orders', 1]])))
  await eventually(async () => (await mirrored('list_groups', {})).body.errors?.[0]?.key === ambiguous, 'the key is reported as ambiguous')
  t.match((await mirrored('describe_group', { group_id: 'q' })).body, { metadata: 'missing', committed_partitions: 0, errors: [{ key: ambiguous, code: 'KSMCP_ERR_AMBIGUOUS_KEY' }] })
  await etcd.client.put(SNAPSHOT_KEY).value(SNAPSHOT)
  await eventually(async () => (await mirrored('list_groups', {})).body.errors === undefined, 'resolved again with the old snapshot')

  await etcd.client.delete().prefix('/kafscale/consumers/crew/')
  await etcd.client.delete().key(ambiguous)
  await eventually(async () => !(await listed()).some(([id]) => /^(crew|q)/.test(id)), 'every group under the deleted prefix is gone')
  t.equal((await mirrored('fetch_offsets', { group_id: 'crew/a b' })).status, 404)
  t.same(await listed(), [['archiver', 'empty', 0], ['billing', 'stable', 1], ['team/a', 'stable', 1]])
})

t.test('values that do not decode, arriving through the watch, are reported per key', async (t) => {
  await putMany(etcd.client, [
    ['/kafscale/consumers/broken/metadata', Buffer.from([0xff, 0xff, 0xff])],
    ['/kafscale/consumers/billing/offsets/orders/1', 'not json']
  ])
  t.teardown(async () => {
    await etcd.client.delete().key('/kafscale/consumers/broken/metadata')
    await etcd.client.delete().key('/kafscale/consumers/billing/offsets/orders/1')
  })
  await eventually(async () => (await mirrored('list_groups', {})).body.errors !== undefined, 'the corrupt metadata is reported')
  const groups = await mirrored('list_groups', {})
  t.same(groups.body.groups.map((g: any) => g.group_id), ['archiver', 'billing', 'team/a'], 'the group is left out')
  t.match(groups.body.errors, [{ key: '/kafscale/consumers/broken/metadata', code: 'KSMCP_ERR_CORRUPT_VALUE', reason: /^corrupt value at etcd key \/kafscale\/consumers\/broken\/metadata: / }])
  const described = await mirrored('describe_group', { group_id: 'broken' })
  t.equal(described.status, 502)
  t.equal(described.body.code, 'KSMCP_ERR_CORRUPT_VALUE')
  await eventually(async () => (await mirrored('fetch_offsets', { group_id: 'billing' })).body.errors !== undefined, 'the corrupt offset is reported')
  const offsets = await mirrored('fetch_offsets', { group_id: 'billing' })
  t.match(offsets.body.errors, [{ key: '/kafscale/consumers/billing/offsets/orders/1', code: 'KSMCP_ERR_CORRUPT_VALUE' }])
  t.same(offsets.body.offsets.map((o: any) => [o.partition, o.committed]), [[0, true], [1, false], [2, true]])
})

t.test('etcd down: group reads fail promptly and clearly; etcd back: the mirror is rebuilt and follows again', { timeout: 90_000 }, async (t) => {
  const builds = store().health().groupMirror.builds
  await etcd.stop()
  await eventually(() => !synced(store()), 'the mirror sees its watch break')
  for (const [tool, args] of [['list_groups', {}], ['describe_group', { group_id: 'billing' }], ['fetch_offsets', { group_id: 'billing' }]] as const) {
    const down = await callRest(server.base, tool, args)
    t.match(down.body.code, /^KSMCP_ERR_ETCD_(UNAVAILABLE|TIMEOUT)$/, `${tool}: an etcd error`)
    t.match(down.body.message, /^etcd (unavailable: |did not answer within 1000 ms)/)
  }
  t.match(store().health().groupMirror, { state: 'building', error: String })
  t.equal((await fetch(`${server.base}/readyz`)).status, 503)

  await etcd.start()
  await etcd.client.put('/kafscale/consumers/after-restart/offsets/orders/0').value(commit(1))
  await eventually(() => synced(store()), 'the mirror is rebuilt')
  t.ok(store().health().groupMirror.builds > builds, 'by a new scan')
  await eventually(async () => (await listed()).some(([id]) => id === 'after-restart'), 'a change written after the restart is listed')
  await etcd.client.delete().key('/kafscale/consumers/after-restart/offsets/orders/0')
  await eventually(async () => !(await listed()).some(([id]) => id === 'after-restart'), 'and the watch follows it')
})

t.test('a frozen etcd: group reads time out instead of answering from a stream that stopped', { timeout: 90_000 }, async (t) => {
  etcd.pause()
  t.teardown(() => { etcd.resume() })
  await eventually(async () => (await callRest(server.base, 'list_groups', {})).status === 504, 'list_groups times out')
  t.match((await callRest(server.base, 'fetch_offsets', { group_id: 'billing' })).body, { code: 'KSMCP_ERR_ETCD_TIMEOUT', message: `etcd did not answer within 1000 ms at ${etcd.endpoint}` })
  etcd.resume()
  await eventually(async () => {
    try {
      return (await mirrored('list_groups', {})).status === 200
    } catch {
      return false
    }
  }, 'answered from the mirror again once etcd thaws')
})

/** The backend with its first prefix watch held until `release`, so that a compaction can overtake it. */
function holdingFirstWatch (kv: KvBackend): { backend: KvBackend, release: () => void } {
  let release = (): void => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  let first = true
  const backend: KvBackend = Object.create(kv)
  backend.watchPrefix = (prefix, fromRevision, handlers) => {
    if (!first) return kv.watchPrefix(prefix, fromRevision, handlers)
    first = false
    const stop = held.then(() => kv.watchPrefix(prefix, fromRevision, handlers))
    return async () => { await (await stop)() }
  }
  return { backend, release }
}

t.test('a watch whose start revision was compacted away: the mirror is rebuilt from a new scan', async (t) => {
  const { backend, release } = holdingFirstWatch(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 2000 }))
  const own = new KafscaleStore(backend, silent)
  t.teardown(async () => {
    release()
    await own.close()
  })
  own.start()
  const names = async (): Promise<string[]> => (await own.listGroups()).groups.map((g) => g.groupId)
  await names()
  await eventually(() => synced(own), 'the first scan is done')
  await etcd.client.put('/kafscale/consumers/compacted/metadata').value(group('compacted', ['m-1']))
  await etcd.client.delete().key('/kafscale/consumers/archiver/offsets/payments/1')
  const { header } = await etcd.client.kv.range({ key: Buffer.from(SNAPSHOT_KEY) })
  await etcd.client.kv.compact({ revision: header.revision, physical: true })
  t.same(await names(), ['archiver', 'billing', 'team/a'], 'the state of the scan until the watch starts')
  release()
  await eventually(async () => (await names()).includes('compacted'), 'the changes the watch could not replay are read by a new scan')
  t.same(await names(), ['billing', 'compacted', 'team/a'])
  t.match(own.health().groupMirror, { state: 'synced', builds: 2, keys: 5 })
  await etcd.client.delete().key('/kafscale/consumers/compacted/metadata')
  await eventually(async () => !(await names()).includes('compacted'), 'the new watch follows')
  await etcd.client.put('/kafscale/consumers/archiver/offsets/payments/1').value(commit(7))
})

// The same key space read both ways: from the mirror, and by a store whose mirror is off (every
// read goes to etcd, with the round trips it always had).
t.test('without the mirror the same answers come from etcd, in as many round trips as before', async (t) => {
  await putMany(etcd.client, [
    ['/kafscale/consumers/z/offsets/orders/7', commit(1)],
    ['/kafscale/consumers/z/offsets/orders/07', commit(2)],
    ['/kafscale/consumers/x/offsets/y/offsets/z/0', commit(1)],
    ['/kafscale/consumers/k/offsets/j/offsets/orders/1', commit(3)],
    ['/kafscale/consumers/k/offsets/orders/1', 'not json'],
    ['/kafscale/consumers/bad/metadata', Buffer.from([0xff])]
  ])
  const direct = new KafscaleStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 2000 }), silent, { groupMirrorMaxKeys: 0 })
  t.teardown(async () => { await direct.close() })
  await direct.reload()
  await eventually(async () => (await store().listGroups()).groups.some((g) => g.groupId === 'z') && store().health().groupMirror.keys === 11, 'the mirror has the keys')

  const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value, (_k, v) => (v instanceof Map ? [...v].sort() : typeof v === 'bigint' ? String(v) : v)))
  const answers = async (reader: MetadataReader): Promise<unknown> => {
    const outcome = async (read: () => Promise<unknown>): Promise<unknown> => {
      try {
        return plain(await read())
      } catch (err) {
        return { error: (err as Error).message }
      }
    }
    const all = await reader.allGroupOffsets()
    return {
      list: await outcome(async () => await reader.listGroups()),
      all: plain({ groups: [...all.groups].sort((a, b) => (a.groupId < b.groupId ? -1 : 1)), problems: all.problems }),
      ...Object.fromEntries(await Promise.all(['z', 'x', 'x/offsets/y', 'k', 'k/offsets/j', 'bad', 'billing', 'archiver', 'team/a', 'nobody'].map(async (id) =>
        [id, { described: await outcome(async () => await reader.describeGroup(id)), offsets: await outcome(async () => await reader.groupOffsets(id)) }])))
    }
  }
  const fromMirror = await answers(store())
  t.same(await answers(direct), fromMirror)
  t.match(fromMirror, { z: { offsets: { group: { offsets: [['orders/7', { record: { offset: '1' } }]] } } } }, 'of "7" and "07", the key etcd lists last wins')

  const roundTrips = async (read: () => Promise<unknown>): Promise<number> => {
    const before = direct.kv.requestCount
    await read().catch(() => {})
    return direct.kv.requestCount - before
  }
  t.equal(await roundTrips(async () => await direct.listGroups()), 2, 'list_groups: a keys-only range and one transaction, no offset values')
  t.equal(await roundTrips(async () => await direct.groupOffsets('billing')), 1, 'fetch_offsets: one range')
  t.equal(await roundTrips(async () => await direct.allGroupOffsets()), 1, 'all offsets: one range')
  t.equal(await roundTrips(async () => await direct.describeGroup('billing')), 1, 'describe_group: one get')
  t.equal(await roundTrips(async () => await direct.describeGroup('archiver')), 2, 'describe_group without metadata: a get and a keys-only range')
  t.equal(direct.health().groupMirror.answered, 0)
})

t.test('memory is bounded: past its key limit the mirror turns off and etcd answers', async (t) => {
  const keys = store().health().groupMirror.keys
  const messages: string[] = []
  const capped = (max: number): KafscaleStore => {
    const log = { ...silent, info: (obj: object | string, msg?: string) => { messages.push(`${max}: ${msg ?? String(obj)}`) } }
    const own = new KafscaleStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 2000 }), log, { groupMirrorMaxKeys: max })
    t.teardown(async () => { await own.close() })
    own.start()
    return own
  }
  const atLimit = capped(keys)
  const belowLimit = capped(keys - 1)
  await Promise.all([atLimit.listGroups(), belowLimit.listGroups()])
  await eventually(() => synced(atLimit), 'a mirror at its limit is built')
  await eventually(() => belowLimit.health().groupMirror.error !== undefined, 'a mirror over its limit says so')
  t.match(belowLimit.health().groupMirror, { state: 'off', error: `off: /kafscale/consumers/ holds more than ${keys - 1} keys; group reads go to etcd until a restart with a higher KAFSCALE_MCP_GROUP_MIRROR_MAX_KEYS` })
  t.notOk(messages.includes(`${keys - 1}: consumer groups mirrored from etcd`), 'the scan stops at the limit: no state is ever built')

  await etcd.client.put('/kafscale/consumers/one-too-many/offsets/orders/0').value(commit(1))
  t.teardown(async () => { await etcd.client.delete().key('/kafscale/consumers/one-too-many/offsets/orders/0') })
  await eventually(() => !synced(atLimit), 'the key past the limit turns the mirror off')
  t.match(atLimit.health().groupMirror, { state: 'off', keys: 0, error: /^off: / })
  const answered = atLimit.health().groupMirror.answered
  t.ok((await atLimit.listGroups()).groups.some((g) => g.groupId === 'one-too-many'), 'etcd answers instead')
  t.equal(atLimit.health().groupMirror.answered, answered)
})

t.test('--group-mirror-max-keys 0: no mirror, every group read goes to the key space', async (t) => {
  const kv = new MemoryBackend()
  kv.put('/kafscale/consumers/solo/offsets/orders/0', commit(1))
  const off = await startServer(['--group-mirror-max-keys', '0'], { backend: kv })
  t.teardown(off.close)
  t.equal((await callRest(off.base, 'list_groups', {})).body.groups[0].group_id, 'solo')
  t.match(off.app.kafscaleStore!.health().groupMirror, { state: 'off', answered: 0, error: 'off by configuration: group reads go to etcd' })
})

t.test('without group reads the mirror stops, drops its state and watch, and the next read starts it again', async (t) => {
  const own = new KafscaleStore(new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 2000 }), silent, { groupMirrorIdleMs: 300 })
  t.teardown(async () => { await own.close() })
  own.start()
  await own.listGroups()
  await eventually(() => synced(own), 'the first read builds it')
  await eventually(() => own.health().groupMirror.state === 'idle', 'it stops once reads stop')
  t.match(own.health().groupMirror, { state: 'idle', keys: 0, groups: 0, builds: 1 })
  await etcd.client.put('/kafscale/consumers/while-idle/offsets/orders/0').value(commit(1))
  t.teardown(async () => { await etcd.client.delete().key('/kafscale/consumers/while-idle/offsets/orders/0') })
  t.ok((await own.listGroups()).groups.some((g) => g.groupId === 'while-idle'), 'meanwhile reads go to etcd')
  await eventually(() => synced(own), 'the read started it again')
  t.equal(own.health().groupMirror.builds, 2)
  const answered = own.health().groupMirror.answered
  t.ok((await own.listGroups()).groups.some((g) => g.groupId === 'while-idle'))
  t.equal(own.health().groupMirror.answered, answered + 1, 'from the new state')
})

t.test('the demo\'s in-memory key space is mirrored the same way', async (t) => {
  const kv = new MemoryBackend()
  await seedCluster({ put: (key: string) => ({ value: (value: string | Uint8Array) => { kv.put(key, value) } }) } as unknown as Etcd3)
  const demo = await startServer([], { backend: kv })
  t.teardown(demo.close)
  const demoStore = demo.app.kafscaleStore!
  await callRest(demo.base, 'list_groups', {})
  await eventually(() => synced(demoStore), 'the mirror is built')
  kv.put('/kafscale/consumers/newcomer/offsets/orders/0', commit(1))
  const answered = demoStore.health().groupMirror.answered
  const groups = (await callRest(demo.base, 'list_groups', {})).body.groups.map((g: any) => g.group_id)
  t.same(groups, ['archiver', 'billing', 'newcomer', 'team/a'])
  t.equal(demoStore.health().groupMirror.answered, answered + 1)
  kv.delete('/kafscale/consumers/newcomer/offsets/orders/0')
  t.equal((await callRest(demo.base, 'fetch_offsets', { group_id: 'newcomer' })).status, 404)
})
