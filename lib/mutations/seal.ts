import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ConfigError } from '../errors.ts'

// Plans, approvals and confirmation states leave the service and come back through the caller
// (the model, its client). They are sealed with one HMAC key so any replica holding the key can
// verify them and nobody without it can make or alter one. Each kind is sealed in its own domain,
// so a plan can never pass for an approval.

const MIN_KEY_BYTES = 32
/** Tokens are short; a longer string is refused before any work. */
export const MAX_SEALED_CHARS = 8192

export type SealKind = 'plan' | 'approval' | 'confirmation'

export class Sealer {
  private readonly key: Buffer
  /** Whether the key is this process's own random one (plans do not survive a restart or cross replicas). */
  readonly ephemeral: boolean

  constructor (key?: Buffer) {
    this.ephemeral = key === undefined
    this.key = key ?? randomBytes(32)
  }

  seal (kind: SealKind, payload: object): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
    return `${kind}.${body}.${this.mac(kind, body)}`
  }

  /** The payload, or why the text is no token of this kind sealed with this key. */
  open (kind: SealKind, text: string): { payload: Record<string, unknown> } | { problem: string } {
    if (text.length > MAX_SEALED_CHARS) return { problem: `it is longer than ${MAX_SEALED_CHARS} characters` }
    const parts = text.split('.')
    if (parts.length !== 3 || parts[0] !== kind) return { problem: `it is not a ${kind} token of this service` }
    const [, body, mac] = parts as [string, string, string]
    const expected = Buffer.from(this.mac(kind, body))
    const given = Buffer.from(mac)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { problem: `its seal does not verify: it was altered, or made by a replica with another key${this.ephemeral ? ' (this replica has no KAFSCALE_MCP_PLAN_KEY_FILE, so only tokens it made since it started verify)' : ''}` }
    }
    try {
      const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown
      if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return { problem: 'its payload is not an object' }
      return { payload: payload as Record<string, unknown> }
    } catch {
      return { problem: 'its payload is not JSON' }
    }
  }

  private mac (kind: SealKind, body: string): string {
    return createHmac('sha256', this.key).update(`kafscale-mcp/${kind}/v1\n${body}`).digest('base64url')
  }
}

/** The plan key from its file (raw bytes, a trailing newline ignored), at least 32 bytes. */
export function loadPlanKey (path: string): Buffer {
  let raw: Buffer
  try {
    raw = readFileSync(path)
  } catch (err) {
    throw new ConfigError(`cannot read the plan key file ${path}: ${(err as Error).message}`)
  }
  let end = raw.length
  while (end > 0 && (raw[end - 1] === 0x0a || raw[end - 1] === 0x0d)) end--
  if (end < MIN_KEY_BYTES) throw new ConfigError(`the plan key file ${path} holds ${end} bytes; use at least ${MIN_KEY_BYTES} random bytes, e.g. openssl rand -base64 48 > ${path}`)
  return raw.subarray(0, end)
}

/** SHA-256 of a value in canonical JSON (object keys sorted): equal values digest equally. */
export function canonicalDigest (value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex')
}

export function canonicalJson (value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical)
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
    return v
  }
  return JSON.stringify(canonical(value ?? null))
}
