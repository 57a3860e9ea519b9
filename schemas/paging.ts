import { Type } from 'typebox'

/** Optional paging inputs of every tool that can return a lot; a reference client sends none. */
export const PageInput = {
  prefix: Type.Optional(Type.String({ maxLength: 249, description: 'Only names starting with this' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'At most this many items' })),
  cursor: Type.Optional(Type.String({ maxLength: 1024, description: 'next_cursor of the previous answer, to continue' }))
}

/** Present only when an answer stopped early (size cap or limit). */
export const PageOutput = {
  truncated: Type.Optional(Type.Literal(true, { description: 'the answer stopped early; call again with next_cursor' })),
  next_cursor: Type.Optional(Type.String())
}
