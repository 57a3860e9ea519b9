import { Type, type Static } from 'typebox'
import { GroupId, TopicNameList } from './common.ts'
import { PageInput, PageOutput } from './paging.ts'

export const ListGroupsInput = Type.Object({ ...PageInput }, { additionalProperties: false })
export const ListGroupsOutput = Type.Object({
  groups: Type.Array(Type.Object({
    group_id: Type.String(),
    state: Type.String({ description: 'KafScale\'s lowercase state: empty, preparing_rebalance, completing_rebalance, stable or dead' }),
    protocol_type: Type.String(),
    member_count: Type.Integer()
  })),
  ...PageOutput
})
export type ListGroupsOutput = Static<typeof ListGroupsOutput>

export const DescribeGroupInput = Type.Object({ group_id: GroupId }, { additionalProperties: false })
export type DescribeGroupInput = Static<typeof DescribeGroupInput>

export const DescribeGroupOutput = Type.Object({
  group_id: Type.String(),
  state: Type.String(),
  protocol_type: Type.String(),
  protocol: Type.String(),
  leader: Type.String(),
  generation_id: Type.Integer(),
  rebalance_timeout_ms: Type.Integer(),
  members: Type.Array(Type.Object({
    member_id: Type.String(),
    client_id: Type.String(),
    client_host: Type.String(),
    heartbeat_at: Type.String(),
    assignments: Type.Array(Type.Object({ topic: Type.String(), partitions: Type.Array(Type.Integer()) })),
    subscriptions: Type.Array(Type.String()),
    session_timeout_ms: Type.Integer()
  }))
})
export type DescribeGroupOutput = Static<typeof DescribeGroupOutput>

export const FetchOffsetsInput = Type.Object({
  group_id: GroupId,
  topics: TopicNameList('Optional list of topics to fetch offsets for'),
  ...PageInput
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
  ...PageOutput
})
export type FetchOffsetsOutput = Static<typeof FetchOffsetsOutput>
