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

/**
 * Names a caller may list in one call. Omitting the list means "all" and pages, so a long list
 * buys nothing; 1,000 keeps the largest valid body near 3 MB even with every character escaped.
 */
export const MAX_LISTED_NAMES = 1000

// `type: ["array", "null"]` rather than `anyOf`: a form-building client (MCP Inspector) reads
// the top-level `type` to offer a list editor. TypeBox has no builder for a type array, so the
// schema is written out; its compiler validates it like any other.
export const TopicNameList = (description: string) =>
  Type.Optional(Type.Unsafe<string[] | null>({ type: ['array', 'null'], items: TopicName, maxItems: MAX_LISTED_NAMES, description }))

export const ObservedAt = Type.String({ description: 'When the answer was assembled, RFC 3339 UTC with second precision' })

export const TopicSummary = Type.Object({
  name: Type.String(),
  partition_count: Type.Integer(),
  error_code: Type.Integer({ description: '0, or a Kafka error code (3 = unknown topic)' })
})

