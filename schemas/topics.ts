import { Type, type Static } from 'typebox'
import { KeyErrors, TopicNameList, TopicSummary } from './common.ts'
import { TopicPageInput, PageOutput } from './paging.ts'

export const ListTopicsInput = Type.Object({ ...TopicPageInput }, { additionalProperties: false })
export type ListTopicsInput = Static<typeof ListTopicsInput>
export const ListTopicsOutput = Type.Object({ topics: Type.Array(TopicSummary), ...PageOutput })
export type ListTopicsOutput = Static<typeof ListTopicsOutput>

export const DescribeTopicsInput = Type.Object({
  names: TopicNameList('Optional list of topic names to filter'),
  ...TopicPageInput
}, { additionalProperties: false })
export type DescribeTopicsInput = Static<typeof DescribeTopicsInput>

export const PartitionDescription = Type.Object({
  partition: Type.Integer(),
  leader_id: Type.Integer(),
  leader_epoch: Type.Integer(),
  replica_nodes: Type.Array(Type.Integer()),
  isr_nodes: Type.Array(Type.Integer()),
  offline_replicas: Type.Array(Type.Integer()),
  error_code: Type.Integer()
})

export const DescribeTopicsOutput = Type.Object({
  topics: Type.Array(Type.Object({
    name: Type.String(),
    error_code: Type.Integer({ description: '0, or 3 (UNKNOWN_TOPIC_OR_PARTITION) for a name not in the cluster' }),
    partitions: Type.Array(PartitionDescription)
  })),
  ...PageOutput
})
export type DescribeTopicsOutput = Static<typeof DescribeTopicsOutput>

export const DescribeConfigsInput = Type.Object({
  topics: TopicNameList('Optional list of topics to describe'),
  ...TopicPageInput
}, { additionalProperties: false })
export type DescribeConfigsInput = Static<typeof DescribeConfigsInput>

export const TopicConfigDescription = Type.Object({
  name: Type.String(),
  exists: Type.Boolean({ description: 'false for a topic that is neither in the cluster metadata nor has a stored config' }),
  source: Type.Union([Type.Literal('stored'), Type.Literal('default'), Type.Literal('missing')], {
    description: 'stored: read from etcd; default: KafScale\'s defaults for a topic without a stored config; missing: unknown topic'
  }),
  partitions: Type.Integer(),
  replication_factor: Type.Integer(),
  retention_ms: Type.Integer({ description: '-1 means the broker default (unlimited)' }),
  retention_bytes: Type.Integer({ description: '-1 means the broker default (unlimited)' }),
  segment_bytes: Type.Integer({ description: '0 means the broker default (KAFSCALE_SEGMENT_BYTES)' }),
  created_at: Type.String(),
  config: Type.Record(Type.String(), Type.String())
})

export const DescribeConfigsOutput = Type.Object({ configs: Type.Array(TopicConfigDescription), ...KeyErrors, ...PageOutput })
export type DescribeConfigsOutput = Static<typeof DescribeConfigsOutput>
