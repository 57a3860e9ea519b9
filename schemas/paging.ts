import { Type } from 'typebox'
import { GROUP_ID_MAX_LENGTH, TOPIC_NAME_MAX_LENGTH } from '../lib/kafscale/names.ts'

/**
 * Optional paging inputs of a tool that can return a lot; a reference client sends none.
 * `prefix` matches names of `prefixLength` characters at most; a page ends on a key of
 * `keyLength` characters at most (core/paging.ts), which bounds the cursor that carries it.
 */
function pageInput (prefixLength: number, keyLength: number) {
  return {
    prefix: Type.Optional(Type.String({ maxLength: prefixLength, description: 'Only names starting with this' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'At most this many items' })),
    cursor: Type.Optional(Type.String({ maxLength: cursorLength(keyLength), contentEncoding: 'base64url', description: 'next_cursor of the previous answer, to continue' }))
  }
}

// A cursor is base64url of {"v":1,"after":KEY}; JSON writes one character of a key in 6
// bytes at most (a control character as \u0000).
function cursorLength (keyLength: number): number {
  return Math.ceil((6 * keyLength + 20) / 3) * 4
}

/** Pages keyed by topic name (describe_topics adds "\0" and a 6-digit index). */
export const TopicPageInput = pageInput(TOPIC_NAME_MAX_LENGTH, TOPIC_NAME_MAX_LENGTH + 8)
/** fetch_offsets pages by topic and a 10-digit partition. */
export const OffsetPageInput = pageInput(TOPIC_NAME_MAX_LENGTH, TOPIC_NAME_MAX_LENGTH + 11)
/** list_groups pages by group id. */
export const GroupPageInput = pageInput(GROUP_ID_MAX_LENGTH, GROUP_ID_MAX_LENGTH)
/** consumer_lag pages by a 21-digit lag rank, group id, topic and 10-digit partition; its prefix is a topic's. */
export const LagPageInput = pageInput(TOPIC_NAME_MAX_LENGTH, 21 + GROUP_ID_MAX_LENGTH + TOPIC_NAME_MAX_LENGTH + 13)

/** Present only when an answer stopped early (size cap or limit). */
export const PageOutput = {
  truncated: Type.Optional(Type.Literal(true, { description: 'the answer stopped early; call again with next_cursor' })),
  next_cursor: Type.Optional(Type.String())
}
