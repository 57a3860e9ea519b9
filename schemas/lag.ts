import { Type, type Static } from 'typebox'
import { GroupId, KeyErrors, ObservedAt, TopicNameList } from './common.ts'
import { LagPageInput, PageOutput } from './paging.ts'

export const ConsumerLagInput = Type.Object({
  group_id: Type.Optional(GroupId),
  topics: TopicNameList('Only these topics'),
  ...LagPageInput
}, { additionalProperties: false })
export type ConsumerLagInput = Static<typeof ConsumerLagInput>

const Totals = {
  total_lag: Type.Number({ description: 'sum of the lag of committed partitions (negative lag included)' }),
  max_lag: Type.Number(),
  partition_count: Type.Integer(),
  uncommitted_partitions: Type.Integer({ description: 'partitions the group never committed (lag unknown)' })
}

export const ConsumerLagOutput = Type.Object({
  ...Totals,
  groups: Type.Array(Type.Object({
    group_id: Type.String(),
    ...Totals,
    topics: Type.Array(Type.Object({ topic: Type.String(), ...Totals }))
  }), { description: 'per group, most lag first' }),
  groups_omitted: Type.Optional(Type.Integer({ description: 'groups left out of `groups` to keep the answer small (their partitions still page)' })),
  partitions: Type.Array(Type.Object({
    group_id: Type.String(),
    topic: Type.String(),
    partition: Type.Integer(),
    committed_offset: Type.Union([Type.Integer(), Type.Null()], { description: 'next offset the group will read; null when never committed' }),
    log_end_offset: Type.Integer({ description: 'next_offset: the offset the next record will get' }),
    lag: Type.Union([Type.Integer(), Type.Null()], { description: 'log_end_offset - committed_offset, not clamped; null when never committed' }),
    reason: Type.Optional(Type.String({ description: 'why lag is null, negative or uncertain' }))
  }), { description: 'most lag first; never-committed partitions last' }),
  ...KeyErrors,
  ...PageOutput,
  observed_at: ObservedAt
})
export type ConsumerLagOutput = Static<typeof ConsumerLagOutput>
