import { Type } from 'typebox'

/** Optional paging inputs of every tool that can return a lot; a reference client sends none. */
export const PageInput = {
  prefix: Type.Optional(Type.String({ maxLength: 249, description: 'Only names starting with this' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'At most this many items' })),
  // A cursor carries the last key of a page (group id, topic name, partition), base64 of JSON:
  // room for the longest names written in the widest characters.
  cursor: Type.Optional(Type.String({ maxLength: 8192, description: 'next_cursor of the previous answer, to continue' }))
}

/** Present only when an answer stopped early (size cap or limit). */
export const PageOutput = {
  truncated: Type.Optional(Type.Literal(true, { description: 'the answer stopped early; call again with next_cursor' })),
  next_cursor: Type.Optional(Type.String())
}
