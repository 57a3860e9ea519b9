import { AmbiguousKeyError, CorruptValueError } from '../errors.ts'
import type { OffsetKeyReading } from '../kafscale/keys.ts'

/** A key left out of an answer: its value does not decode, or names with "/" make it read several ways. */
export interface KeyProblem {
  key: string
  code: string
  reason: string
}

/** The decoded value, or undefined with the key reported in `problems` (CorruptValueError's wording). */
export function decodeOrReport<T> (key: string, decode: () => T, problems: KeyProblem[]): T | undefined {
  try {
    return decode()
  } catch (err) {
    problems.push(corruptValue(key, (err as Error).message))
    return undefined
  }
}

export function corruptValue (key: string, reason: string): KeyProblem {
  const error = new CorruptValueError(key, reason)
  return { key, code: error.code, reason: error.message }
}

export function ambiguousKey (key: string, readings: readonly OffsetKeyReading[]): KeyProblem {
  const error = new AmbiguousKeyError(key, readings.map((r) => `group ${JSON.stringify(r.groupId)} topic ${JSON.stringify(r.topic)} partition ${r.partition}`).join(' or '))
  return { key, code: error.code, reason: error.message }
}

export function sortProblems (problems: KeyProblem[]): KeyProblem[] {
  return problems.sort((a, b) => compareStrings(a.key, b.key))
}

export function compareStrings (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
