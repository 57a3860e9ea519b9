// HMAC keys from files, and canonical digests: what the audit chain and the plan seal share.

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ConfigError } from './errors.ts'

/** A key shorter than the HMAC's own output adds nothing an attacker could not guess faster. */
export const MIN_KEY_BYTES = 32

/** An HMAC key from its file (the audit chain's, the plan seal's): raw bytes, a trailing newline ignored, 32 bytes at least. */
export function loadSecretKey (path: string, what: string): Buffer {
  let raw: Buffer
  try {
    raw = readFileSync(path)
  } catch (err) {
    throw new ConfigError(`cannot read the ${what} file ${path}: ${(err as Error).message}`)
  }
  let end = raw.length
  while (end > 0 && (raw[end - 1] === 0x0a || raw[end - 1] === 0x0d)) end--
  if (end < MIN_KEY_BYTES) throw new ConfigError(`the ${what} file ${path} holds ${end} bytes; use at least ${MIN_KEY_BYTES} random bytes, e.g. openssl rand -base64 48 > ${path}`)
  return raw.subarray(0, end)
}

/** A value as canonical JSON (object keys sorted, list order kept): equal values give equal text. */
export function canonicalJson (value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical)
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
    return v
  }
  return JSON.stringify(canonical(value ?? null))
}

/** SHA-256 of a text, hex. */
export function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** SHA-256 of the value's canonical JSON. */
export function canonicalDigest (value: unknown): string {
  return sha256(canonicalJson(value))
}
