import t from 'tap'
import { ChangeFeed, type ClusterChange } from '../lib/store/change-feed.ts'
import { KafscaleStore, type KafscaleStoreOptions } from '../lib/store/kafscale-store.ts'
import { computeLag } from '../lib/lag.ts'
import { MemoryBackend } from '../lib/store/memory-backend.ts'
import { SNAPSHOT_KEY, groupMetadataKey, groupOffsetKey, nextOffsetKey, topicConfigKey } from '../lib/kafscale/keys.ts'
import { encodeConsumerGroup } from '../lib/kafscale/messages.ts'
import { encoded, snapshotWith } from './helpers/cluster-builder.ts'
import { eventually } from './helpers/wait.ts'

// The change feed over the store and its in-memory backend: a write reaches the watches in the
// same turn, so a burst written in one turn falls in one window by construction. "Nothing more
// was told" is asserted after a later change has been told: the earlier would have come first.

const silent = { info () {}, warn () {}, error () {} }

async function setup (t: { teardown: (fn: () => Promise<void>) => void }, options: KafscaleStoreOptions = {}): Promise<{ kv: MemoryBackend, store: KafscaleStore, feed: ChangeFeed }> {
  const kv = new MemoryBackend()
  kv.put(SNAPSHOT_KEY, encoded(snapshotWith([])))
  const store = new KafscaleStore(kv, silent, options)
  store.start()
  await store.checkReady()
  const feed = new ChangeFeed(store, { coalesceMs: 20 })
  t.teardown(async () => {
    feed.close()
    await store.close()
  })
  return { kv, store, feed }
}

function collect (): { batches: Array<readonly ClusterChange[]>, deliver: (changes: readonly ClusterChange[]) => void } {
  const batches: Array<readonly ClusterChange[]> = []
  return { batches, deliver: (changes) => { batches.push(changes) } }
}
const arrived = async (batches: unknown[], count: number): Promise<boolean> => await eventually(async () => batches.length >= count, 10_000, 5)

t.test('a burst of snapshot writes is told once; a topic that came and went within it, not at all', async (t) => {
  const { kv, feed } = await setup(t)
  const { batches, deliver } = collect()
  feed.listen(deliver)
  const names = Array.from({ length: 10 }, (_, i) => `t${i}`)
  for (let i = 1; i <= names.length; i++) kv.put(SNAPSHOT_KEY, encoded(snapshotWith(names.slice(0, i).map((n) => [n, 1]))))
  kv.put(SNAPSHOT_KEY, encoded(snapshotWith([...names.map((n): [string, number] => [n, 1]), ['flash', 1]])))
  kv.put(SNAPSHOT_KEY, encoded(snapshotWith(names.map((n) => [n, 1]))))
  t.ok(await arrived(batches, 1))
  t.same(batches[0], [{ kind: 'cluster' }, ...names.map((name) => ({ kind: 'topic', name, change: 'appeared' }))], 'one batch: the overview and each new topic')

  // The same snapshot again (a reload after a reconnect) changes nothing; a new leader changes one topic.
  kv.put(SNAPSHOT_KEY, encoded(snapshotWith(names.map((n) => [n, 1]))))
  const moved = snapshotWith(names.map((n) => [n, 1]))
  moved.topics.find((topic) => topic.name === 't3')!.partitions[0]!.leader = 2
  kv.put(SNAPSHOT_KEY, encoded(moved))
  t.ok(await arrived(batches, 2))
  t.same(batches.slice(1), [[{ kind: 'topic', name: 't3', change: 'changed' }]], 'a leader move is a topic change, not an overview change')
})

t.test('groups: followed only while a listener wants them; heartbeats and commits that leave the lag status are no change', async (t) => {
  // Commits at 12:00:00 to 12:00:08, judged at 12:00:10.
  const { kv, store, feed } = await setup(t, { clock: () => Date.parse('2026-03-01T12:00:10Z') })
  kv.put(nextOffsetKey('orders', 0), '10')
  const { batches, deliver } = collect()
  const topicsOnly = feed.listen(() => {})
  t.equal(store.health().groupMirror.state, 'idle', 'a listener without groups starts no group watch')
  const listener = feed.listen(deliver, { groups: true, groupIds: ['g', 'h'] })
  const lists = collect()
  const listsOnly = feed.listen(lists.deliver, { groups: true })
  t.ok(await eventually(async () => store.health().groupMirror.state === 'synced', 10_000, 5), 'one that wants groups does')

  const metadata = (heartbeatAt: string, generationId = 1): Uint8Array => encodeConsumerGroup({
    groupId: 'g',
    state: 'stable',
    protocolType: 'consumer',
    protocol: 'range',
    leader: 'm',
    generationId,
    rebalanceTimeoutMs: 1000,
    members: { m: { clientId: 'm', clientHost: '/10.0.0.1', heartbeatAt, assignments: [], subscriptions: ['orders'], sessionTimeoutMs: 45000 } }
  })
  kv.put(groupMetadataKey('g'), metadata('12:00:00'))
  t.ok(await arrived(batches, 1))
  t.same(batches[0], [{ kind: 'group', groupId: 'g', change: 'appeared' }])
  kv.put(groupMetadataKey('g'), metadata('12:00:03'))

  const commit = (offset: number, at: string): string => `{"offset":${offset},"metadata":"","committed_at":"2026-03-01T${at}Z"}`
  kv.put(groupOffsetKey('h', 'orders', 0), commit(5, '12:00:00'))
  t.ok(await arrived(batches, 2))
  t.same(batches[1], [{ kind: 'group', groupId: 'h', change: 'appeared' }], 'g\'s heartbeat in the same window was no change')
  // A lag read: the history now knows the log end, which the next judgement of h uses.
  await computeLag(store, { groupId: 'h' })
  kv.put(groupOffsetKey('h', 'orders', 0), commit(5, '12:00:05'))
  kv.put(groupOffsetKey('h', 'orders', 0), commit(6, '12:00:06'))
  kv.put(groupOffsetKey('h', 'orders', 0), commit(6, '12:00:07'))
  t.ok(await arrived(batches, 3))
  t.same(batches[2], [{ kind: 'group', groupId: 'h', change: 'changed' }], 'three commits in a window, one change: no_data to consuming')
  kv.put(groupOffsetKey('h', 'orders', 0), commit(7, '12:00:08'))
  kv.put(groupMetadataKey('g'), metadata('12:00:08', 2))
  t.ok(await arrived(batches, 4))
  t.same(batches[3], [{ kind: 'group', groupId: 'g', change: 'changed' }], 'g\'s new generation is a change; a commit that left h consuming was none')
  kv.delete(groupOffsetKey('h', 'orders', 0))
  t.ok(await arrived(batches, 5))
  t.same(batches[4], [{ kind: 'group', groupId: 'h', change: 'gone' }], 'the delete is')

  t.same(lists.batches, [
    [{ kind: 'group', groupId: 'g', change: 'appeared' }],
    [{ kind: 'group', groupId: 'h', change: 'appeared' }],
    [{ kind: 'group', groupId: 'h', change: 'gone' }]
  ], 'a listener that names no group hears only of groups appearing and going')
  topicsOnly.close()
  listener.close()
  listsOnly.close()
  t.notOk(feed.status().followingGroups, 'the last listener gone, groups are no longer followed')
})

t.test('the group mirror does not stop for want of reads while groups are followed', async (t) => {
  const { kv, store, feed } = await setup(t, { groupMirrorIdleMs: 5 })
  const { batches, deliver } = collect()
  feed.listen(deliver, { groups: true })
  t.ok(await eventually(async () => store.health().groupMirror.state === 'synced', 10_000, 5))
  // Many idle periods pass without a group read.
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(store.health().groupMirror.state, 'synced')
  kv.put(groupOffsetKey('late', 'orders', 0), '{"offset":1,"metadata":"","committed_at":"12:00:00"}')
  t.ok(await arrived(batches, 1), 'a change after them is told')
})

t.test('a topic config is watched once for all its listeners, and only while one wants it', async (t) => {
  const { kv, feed } = await setup(t)
  const a = collect()
  const b = collect()
  const first = feed.listen(a.deliver, { topicConfigs: ['orders'] })
  const second = feed.listen(b.deliver, { topicConfigs: ['orders', 'payments'] })
  t.match(feed.status(), { listeners: 2, configWatches: 2 })
  t.ok(await eventually(async () => feed.status().configWatchesReading === 0, 10_000, 5))
  kv.put(topicConfigKey('payments'), 'p1')
  t.ok(await arrived(b.batches, 1))
  kv.put(topicConfigKey('orders'), 'o1')
  t.ok(await arrived(a.batches, 1))
  t.same(a.batches, [[{ kind: 'topic-config', name: 'orders' }]], 'a listener hears only of the configs it wants')
  t.same(b.batches[0], [{ kind: 'topic-config', name: 'payments' }])

  second.update({ topicConfigs: ['orders'] })
  t.match(feed.status(), { configWatches: 1 }, 'a config nobody wants any more is not watched')
  first.close()
  first.close()
  t.match(feed.status(), { listeners: 1, configWatches: 1 }, 'closing twice releases once')
  second.close()
  t.match(feed.status(), { listeners: 0, configWatches: 0 })
})
