import { Type } from 'typebox'
import { GROUP_ID_MAX_LENGTH, KEY_NAME_PATTERN, TOPIC_NAME_MAX_LENGTH } from '../lib/kafscale/names.ts'

// `errorMessage` is read by lib/schema.ts to word validation failures for people and LLMs.
// Names are those KafScale's broker creates: any characters, "/" and spaces included (see
// lib/kafscale/names.ts for why that is safe and what the pattern still refuses).

export const TopicName = Type.String({
  minLength: 1,
  maxLength: TOPIC_NAME_MAX_LENGTH,
  pattern: KEY_NAME_PATTERN,
  description: `A topic name as the cluster lists it: 1 to ${TOPIC_NAME_MAX_LENGTH} characters, any characters`,
  errorMessage: `must be a topic name: 1 to ${TOPIC_NAME_MAX_LENGTH} characters of well-formed Unicode`
})

export const GroupId = Type.String({
  minLength: 1,
  maxLength: GROUP_ID_MAX_LENGTH,
  pattern: KEY_NAME_PATTERN,
  description: 'Consumer group identifier',
  errorMessage: `must be a consumer group id: 1 to ${GROUP_ID_MAX_LENGTH} characters of well-formed Unicode`
})

/** An etcd key whose value could not be read, or that reads several ways: the rest of the answer still came. */
export const KeyErrors = {
  errors: Type.Optional(Type.Array(Type.Object({
    key: Type.String({ description: 'the etcd key' }),
    code: Type.String({ description: 'KSMCP_ERR_CORRUPT_VALUE (the value does not decode) or KSMCP_ERR_AMBIGUOUS_KEY (names with "/" make the key read several ways)' }),
    reason: Type.String()
  }), { description: 'keys left out of the answer, each with why; present only when there are some' })),
  errors_omitted: Type.Optional(Type.Integer({ description: 'further unreadable keys not listed, to keep the answer small' }))
}

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

/** How every per-broker entry starts: which broker, whether it answered, and if not, why. */
export function brokerOutcomeFields (errorDescription: string) {
  return {
    node_id: Type.Integer(),
    host: Type.String(),
    ok: Type.Boolean(),
    error: Type.Optional(Type.String({ description: errorDescription }))
  }
}
