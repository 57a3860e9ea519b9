import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, statSync, readFileSync } from 'node:fs'
import { appendFile } from 'node:fs/promises'

// One JSON record per tool call (MCP or REST, allowed or denied, succeeded or failed). The
// file sink chains records: each carries the previous record's hash and its own, computed over
// its exact line without the hash field, so an edited, removed or reordered record breaks
// the chain at that line.

export interface AuditRecord {
  time: string
  request_id: string
  transport: 'mcp' | 'rest' | 'stdio'
  principal: { id: string, sub: string, iss?: string, client_id?: string, client_name?: string, client_version?: string }
  roles: string[]
  tool: string
  arguments: unknown
  arguments_sha256: string
  decision: 'allow' | 'deny'
  rule: string
  outcome: 'ok' | 'error' | 'denied'
  error_code?: string
  duration_ms: number
  /** What a mutation changed (before/after); null for reads. */
  diff: unknown
}

export interface AuditSink {
  write: (record: AuditRecord) => Promise<void>
}

export const GENESIS_HASH = '0'.repeat(64)
const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/

function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

export class StdoutAuditSink implements AuditSink {
  async write (record: AuditRecord): Promise<void> {
    await new Promise<void>((resolve, reject) => process.stdout.write(`${JSON.stringify(record)}\n`, (err) => { err == null ? resolve() : reject(err) }))
  }
}

export class ChainedFileAuditSink implements AuditSink {
  private readonly path: string
  private lastHash: string
  private queue: Promise<void> = Promise.resolve()

  constructor (path: string) {
    this.path = path
    this.lastHash = lastHashOf(path)
  }

  async write (record: AuditRecord): Promise<void> {
    // Appends are serialised so that each record chains to the one before it.
    const next = this.queue.then(async () => {
      const body = JSON.stringify({ ...record, prev_hash: this.lastHash })
      const hash = sha256(body)
      await appendFile(this.path, `${body.slice(0, -1)},"hash":"${hash}"}\n`, { flag: 'a' })
      this.lastHash = hash
    })
    this.queue = next.catch(() => {})
    await next
  }
}

/** The hash of the file's last record, so a restarted service continues the chain. */
function lastHashOf (path: string): string {
  let size: number
  try {
    size = statSync(path).size
  } catch {
    return GENESIS_HASH
  }
  if (size === 0) return GENESIS_HASH
  const length = Math.min(size, 1 << 20)
  const buf = Buffer.alloc(length)
  const fd = openSync(path, 'r')
  try {
    readSync(fd, buf, 0, length, size - length)
  } finally {
    closeSync(fd)
  }
  const lines = buf.toString('utf8').trimEnd().split('\n')
  const match = HASH_SUFFIX.exec(lines.at(-1) ?? '')
  if (match === null) throw new Error(`audit file ${path}: its last line is not a chained audit record; refusing to append`)
  return match[1]!
}

export interface VerifyResult {
  ok: boolean
  records: number
  /** 1-based line of the first record that breaks the chain. */
  brokenLine?: number
  reason?: string
}

export function verifyAuditFile (path: string): VerifyResult {
  const lines = readFileSync(path, 'utf8').split('\n')
  if (lines.at(-1) === '') lines.pop()
  let prev = GENESIS_HASH
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const broken = (reason: string): VerifyResult => ({ ok: false, records: i, brokenLine: i + 1, reason })
    const match = HASH_SUFFIX.exec(line)
    if (match === null) return broken('not a chained audit record (no hash)')
    const body = `${line.slice(0, match.index)}}`
    let parsed: { prev_hash?: unknown }
    try {
      parsed = JSON.parse(body) as { prev_hash?: unknown }
    } catch {
      return broken('not JSON')
    }
    if (sha256(body) !== match[1]) return broken('its hash does not match its content: the record was altered')
    if (parsed.prev_hash !== prev) return broken('its prev_hash is not the previous record\'s hash: a record was removed, inserted or reordered')
    prev = match[1]!
  }
  return { ok: true, records: lines.length }
}

const SECRET_KEY = /pass(word)?|secret|token|credential|authorization|api[-_]?key|private/i

/** Arguments as they may be stored: secret-looking fields hidden, long strings cut. */
export function redact (value: unknown, depth = 0): unknown {
  if (depth > 8) return '[too deep]'
  if (typeof value === 'string') return value.length > 256 ? `${value.slice(0, 256)}…` : value
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => redact(v, depth + 1))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1)]))
  }
  return value
}

/** SHA-256 of the arguments in canonical JSON (keys sorted), so equal calls digest equally. */
export function digestArguments (value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical)
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
    return v
  }
  return sha256(JSON.stringify(canonical(value ?? {})))
}

export class AuditLog {
  private readonly sinks: AuditSink[]
  readonly failClosedForReads: boolean
  private readonly onError: (err: Error) => void

  constructor (sinks: AuditSink[], options: { failClosedForReads: boolean, onError: (err: Error) => void }) {
    this.sinks = sinks
    this.failClosedForReads = options.failClosedForReads
    this.onError = options.onError
  }

  get enabled (): boolean {
    return this.sinks.length > 0
  }

  /** Writes to every sink; false when any failed (the caller decides whether to withhold). */
  async record (record: AuditRecord): Promise<boolean> {
    const results = await Promise.allSettled(this.sinks.map(async (sink) => { await sink.write(record) }))
    let ok = true
    for (const r of results) {
      if (r.status === 'rejected') {
        ok = false
        this.onError(r.reason as Error)
      }
    }
    return ok
  }
}
