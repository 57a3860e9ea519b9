import type { KeyProblem } from '../lib/store/kafscale-store.ts'

// A few listed keys say what is wrong; thousands would crowd out the answer itself.
const MAX_LISTED_KEYS = 50

/** The `errors` fields of an answer: absent when every key could be read. */
export function keyErrors (problems: readonly KeyProblem[]): { errors?: KeyProblem[], errors_omitted?: number } {
  if (problems.length === 0) return {}
  const listed = problems.slice(0, MAX_LISTED_KEYS)
  return { errors: listed, ...(problems.length > listed.length ? { errors_omitted: problems.length - listed.length } : {}) }
}

/** Characters the `errors` fields take in an answer's JSON, for the pager's budget. */
export function keyErrorsChars (fields: ReturnType<typeof keyErrors>): number {
  return fields.errors === undefined ? 0 : JSON.stringify(fields).length
}
