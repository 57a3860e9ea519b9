import { Type, type Static } from 'typebox'
import { GroupId, KeyErrors, TopicNameList } from './common.ts'
import { GroupPageInput, OffsetPageInput, PageOutput } from './paging.ts'

export const ListGroupsInput = Type.Object({ ...GroupPageInput }, { additionalProperties: false })
export const ListGroupsOutput = Type.Object({
  groups: Type.Array(Type.Object({
    group_id: Type.String(),
    state: Type.String({ description: 'KafScale\'s lowercase state: empty, preparing_rebalance, completing_rebalance, stable or dead' }),
    protocol_type: Type.String(),
    member_count: Type.Integer()
  })),
  ...KeyErrors,
  ...PageOutput
})
export type ListGroupsOutput = Static<typeof ListGroupsOutput>

export const DescribeGroupInput = Type.Object({ group_id: GroupId }, { additionalProperties: false })
export type DescribeGroupInput = Static<typeof DescribeGroupInput>

export const DescribeGroupOutput = Type.Object({
  group_id: Type.String(),
  state: Type.String({ description: 'KafScale\'s lowercase state; "empty" when the metadata is missing' }),
  metadata: Type.Union([Type.Literal('stored'), Type.Literal('missing')], {
    description: 'stored: read from the group\'s metadata key. missing: KafScale deleted the key when the last member left and only committed ' +
      'offsets remain, so the fields read from the metadata (protocol, leader, generation, timeouts) are absent'
  }),
  note: Type.Optional(Type.String({ description: 'what a missing metadata key means, in words' })),
  committed_partitions: Type.Optional(Type.Integer({ description: 'with metadata missing: how many partitions the group has committed offsets for' })),
  // Read from the metadata key: absent when it is missing, never made up.
  protocol_type: Type.Optional(Type.String()),
  protocol: Type.Optional(Type.String()),
  leader: Type.Optional(Type.String()),
  generation_id: Type.Optional(Type.Integer()),
  rebalance_timeout_ms: Type.Optional(Type.Integer()),
  members: Type.Array(Type.Object({
    member_id: Type.String(),
    client_id: Type.String(),
    client_host: Type.String(),
    heartbeat_at: Type.String(),
    assignments: Type.Array(Type.Object({ topic: Type.String(), partitions: Type.Array(Type.Integer()) })),
    subscriptions: Type.Array(Type.String()),
    session_timeout_ms: Type.Integer()
  })),
  ...KeyErrors
})
export type DescribeGroupOutput = Static<typeof DescribeGroupOutput>

export const FetchOffsetsInput = Type.Object({
  group_id: GroupId,
  topics: TopicNameList('Optional list of topics to fetch offsets for'),
  ...OffsetPageInput
}, { additionalProperties: false })
export type FetchOffsetsInput = Static<typeof FetchOffsetsInput>

export const FetchOffsetsOutput = Type.Object({
  group_id: Type.String(),
  offsets: Type.Array(Type.Object({
    topic: Type.String(),
    partition: Type.Integer(),
    offset: Type.Integer({ description: 'next offset the group will consume; 0 when never committed (see committed)' }),
    metadata: Type.String(),
    committed: Type.Boolean({ description: 'false when the group never committed this partition' }),
    committed_at: Type.Optional(Type.String())
  })),
  ...KeyErrors,
  ...PageOutput
})
export type FetchOffsetsOutput = Static<typeof FetchOffsetsOutput>
