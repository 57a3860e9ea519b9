// Helpers that read JSON the way Go's encoding/json fills a struct without json tags:
// keys match case-insensitively, missing keys and null leave the zero value, and a wrong
// scalar type is an error (contract §2.3). `path` names the field in every error.

export class GoJsonError extends Error {}

export type JsonObject = Record<string, unknown>

export function field (obj: JsonObject, name: string): unknown {
  if (name in obj) return obj[name]
  const lower = name.toLowerCase()
  for (const key of Object.keys(obj)) {
    if (key.toLowerCase() === lower) return obj[key]
  }
  return undefined
}

export function asObject (value: unknown, path: string): JsonObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new GoJsonError(`${path}: expected an object, got ${describe(value)}`)
  }
  return value as JsonObject
}

export function asArrayOrNull (value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw new GoJsonError(`${path}: expected an array, got ${describe(value)}`)
  return value
}

export function asInt (value: unknown, path: string, bits: 16 | 32 | 64): number {
  if (value === undefined || value === null) return 0
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new GoJsonError(`${path}: expected an int${bits}, got ${describe(value)}`)
  }
  const limit = 2 ** (bits - 1)
  if (value < -limit || value >= limit) throw new GoJsonError(`${path}: ${value} overflows int${bits}`)
  return value
}

export function asStringOrNull (value: unknown, path: string): string | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string') throw new GoJsonError(`${path}: expected a string, got ${describe(value)}`)
  return value
}

export function asBool (value: unknown, path: string): boolean {
  if (value === undefined || value === null) return false
  if (typeof value !== 'boolean') throw new GoJsonError(`${path}: expected a bool, got ${describe(value)}`)
  return value
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`
  return `${typeof value} ${typeof value === 'object' ? '' : String(value)}`.trim()
}

/** JSON.stringify plus Go's extra escapes, so the bytes equal Go's json.Marshal output. */
export function goJsonStringify (value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
