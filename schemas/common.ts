import { Type } from 'typebox'
import { GROUP_ID_PATTERN, TOPIC_NAME_PATTERN } from '../lib/kafscale/names.ts'

// `errorMessage` is read by lib/schema.ts to word validation failures for people and LLMs.

export const TopicName = Type.String({
  pattern: TOPIC_NAME_PATTERN,
  description: 'A topic name: 1 to 249 characters from [A-Za-z0-9._-]',
  errorMessage: 'must be a topic name: 1 to 249 characters from [A-Za-z0-9._-], not "." or ".."'
})

export const GroupId = Type.String({
  minLength: 1,
  pattern: GROUP_ID_PATTERN,
  description: 'Consumer group identifier',
  errorMessage: 'must be a consumer group id: non-empty and without "/"'
})

export const TopicNameList = (description: string) =>
  Type.Optional(Type.Union([Type.Array(TopicName, { maxItems: 10000 }), Type.Null()], { description }))

export const ObservedAt = Type.String({ description: 'When the answer was assembled, RFC 3339 UTC with second precision' })

export const TopicSummary = Type.Object({
  name: Type.String(),
  partition_count: Type.Integer(),
  error_code: Type.Integer({ description: '0, or a Kafka error code (3 = unknown topic)' })
})

