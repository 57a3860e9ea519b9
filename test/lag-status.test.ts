import t from 'tap'
import { LagHistory } from '../lib/lag-history.ts'
import { evidenceOf, groupEstimates, judgePartition, summarizeStatuses, type PartitionFacts, type PartitionJudgement } from '../lib/lag-status.ts'
import { rfc3339Nano } from '../lib/kafscale/offsets.ts'

// Every status and estimate from windows worked out by hand. Time is a number the test sets:
// T0 + k seconds. A history is fed as the service feeds it (log ends read, then commits as
// KafScale stamps them) and judged at a chosen moment.

const T0 = Date.parse('2026-03-01T12:00:00Z')
const at = (s: number): number => T0 + s * 1000
const stamp = (s: number): string => rfc3339Nano(new Date(at(s)))

interface Scenario {
  history: LagHistory
  /** A log end read at second s. */
  logEnd: (s: number, offset: number) => void
  /** A commit stamped at second s. */
  commit: (s: number, offset: number) => void
  /** The judgement at second s, the lag read then being log end − committed. */
  judge: (s: number, current: { committed: number | null, logEnd: number }, groupState?: string) => PartitionJudgement & { facts: PartitionFacts }
}

function scenario (options: { commits?: number, spanMs?: number } = {}): Scenario {
  let now = at(0)
  const history = new LagHistory({ ...options, clock: () => now })
  return {
    history,
    logEnd: (s, offset) => { now = at(s); history.observeLogEnd('orders', 0, BigInt(offset)) },
    commit: (s, offset) => { now = Math.max(now, at(s)); history.recordCommit('g', 'orders', 0, BigInt(offset), stamp(s)) },
    judge: (s, current, groupState) => {
      now = at(s)
      history.observeLogEnd('orders', 0, BigInt(current.logEnd))
      const facts: PartitionFacts = {
        committedOffset: current.committed,
        lag: current.committed === null ? null : current.logEnd - current.committed,
        ...(current.committed === null ? { lagReason: 'never committed' } : {}),
        commits: history.commitWindow('g', 'orders', 0),
        logEnds: history.logEndObservations('orders', 0),
        groupState
      }
      return Object.assign(judgePartition(facts, { commits: history.commits, spanMs: history.spanMs, since: history.since }, now), { facts })
    }
  }
}

/** Commits every 10 s at these offsets, the log end read just before each: by default 500 + 8/s. */
function steady (s: Scenario, offsets: number[], logEnd = (second: number): number => 500 + 8 * second): void {
  offsets.forEach((offset, i) => {
    s.logEnd(i * 10, logEnd(i * 10))
    s.commit(i * 10, offset)
  })
}

t.test('ok: consuming faster than produced, with rates and the time to catch up', async (t) => {
  const s = scenario()
  steady(s, [0, 100, 200, 300, 400])
  const j = s.judge(45, { committed: 400, logEnd: 860 })
  t.equal(j.status, 'ok')
  t.match(j.status_reason, /^consuming: advanced 400 messages over 40s/)
  // (400 − 0) / 40 s; (860 − 500) / 45 s; lag 460 / (10 − 8)
  t.same([j.consumption_rate, j.production_rate, j.catch_up_seconds], [10, 8, 230])
  t.same(evidenceOf(j.facts, j).commits.map((c) => c.lag), [500, 480, 460, 440, 420], 'the lag at each commit, from the log end read before it')
  t.same(evidenceOf(j.facts, j).commits[0], { offset: 0, committed_at: '2026-03-01T12:00:00Z', log_end_offset: 500, lag: 500 })
})

t.test('ok: caught up, and past the flushed log end', async (t) => {
  const s = scenario()
  steady(s, [0, 100, 200, 300, 400])
  t.match(s.judge(45, { committed: 860, logEnd: 860 }), { status: 'ok', status_reason: 'caught up: lag 0', catch_up_seconds: 0 })
  t.match(s.judge(46, { committed: 880, logEnd: 860 }), { status: 'ok', status_reason: /20 past the flushed log end/, catch_up_seconds: 0 })
})

t.test('falling_behind: the lag grows at every commit while offsets move', async (t) => {
  const s = scenario()
  steady(s, [0, 50, 100, 150, 200])
  const j = s.judge(45, { committed: 200, logEnd: 860 })
  t.equal(j.status, 'falling_behind')
  t.match(j.status_reason, /from 500 to 620 over 5 commits in 40s, while the consumer advanced 200 messages/)
  t.same([j.consumption_rate, j.production_rate, j.catch_up_seconds], [5, 8, null])
  t.equal(j.catch_up_reason, 'consumption (5/s) does not exceed production (8/s): the lag will not shrink at these rates')
})

t.test('falling_behind needs three commits: two make no trend', async (t) => {
  const s = scenario()
  steady(s, [0, 50])
  t.equal(s.judge(12, { committed: 50, logEnd: 596 }).status, 'ok')
})

t.test('stalled: commits keep coming at one offset while messages wait', async (t) => {
  const s = scenario()
  steady(s, [100, 100, 100, 100, 100])
  const j = s.judge(45, { committed: 100, logEnd: 860 })
  t.equal(j.status, 'stalled')
  t.match(j.status_reason, /^5 commits over 40s all at offset 100 while messages waited \(the log end past it since 2026-03-01T12:00:00Z/)
  t.same([j.consumption_rate, j.catch_up_seconds], [0, null])
  t.equal(j.catch_up_reason, 'the consumer is not advancing (stalled)')
})

t.test('stopped: no commit for longer than the window spans, messages waiting', async (t) => {
  const s = scenario()
  steady(s, [0, 100, 200, 300, 400])
  t.equal(s.judge(80, { committed: 400, logEnd: 1140 }).status, 'ok', '40 s silent: not longer than the 40 s the window spans')
  const j = s.judge(200, { committed: 400, logEnd: 2100 })
  t.equal(j.status, 'stopped')
  t.match(j.status_reason, /^no commit for 2m 40s \(the last: offset 400 at 2026-03-01T12:00:40Z\), longer than the 40s the window's 5 commits span, while 1700 message\(s\) wait/)
  t.equal(j.catch_up_seconds, null)
})

t.test('stopped with one commit known: silent for longer than the configured span', async (t) => {
  const s = scenario({ spanMs: 15 * 60_000 })
  s.commit(0, 0)
  t.match(s.judge(10, { committed: 0, logEnd: 50 }), { status: 'no_data', status_reason: /^not enough history: one commit seen \(offset 0 at 2026-03-01T12:00:00Z\)/ })
  t.equal(s.judge(15 * 60, { committed: 0, logEnd: 50 }).status, 'no_data', 'silent 15 min: not longer than the span')
  t.match(s.judge(20 * 60, { committed: 0, logEnd: 50 }), { status: 'stopped', status_reason: /with only one commit known/ })
})

t.test('rewind: an offset lower than the one before', async (t) => {
  const s = scenario()
  steady(s, [0, 100, 200, 50, 150])
  const j = s.judge(45, { committed: 150, logEnd: 860 })
  t.equal(j.status, 'rewind')
  t.match(j.status_reason, /from 200 to 50 at 2026-03-01T12:00:30Z/)
  t.equal(j.consumption_rate, null)
  t.match(j.rate_reason, /rewind/)
})

t.test('not_committed and no_data', async (t) => {
  const s = scenario()
  t.match(s.judge(0, { committed: null, logEnd: 10 }), { status: 'not_committed', catch_up_seconds: null })
  t.match(s.judge(1, { committed: 5, logEnd: 10 }), { status: 'no_data', status_reason: "no commit seen since this replica's history began at 2026-03-01T12:00:00Z" })
  const unreadable = judgePartition({ committedOffset: null, lag: null, lagReason: 'committed offset unreadable (see errors)', commits: undefined, logEnds: [], groupState: undefined }, { commits: 10, spanMs: 1, since: T0 }, T0)
  t.match(unreadable, { status: 'no_data', status_reason: 'committed offset unreadable (see errors)' })
  const full = judgePartition({ committedOffset: 1, lag: 1, commits: undefined, logEnds: [], groupState: undefined }, { commits: 10, spanMs: 1, since: T0, full: true }, T0)
  t.match(full, { status: 'no_data', status_reason: /limit of partitions/ })
})

t.test('false alarm: a first message after a quiet period is neither stopped nor stalled', async (t) => {
  const s = scenario()
  // Caught up at 100 and committing every 10 s; then nothing to consume for ten minutes.
  steady(s, [100, 100, 100, 100, 100], () => 100)
  const j = s.judge(600, { committed: 100, logEnd: 101 })
  t.equal(j.status, 'ok')
  t.equal(j.guards.length, 2)
  t.match(j.guards[0], /a first message after a quiet period, not judged stopped until it waits 40s/)
  t.match(j.guards[1], /not judged stalled until messages wait through a whole window/)
  t.match(j.status_reason, /it was zero within the window/)
  t.match(s.judge(630, { committed: 100, logEnd: 101 }), { status: 'ok' }, 'waiting 30 s: still within the window span')
  t.match(s.judge(700, { committed: 100, logEnd: 101 }), { status: 'stopped' }, 'waiting 100 s: the guard holds no longer')
})

t.test('false alarm: a rebalancing group is neither stopped nor stalled', async (t) => {
  const stopped = scenario()
  steady(stopped, [0, 100, 200, 300, 400])
  const j = stopped.judge(200, { committed: 400, logEnd: 2100 }, 'preparing_rebalance')
  t.equal(j.status, 'ok')
  t.match(j.guards, [/the group is preparing_rebalance: its consumers pause commits until it completes/])
  t.equal(evidenceOf(j.facts, j).group_state, 'preparing_rebalance')

  const stalled = scenario()
  steady(stalled, [100, 100, 100, 100, 100])
  t.match(stalled.judge(45, { committed: 100, logEnd: 860 }, 'CompletingRebalance'), { status: 'ok', guards: [/not judged stalled while it rebalances/] })
  t.equal(stalled.judge(46, { committed: 100, logEnd: 868 }, 'stable').status, 'stalled', 'and judged again once stable')
})

t.test('false alarm: a topic whose log end has not moved leaves a silent consumer ok', async (t) => {
  const s = scenario()
  steady(s, [100, 100, 100, 100, 100], () => 100)
  const j = s.judge(3600, { committed: 100, logEnd: 100 })
  t.match(j, { status: 'ok', status_reason: 'caught up: lag 0', guards: [], production_rate: 0 })
})

t.test('group status: the worst partition wins, with counts', async (t) => {
  const j = (status: PartitionJudgement['status']): PartitionJudgement => ({ status, status_reason: '', guards: [], consumption_rate: null, production_rate: null, catch_up_seconds: null })
  const byLabel = ({ label }: { label: string }): string => label
  const summary = summarizeStatuses([['orders/0', 'ok'], ['orders/1', 'stopped'], ['orders/2', 'falling_behind'], ['orders/3', 'ok']].map(([label, status]) => ({ label: label!, judgement: j(status as PartitionJudgement['status']) })), byLabel)
  t.same(summary, { status: 'stopped', status_reason: '1 of 4 partition(s) stopped (orders/1); 2 ok, 1 falling_behind', status_counts: { ok: 2, stopped: 1, falling_behind: 1 } })
  t.equal(summarizeStatuses([{ label: 'a/0', judgement: j('not_committed') }, { label: 'a/1', judgement: j('ok') }], byLabel).status, 'not_committed')
})

t.test('group estimates: rates summed, the slowest partition decides the time to catch up', async (t) => {
  const part = (label: string, lag: number, consumption: number | null, production: number | null, catchUp: number | null, reason?: string): { label: string, lag: number, judgement: PartitionJudgement } =>
    ({ label, lag, judgement: { status: 'ok', status_reason: '', guards: [], consumption_rate: consumption, production_rate: production, catch_up_seconds: catchUp, ...(reason !== undefined ? { catch_up_reason: reason } : {}) } })
  const byLabel = ({ label }: { label: string }): string => label
  t.same(groupEstimates([part('o/0', 460, 10, 8, 230), part('o/1', 100, 6, 1, 20), part('o/2', 0, 2, 2, 0)], byLabel), { consumption_rate: 18, production_rate: 11, catch_up_seconds: 230 })
  t.same(groupEstimates([part('o/0', 460, 10, 8, 230), part('o/1', 10, null, 1, null, 'consumption: one commit in the window, a rate needs two')], byLabel), {
    consumption_rate: 10,
    production_rate: 9,
    rate_reason: 'summed over the partitions with a rate: 1 of 2 for consumption, 2 for production',
    catch_up_seconds: null,
    catch_up_reason: '1 lagging partition(s) without an estimate, e.g. o/1: consumption: one commit in the window, a rate needs two'
  })
})

t.test('the history: bounded by count and span, deduplicated, the log end known at each commit', async (t) => {
  let now = at(0)
  const history = new LagHistory({ commits: 3, spanMs: 60_000, clock: () => now })
  const window = (): Array<[number, number, number | null]> => history.commitWindow('g', 'orders', 0)!.map((c) => [c.offset, (c.at - T0) / 1000, c.logEnd])
  history.recordCommit('g', 'orders', 0, 5n, stamp(0))
  t.same(window(), [[5, 0, null]], 'no log end read before it')
  now = at(1)
  history.observeLogEnd('orders', 0, 50n)
  for (const [s, offset] of [[2, 10], [3, 20], [4, 30]] as const) history.recordCommit('g', 'orders', 0, BigInt(offset), stamp(s))
  t.same(window(), [[10, 2, 50], [20, 3, 50], [30, 4, 50]], 'three commits kept')
  history.recordCommit('g', 'orders', 0, 30n, stamp(4))
  history.recordCommit('g', 'orders', 0, 25n, stamp(3.5))
  t.same(window().length, 3, 'the same commit again, or an older one, is not new')
  history.recordCommit('g', 'orders', 0, 30n, stamp(5))
  t.same(window().at(-1), [30, 5, 50], 'the same offset at a new time is a new commit')
  history.recordCommit('g', 'orders', 0, 40n, stamp(100))
  t.same(window(), [[40, 100, 50]], 'commits more than the span older than the newest are dropped')

  for (const s of [2, 3]) {
    now = at(s)
    history.observeLogEnd('orders', 0, 50n)
  }
  t.same(history.logEndObservations('orders', 0), [{ offset: 50, firstSeen: at(1), lastSeen: at(3) }], 'one value read thrice: one observation')

  const small = new LagHistory({ maxPartitions: 1, clock: () => now })
  small.recordCommit('g', 'orders', 0, 1n, stamp(0))
  small.recordCommit('g', 'orders', 1, 1n, stamp(0))
  t.equal(small.commitWindow('g', 'orders', 1), undefined)
  t.ok(small.full())
  small.forgetCommits('g', 'orders', 0)
  t.notOk(small.full(), 'a forgotten window frees its room')
})
