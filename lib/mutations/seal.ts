import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { loadSecretKey } from '../crypto.ts'

export { canonicalDigest, canonicalJson } from '../crypto.ts'

// Plans, approvals and confirmation states leave the service and come back through the caller
// (the model, its client). They are sealed with one HMAC key so any replica holding the key can
// verify them and nobody without it can make or alter one. Each kind is sealed in its own domain,
// so a plan can never pass for an approval.

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
  return loadSecretKey(path, 'plan key')
}
