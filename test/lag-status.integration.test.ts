import t from 'tap'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { encoded, putMany, snapshotWith } from './helpers/cluster-builder.ts'
import { callRest, startServer, type RunningServer } from './helpers/server.ts'
import { eventually } from './helpers/wait.ts'
import { encodeConsumerGroup } from '../lib/kafscale/messages.ts'
import { rfc3339Nano } from '../lib/kafscale/offsets.ts'
import { SNAPSHOT_KEY } from '../lib/kafscale/keys.ts'

// consumer_lag's status through the service, on a real etcd written as KafScale writes it:
// commits as offset JSON stamped with committed_at, next_offset moving as segments flush. The
// service's clock is injected and set by the script; every commit reaches the service by its
// group mirror's watch (the test waits until the mirror holds it), every log end by a lag
// read at the scripted time. Each scenario is its own group on its own topic, all on one
// timeline: commits every 10 s for 40 s, judged at 45 s; judged again at 200 s, 600 s, 700 s.

const T0 = Date.parse('2026-03-01T12:00:00Z')
const stamp = (s: number): string => rfc3339Nano(new Date(T0 + s * 1000))
let now = T0
const setTime = (s: number): void => { now = T0 + s * 1000 }

const group = (groupId: string, state: string): Buffer => Buffer.from(encodeConsumerGroup({
  groupId,
  state,
  protocolType: 'consumer',
  protocol: 'range',
  leader: 'm-1',
  generationId: 1,
  rebalanceTimeoutMs: 300000,
  members: { 'm-1': { clientId: 'm-1', clientHost: '/10.0.0.1', heartbeatAt: stamp(0), assignments: [{ topic: groupId, partitions: [0] }], subscriptions: [groupId], sessionTimeoutMs: 45000 } }
}))

interface Script {
  /** Group and topic share the name. */
  name: string
  state: string
  /** Committed at 0, 10, 20, 30 and 40 s. */
  offsets: number[]
  /** The log end at second s. */
  logEnd: (s: number) => number
}

// The log end of a produced topic: 500 at 0 s and 8 messages a second.
const produced = (s: number): number => 500 + 8 * s
const SCRIPTS: Script[] = [
  { name: 'ok', state: 'stable', offsets: [0, 100, 200, 300, 400], logEnd: produced },
  { name: 'falling', state: 'stable', offsets: [0, 50, 100, 150, 200], logEnd: produced },
  { name: 'stalled', state: 'stable', offsets: [100, 100, 100, 100, 100], logEnd: produced },
  { name: 'rewind', state: 'stable', offsets: [0, 100, 200, 50, 150], logEnd: produced },
  // False alarms: a group rebalancing, whose commits pause; a quiet topic, whose log end stays
  // at the consumer's offset until a first message arrives at 600 s.
  { name: 'rebalancing', state: 'preparing_rebalance', offsets: [100, 100, 100, 100, 100], logEnd: produced },
  { name: 'quiet', state: 'stable', offsets: [100, 100, 100, 100, 100], logEnd: (s) => (s < 600 ? 100 : 101) }
]
const FRESH = 'fresh'
const BURST = 'burst'
const CROWD = 'crowd'
/** A topic no group commits on. */
const LONELY = 'lonely'

let etcd: EtcdProcess
let server: RunningServer

const commitKey = (name: string, partition = 0): string => `/kafscale/consumers/${name}/offsets/${name}/${partition}`
const logEndKey = (name: string, partition = 0): string => `/kafscale/topics/${name}/partitions/${partition}/next_offset`

async function putLogEnds (s: number): Promise<void> {
  await putMany(etcd.client, SCRIPTS.map((sc) => [logEndKey(sc.name), String(sc.logEnd(s))]))
}

/** Every scenario's commit of step i, once the service's mirror holds it. */
async function commitStep (i: number): Promise<void> {
  const store = server.app.kafscaleStore!
  await putMany(etcd.client, SCRIPTS.map((sc) => [commitKey(sc.name), `{"offset":${sc.offsets[i]},"metadata":"","committed_at":"${stamp(i * 10)}"}`]))
  const arrived = await eventually(async () => {
    const { groups } = await store.allGroupOffsets()
    return SCRIPTS.every((sc) => groups.find((g) => g.groupId === sc.name)?.offsets.get(`${sc.name}/0`)?.record.committedAt === stamp(i * 10))
  }, 20_000, 20)
  if (!arrived) throw new Error(`the commits of step ${i} never reached the mirror`)
}

async function lagOf (name: string, on: RunningServer = server, evidence: 'all' | 'alarms' = 'all'): Promise<any> {
  const { status, body } = await callRest(on.base, 'consumer_lag', { group_id: name, evidence })
  if (status !== 200) throw new Error(`consumer_lag ${name}: ${status} ${JSON.stringify(body)}`)
  return body
}

/** Every log end read by cluster_health (which reads them all), stamped with the scripted time. */
async function readAt (s: number): Promise<void> {
  setTime(s)
  await putLogEnds(s)
  const { status } = await callRest(server.base, 'cluster_health', {})
  if (status !== 200) throw new Error(`cluster_health: ${status}`)
}

t.before(async () => {
  etcd = await startEtcd()
  await etcd.client.put(SNAPSHOT_KEY).value(encoded(snapshotWith([...SCRIPTS.map((sc) => [sc.name, 1] as [string, number]), [FRESH, 2], [BURST, 1], [CROWD, 22], [LONELY, 1]])))
  await putMany(etcd.client, [
    ...SCRIPTS.map((sc) => [`/kafscale/consumers/${sc.name}/metadata`, group(sc.name, sc.state)] as [string, Uint8Array]),
    // Committed an hour before this replica started; partition 1 never.
    [commitKey(FRESH), `{"offset":10,"metadata":"","committed_at":"${stamp(-3600)}"}`],
    [logEndKey(FRESH), '20'],
    [logEndKey(FRESH, 1), '5']
  ])
  server = await startServer(['--etcd-endpoints', etcd.endpoint, '--lag-sample-interval', '0'], { clock: () => now })
  await server.app.kafscaleStore!.checkReady()
  // The first group read starts the mirror; the commits below come by its watch.
  await server.app.kafscaleStore!.listGroups()
  if (!await eventually(async () => server.app.kafscaleStore!.health().groupMirror.state === 'synced', 20_000, 20)) throw new Error('the mirror never synced')
  for (let i = 0; i < 5; i++) {
    await readAt(i * 10)
    await commitStep(i)
  }
  await readAt(45)
})

t.teardown(async () => {
  await server?.close()
  await etcd?.destroy()
})

const partition0 = (body: any): any => body.partitions.find((p: any) => p.partition === 0)

t.test('ok at 45 s: the window, the rates and the time to catch up as worked out by hand', async (t) => {
  const body = await lagOf('ok')
  const p = partition0(body)
  t.match(p, { committed_offset: 400, log_end_offset: 860, lag: 460, status: 'ok', consumption_rate: 10, production_rate: 8, catch_up_seconds: 230 })
  t.match(p.status_reason, /^consuming: advanced 400 messages over 40s/)
  // Each commit's lag is against the log end read at the same second, before it.
  t.same(p.evidence.commits, [0, 1, 2, 3, 4].map((i) => ({ offset: 100 * i, committed_at: stamp(10 * i), log_end_offset: produced(10 * i), lag: produced(10 * i) - 100 * i })))
  t.same(p.evidence.log_ends, [0, 10, 20, 30, 40, 45].map((s) => ({ offset: produced(s), first_seen: stamp(s), last_seen: stamp(s) })))
  t.equal(p.evidence.group_state, 'stable')
  t.match(body.groups[0], { group_id: 'ok', status: 'ok', status_counts: { ok: 1 }, consumption_rate: 10, production_rate: 8, catch_up_seconds: 230, topics: [{ topic: 'ok', status: 'ok' }] })
  t.same(body.lag_window, { commits: 10, span_seconds: 900, history_since: stamp(0), commits_from: 'etcd watch' })
})

t.test('falling_behind, stalled and rewind at 45 s', async (t) => {
  t.match(partition0(await lagOf('falling')), { lag: 660, status: 'falling_behind', status_reason: /from 500 to 620 over 5 commits in 40s/, consumption_rate: 5, production_rate: 8, catch_up_seconds: null, catch_up_reason: /does not exceed production/ })
  t.match(partition0(await lagOf('stalled')), { lag: 760, status: 'stalled', status_reason: /^5 commits over 40s all at offset 100/, consumption_rate: 0, catch_up_seconds: null })
  const rewind = partition0(await lagOf('rewind'))
  t.match(rewind, { status: 'rewind', status_reason: /from 200 to 50 at 2026-03-01T12:00:30Z/, consumption_rate: null })
  t.same(rewind.evidence.commits.map((c: any) => c.offset), [0, 100, 200, 50, 150])
})

t.test('not_committed and no_data: a partition never committed, a commit from before this replica', async (t) => {
  const body = await lagOf(FRESH)
  t.match(body.partitions.find((p: any) => p.partition === 1), { status: 'not_committed', committed_offset: null })
  const old = partition0(body)
  t.match(old, { status: 'no_data', status_reason: `not enough history: one commit seen (offset 10 at ${stamp(-3600)}); judging its movement needs two` })
  t.match(old.evidence.guards, [/a first message after a quiet period/], 'not called stopped on the strength of one old commit')
  t.match(body.groups[0], { status: 'no_data', status_counts: { no_data: 1, not_committed: 1 } })
})

t.test('false alarms at 45 s: the rebalancing group is not stalled, the quiet consumer is ok', async (t) => {
  const rebalancing = partition0(await lagOf('rebalancing'))
  t.match(rebalancing, { lag: 760, status: 'ok', evidence: { group_state: 'preparing_rebalance', guards: [/not judged stalled while it rebalances/] } })
  t.match(partition0(await lagOf('quiet')), { lag: 0, status: 'ok', status_reason: 'caught up: lag 0' })
  const health = (await callRest(server.base, 'cluster_health', {})).body
  const byCode = Object.fromEntries(health.findings.map((f: any) => [f.code, f.subjects]))
  t.same([byCode.CONSUMER_FALLING_BEHIND, byCode.CONSUMER_STALLED, byCode.CONSUMER_REWIND, byCode.CONSUMER_STOPPED], [['falling: falling/0'], ['stalled: stalled/0'], ['rewind: rewind/0'], undefined])
})

t.test('a new replica knows nothing yet: no_data, never a guess', async (t) => {
  const fresh = await startServer(['--etcd-endpoints', etcd.endpoint, '--lag-sample-interval', '0'], { clock: () => now })
  t.teardown(fresh.close)
  await fresh.app.kafscaleStore!.checkReady()
  const p = partition0(await lagOf('stalled', fresh))
  t.match(p, { lag: 760, status: 'no_data', status_reason: /^not enough history: one commit seen/, consumption_rate: null, catch_up_seconds: null })
  t.same(p.evidence.commits.length, 1)
})

t.test('later: stopped after the window span without a commit, unless rebalancing or caught up', async (t) => {
  await readAt(200)
  const ok = partition0(await lagOf('ok'))
  t.match(ok, { lag: 1700, status: 'stopped', status_reason: /^no commit for 2m 40s \(the last: offset 400 at 2026-03-01T12:00:40Z\), longer than the 40s the window's 5 commits span, while 1700 message\(s\) wait/ })
  t.match(partition0(await lagOf('rebalancing')), { status: 'ok', evidence: { guards: [/the group is preparing_rebalance: its consumers pause commits/, /not judged stalled while it rebalances/] } })
  t.match(partition0(await lagOf('quiet')), { lag: 0, status: 'ok', status_reason: 'caught up: lag 0' }, 'a topic whose log end has not moved: a silent consumer is caught up, not stopped')
  const health = (await callRest(server.base, 'cluster_health', {})).body
  const stopped = health.findings.find((f: any) => f.code === 'CONSUMER_STOPPED')
  t.same(stopped.subjects.sort(), ['falling: falling/0', 'ok: ok/0', 'rewind: rewind/0', 'stalled: stalled/0'])
})

t.test('later: a first message after a quiet period is not stopped until it has waited a window span', async (t) => {
  await readAt(600)
  const first = partition0(await lagOf('quiet'))
  t.match(first, { lag: 1, status: 'ok', evidence: { guards: [/first seen past the committed offset 100 at 2026-03-01T12:10:00Z, 0s ago: a first message after a quiet period/, /not judged stalled/] } })
  await readAt(700)
  t.match(partition0(await lagOf('quiet')), { lag: 1, status: 'stopped', status_reason: /the log end has been past that offset since 2026-03-01T12:10:00Z/ })
})

t.test('every commit the watch delivers is in the window, not only the latest a read sees', async (t) => {
  setTime(800)
  const store = server.app.kafscaleStore!
  for (const [s, offset] of [[790, 10], [795, 20], [800, 30]] as const) {
    await etcd.client.put(commitKey(BURST)).value(`{"offset":${offset},"metadata":"","committed_at":"${stamp(s)}"}`)
    const mirrored = async (): Promise<boolean> => (await store.allGroupOffsets()).groups.find((g) => g.groupId === BURST)?.offsets.get(`${BURST}/0`)?.record.offset === BigInt(offset)
    t.ok(await eventually(mirrored, 20_000, 20), `commit ${offset} mirrored`)
  }
  const p = partition0(await lagOf(BURST))
  t.same(p.evidence.commits.map((c: any) => [c.offset, c.committed_at]), [[10, stamp(790)], [20, stamp(795)], [30, stamp(800)]])
  t.equal(p.consumption_rate, 2, '(30 − 10) / 10 s')
})

t.test('without the group mirror, samples feed the history: commits, log ends and group states', async (t) => {
  const sampled = await startServer(['--etcd-endpoints', etcd.endpoint, '--group-mirror-max-keys', '0', '--lag-sample-interval', '50ms'], { clock: () => now })
  t.teardown(sampled.close)
  const store = sampled.app.kafscaleStore!
  await store.checkReady()
  setTime(900)
  await lagOf('ok', sampled) // lag is being read: the sampler runs from now on
  const history = (): ReturnType<typeof store.lagObservation>['history'] => store.lagObservation().history
  // One write: a sample that read the topics no group commits on would read both.
  await putMany(etcd.client, [[logEndKey('ok'), String(produced(900))], [logEndKey(LONELY), '77']])
  t.ok(await eventually(async () => history().logEndObservations('ok', 0).at(-1)?.offset === produced(900), 20_000, 20), 'a sample read the log end')
  t.same(history().logEndObservations(LONELY, 0), [], 'of a topic a group commits on only')
  await etcd.client.put(commitKey('ok')).value(`{"offset":7000,"metadata":"","committed_at":"${stamp(900)}"}`)
  t.ok(await eventually(async () => history().commitWindow('ok', 'ok', 0)?.at(-1)?.offset === 7000, 20_000, 20), 'a sample saw the commit')
  t.match(history().commitWindow('ok', 'ok', 0)!.at(-1), { at: now, logEnd: produced(900) }, 'with the log end a sample read before it')
  t.equal(history().groupState('rebalancing'), 'preparing_rebalance', 'and the group states')
  t.equal((await lagOf('ok', sampled)).lag_window.commits_from, 'reads and samples')
})

t.test('a sample reads the log ends of the groups whose lag is read; of every tracked group only when all lag is', async (t) => {
  const sampled = await startServer(['--etcd-endpoints', etcd.endpoint, '--lag-sample-interval', '50ms'], { clock: () => now })
  t.teardown(sampled.close)
  const store = sampled.app.kafscaleStore!
  await store.checkReady()
  // Asking with no group names no interest: the test's own look must not widen the samples.
  const history = (): ReturnType<typeof store.lagObservation>['history'] => store.lagObservation([]).history
  await lagOf('ok', sampled)
  t.ok(await eventually(async () => history().commitWindow('stalled', 'stalled', 0) !== undefined, 20_000, 20), 'the mirror tracks the other group too')
  const before = await Promise.all(['ok', 'stalled'].map(async (name) => [logEndKey(name), (await etcd.client.get(logEndKey(name)).string())!] as [string, string]))
  t.teardown(async () => { await putMany(etcd.client, before) })
  // One write: a sample that read every tracked group's topics would see both.
  await putMany(etcd.client, [[logEndKey('ok'), '987654'], [logEndKey('stalled'), '987655']])
  t.ok(await eventually(async () => history().logEndObservations('ok', 0).at(-1)?.offset === 987654, 20_000, 20), 'the topic of the group whose lag was read is sampled')
  t.notOk(history().logEndObservations('stalled', 0).some((o) => o.offset === 987655), 'another group\'s is not')
  t.equal((await callRest(sampled.base, 'consumer_lag', { evidence: 'none' })).status, 200)
  await etcd.client.put(logEndKey('stalled')).value('987656')
  t.ok(await eventually(async () => history().logEndObservations('stalled', 0).at(-1)?.offset === 987656, 20_000, 20), 'once every group\'s lag is read, every tracked group\'s topics are sampled')
})

t.test('evidence by default only where there is an alarm', async (t) => {
  const shown = async (name: string): Promise<boolean> => partition0(await lagOf(name, server, 'alarms')).evidence !== undefined
  t.same(await Promise.all(['stalled', 'rebalancing', BURST].map(shown)), [true, false, false], 'stopped carries it; ok does not, even with an alarm held back')
  t.match(partition0(await lagOf('rebalancing', server, 'alarms')).status_reason, /; held back: no commit for .*, but the group is preparing_rebalance/, 'which its reason says')
  t.equal((await callRest(server.base, 'consumer_lag', { group_id: 'ok', evidence: 'none' })).body.partitions[0].evidence, undefined)
})

t.test('a whole group stalled: evidence for the first 20 of an answer, the rest counted', async (t) => {
  const partitions = Array.from({ length: 22 }, (_, p) => p)
  const mirrored = async (s: number): Promise<boolean> => (await server.app.kafscaleStore!.allGroupOffsets()).groups.find((g) => g.groupId === CROWD)?.offsets.size === 22 &&
    [...(await server.app.kafscaleStore!.groupOffsets(CROWD)).group.offsets.values()].every((o) => o.record.committedAt === stamp(s))
  setTime(1000)
  await putMany(etcd.client, partitions.map((p) => [logEndKey(CROWD, p), '50']))
  await callRest(server.base, 'cluster_health', {})
  for (const s of [1000, 1010]) {
    setTime(s)
    await putMany(etcd.client, partitions.map((p) => [commitKey(CROWD, p), `{"offset":10,"metadata":"","committed_at":"${stamp(s)}"}`]))
    t.ok(await eventually(async () => await mirrored(s), 20_000, 20), `the commits at ${s} s mirrored`)
  }
  setTime(1015)
  const body = await lagOf(CROWD, server, 'alarms')
  t.same(body.groups[0].status_counts, { stalled: 22 })
  t.equal(body.partitions.filter((p: any) => p.evidence !== undefined).length, 20)
  t.equal(body.evidence_omitted, 2)
  t.equal((await lagOf(CROWD, server, 'all')).partitions.filter((p: any) => p.evidence !== undefined).length, 22)
})
