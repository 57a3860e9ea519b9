import { Type, type Static } from 'typebox'
import { GroupId, KeyErrors, ObservedAt, TopicNameList } from './common.ts'
import { LagPageInput, PageOutput } from './paging.ts'

export const ConsumerLagInput = Type.Object({
  group_id: Type.Optional(GroupId),
  topics: TopicNameList('Only these topics'),
  evidence: Type.Optional(Type.Union([Type.Literal('alarms'), Type.Literal('all'), Type.Literal('none')], {
    description: 'which partitions carry `evidence`: alarms (default: the first 20 stopped, stalled, falling_behind or rewind partitions of the answer), all, or none'
  })),
  ...LagPageInput
}, { additionalProperties: false })
export type ConsumerLagInput = Static<typeof ConsumerLagInput>

const Totals = {
  total_lag: Type.Number({ description: 'sum of the lag of committed partitions (negative lag included)' }),
  max_lag: Type.Number(),
  partition_count: Type.Integer(),
  uncommitted_partitions: Type.Integer({ description: 'partitions the group never committed (lag unknown)' })
}

export const LagStatus = Type.Union([Type.Literal('ok'), Type.Literal('falling_behind'), Type.Literal('stalled'), Type.Literal('stopped'), Type.Literal('rewind'), Type.Literal('not_committed'), Type.Literal('no_data')], {
  description: 'judged from the window of recent commits, not from a threshold: ok; falling_behind (lag grew at every commit while offsets moved); ' +
    'stalled (commits keep one offset while messages wait); stopped (no commit for longer than the window spans while messages wait); ' +
    'rewind (a committed offset went back); not_committed (never committed); no_data (not enough history on this replica yet)'
})

const Summary = {
  status: LagStatus,
  status_reason: Type.String({ description: 'the worst status, which partitions have it, and how many have each other status' }),
  status_counts: Type.Record(Type.String(), Type.Integer(), { description: 'partitions per status' })
}

const RateOrNull = (description: string) => Type.Union([Type.Number(), Type.Null()], { description })
const Estimates = {
  consumption_rate: RateOrNull('messages per second committed over the window; null: see rate_reason'),
  production_rate: RateOrNull('messages per second the log end grew over the log ends this replica read; null: see rate_reason'),
  rate_reason: Type.Optional(Type.String({ description: 'why a rate is null, or what a group\'s rates are summed over' })),
  catch_up_seconds: RateOrNull('lag / (consumption − production): seconds until caught up at these rates; 0 when caught up; null: see catch_up_reason'),
  catch_up_reason: Type.Optional(Type.String({ description: 'why there is no estimate (slower than the producer, window too short, not advancing)' }))
}

export const ConsumerLagOutput = Type.Object({
  ...Totals,
  groups: Type.Array(Type.Object({
    group_id: Type.String(),
    ...Totals,
    topics: Type.Array(Type.Object({ topic: Type.String(), ...Totals, ...Summary })),
    ...Summary,
    ...Estimates
  }), { description: 'per group, most lag first; a group catches up when its slowest partition does' }),
  groups_omitted: Type.Optional(Type.Integer({ description: 'groups left out of `groups` to keep the answer small (their partitions still page)' })),
  partitions: Type.Array(Type.Object({
    group_id: Type.String(),
    topic: Type.String(),
    partition: Type.Integer(),
    committed_offset: Type.Union([Type.Integer(), Type.Null()], { description: 'next offset the group will read; null when never committed' }),
    log_end_offset: Type.Integer({ description: 'next_offset: the offset the next record will get' }),
    lag: Type.Union([Type.Integer(), Type.Null()], { description: 'log_end_offset - committed_offset, not clamped; null when never committed' }),
    reason: Type.Optional(Type.String({ description: 'why lag is null, negative or uncertain' })),
    status: LagStatus,
    status_reason: Type.String({ description: 'why this status, in words, with the times and offsets it rests on, and any alarm held back ("held back: …")' }),
    ...Estimates,
    evidence: Type.Optional(Type.Object({
      commits: Type.Array(Type.Object({
        offset: Type.Number(),
        committed_at: Type.String(),
        log_end_offset: Type.Union([Type.Number(), Type.Null()], { description: 'the log end this replica knew at that commit; null: none read yet' }),
        lag: Type.Union([Type.Number(), Type.Null()])
      }), { description: 'the window: the latest commits this replica saw, oldest first' }),
      log_ends: Type.Array(Type.Object({ offset: Type.Number(), first_seen: Type.String(), last_seen: Type.String() }), { description: 'distinct log ends this replica read, oldest first, each with when it was first and last read' }),
      group_state: Type.Optional(Type.String({ description: 'the group\'s state as last seen' })),
      guards: Type.Optional(Type.Array(Type.String(), { description: 'alarms held back as known false alarms (quiet period, rebalance), each in words' }))
    }, { description: 'what the status rests on; by default only where it is an alarm (input `evidence`)' }))
  }), { description: 'most lag first; never-committed partitions last' }),
  evidence_omitted: Type.Optional(Type.Integer({ description: 'alarmed partitions of this page shown without evidence (past the first 20); ask with `evidence: "all"` or narrow with `topics`' })),
  status_counts: Type.Record(Type.String(), Type.Integer(), { description: 'partitions per status, over every partition of the answer (all pages)' }),
  lag_window: Type.Object({
    commits: Type.Integer({ description: 'commits kept per partition (--lag-window-commits)' }),
    span_seconds: Type.Number({ description: 'the oldest commit kept is at most this much older than the newest (--lag-window-span)' }),
    history_since: Type.String({ description: 'when this replica began its history: it knows nothing before (a restart starts over)' }),
    commits_from: Type.String({ description: 'etcd watch (every commit) or reads and samples (the latest commit at each)' })
  }, { description: 'this replica\'s own memory: another replica may have seen other commits and log ends, and judge differently' }),
  ...KeyErrors,
  ...PageOutput,
  observed_at: ObservedAt
})
export type ConsumerLagOutput = Static<typeof ConsumerLagOutput>
