import { createHmac } from 'node:crypto'
import { closeSync, fstatSync, fsync, openSync, readFileSync, readSync, renameSync, writeFileSync } from 'node:fs'
import { open, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { promisify } from 'node:util'
import { canonicalDigest, loadSecretKey, sha256 } from './crypto.ts'

// One JSON record per tool call (MCP or REST, allowed or denied, succeeded or failed).
//
// Wire formats (README, "Audit log"):
// - The audit file: one record per line, `{...record, "seq": N, "prev_hash": H(N-1)[,
//   "chain_resumed": {...}], "hash": H(N)}`, where `hash` is the digest of the line's exact text
//   without its `,"hash":…` suffix: SHA-256, or HMAC-SHA256 under the writer's key. `seq` counts
//   the records of the chain from 1; the first one's `prev_hash` is 64 zeros.
// - The checkpoint, a separate file replaced atomically after every append, sealed the same way:
//   `{"format":"kafscale-mcp-audit-checkpoint/1","chain":"sha256"|"hmac-sha256","records":N,
//   "head":H(N),"time":ISO,"hash":…}`. It is what lets verify see records cut from the end.

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
  /** Which step of a mutation this record is; absent for reads. */
  mutation?: MutationAuditFields
}

/**
 * A mutation leaves up to three kinds of record, tied by plan_id: `plan` (a dry run, or a plan
 * refused), `intent` (written durably right before the change is sent) and `outcome` (the
 * broker's answer, or why nothing was sent). `audit verify` pairs intents with outcomes.
 */
export interface MutationAuditFields {
  phase: 'plan' | 'intent' | 'outcome'
  plan_id: string
  result?: 'planned' | 'refused' | 'confirmation_requested' | 'declined' | 'applied' | 'failed'
  resource: string
  env: string
  before_sha256?: string
  broker_answer?: unknown
  confirmation?: unknown
  approval?: unknown
  break_glass?: { reason: string }
}

export interface AuditWriteOptions {
  /** Resolve only once the record is on stable storage (a mutation's intent). */
  durable?: boolean
}

export interface AuditSink {
  write: (record: AuditRecord, options?: AuditWriteOptions) => Promise<void>
}

export const GENESIS_HASH = '0'.repeat(64)
export const CHECKPOINT_FORMAT = 'kafscale-mcp-audit-checkpoint/1'
export type ChainAlgorithm = 'sha256' | 'hmac-sha256'
const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/
const HEX64 = /^[0-9a-f]{64}$/
/** Lines longer than this are not records (a record is a few KiB), so they are not buffered. */
const MAX_LINE_BYTES = 16 << 20
const TAIL_WINDOW_BYTES = 1 << 20

export function defaultCheckpointPath (auditFile: string): string {
  return `${auditFile}.checkpoint`
}

/** The HMAC key from its file: raw bytes, a trailing newline ignored. */
export function loadAuditKey (path: string): Buffer {
  return loadSecretKey(path, 'audit HMAC key')
}

/** Seals and opens the lines of the audit file and its checkpoint with one digest. */
class Seal {
  readonly algorithm: ChainAlgorithm
  private readonly key: Buffer | undefined

  constructor (key: Buffer | undefined) {
    this.key = key
    this.algorithm = key === undefined ? 'sha256' : 'hmac-sha256'
  }

  digest (text: string): string {
    return this.key === undefined ? sha256(text) : createHmac('sha256', this.key).update(text).digest('hex')
  }

  seal (body: string): { line: string, hash: string } {
    const hash = this.digest(body)
    return { line: `${body.slice(0, -1)},"hash":"${hash}"}`, hash }
  }

  open (line: string): { value: Record<string, unknown>, hash: string } | { problem: string } {
    const match = HASH_SUFFIX.exec(line)
    if (match === null) return { problem: 'not a chained audit record (no hash)' }
    const body = `${line.slice(0, match.index)}}`
    let value: unknown
    try {
      value = JSON.parse(body)
    } catch {
      return { problem: 'not JSON' }
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { problem: 'not a JSON object' }
    if (this.digest(body) !== match[1]) {
      const hint = this.key === undefined ? '' : ' (or it was written with another key, or without one)'
      return { problem: `its hash does not match its content: the record was altered${hint}` }
    }
    return { value: value as Record<string, unknown>, hash: match[1]! }
  }
}

// ---- reading the file ----

interface FileLine {
  number: number
  /** Undefined for a line longer than MAX_LINE_BYTES. */
  text: string | undefined
}

/** The file's lines, read in chunks so that a file of any size takes bounded memory. */
function * linesOf (path: string): Generator<FileLine> {
  const fd = openSync(path, 'r')
  try {
    const chunk = Buffer.alloc(1 << 20)
    let pieces: Buffer[] = []
    let pending = 0
    let number = 0
    const take = (last: Buffer): FileLine => {
      number++
      const text = pending + last.length > MAX_LINE_BYTES ? undefined : Buffer.concat([...pieces, last]).toString('utf8')
      pieces = []
      pending = 0
      return { number, text }
    }
    for (let n = readSync(fd, chunk, 0, chunk.length, null); n > 0; n = readSync(fd, chunk, 0, chunk.length, null)) {
      const view = chunk.subarray(0, n)
      let start = 0
      for (let nl = view.indexOf(0x0a, start); nl !== -1; nl = view.indexOf(0x0a, start)) {
        yield take(view.subarray(start, nl))
        start = nl + 1
      }
      const rest = view.subarray(start)
      pending += rest.length
      // Past the cap only the length matters: drop the bytes instead of holding them.
      pieces = pending > MAX_LINE_BYTES ? [] : [...pieces, Buffer.from(rest)]
    }
    if (pending > 0) yield take(Buffer.alloc(0))
  } finally {
    closeSync(fd)
  }
}

interface ChainLink {
  seq: number
  prevHash: string
  hash: string
  resumed?: ChainResumption
  mutation?: unknown
}

/** What the first record after a break says about it (written by the service, sealed like the rest). */
export interface ChainResumption {
  reason: string
  /** First and last line of the file that did not verify right before this record. */
  broken_lines?: [number, number]
}

function linkOf (line: FileLine, seal: Seal): ChainLink | { problem: string } {
  if (line.text === undefined) return { problem: `longer than ${MAX_LINE_BYTES} bytes: not an audit record` }
  if (line.text === '') return { problem: 'empty' }
  const opened = seal.open(line.text)
  if ('problem' in opened) return opened
  const { seq, prev_hash: prevHash, chain_resumed: resumed, mutation } = opened.value
  if (!Number.isSafeInteger(seq) || (seq as number) < 1 || typeof prevHash !== 'string' || !HEX64.test(prevHash)) {
    return { problem: 'not a chained audit record (no seq or prev_hash)' }
  }
  return { seq: seq as number, prevHash, hash: opened.hash, ...(isResumption(resumed) ? { resumed } : {}), ...(mutation !== undefined ? { mutation } : {}) }
}

function isResumption (value: unknown): value is ChainResumption {
  if (value === null || typeof value !== 'object') return false
  const { reason, broken_lines: lines } = value as Record<string, unknown>
  return typeof reason === 'string' && (lines === undefined || (Array.isArray(lines) && lines.length === 2 && lines.every(Number.isSafeInteger)))
}

// ---- the checkpoint ----

interface Checkpoint {
  records: number
  head: string
  time: string
}

type CheckpointRead = { state: 'missing' } | { state: 'invalid', problem: string, otherAlgorithm?: ChainAlgorithm } | { state: 'ok', checkpoint: Checkpoint }

function readCheckpoint (path: string, seal: Seal): CheckpointRead {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' }
    return { state: 'invalid', problem: `cannot be read: ${(err as Error).message}` }
  }
  const line = text.endsWith('\n') ? text.slice(0, -1) : text
  let chain: unknown
  try {
    chain = (JSON.parse(line) as { chain?: unknown }).chain
  } catch {
    return { state: 'invalid', problem: 'is not JSON' }
  }
  if ((chain === 'sha256' || chain === 'hmac-sha256') && chain !== seal.algorithm) {
    return { state: 'invalid', problem: `says the chain is sealed with ${chain}, not ${seal.algorithm}`, otherAlgorithm: chain }
  }
  const opened = seal.open(line)
  if ('problem' in opened) return { state: 'invalid', problem: opened.problem.replace('the record was altered', 'the checkpoint was altered') }
  const { format, records, head, time } = opened.value
  if (format !== CHECKPOINT_FORMAT || chain !== seal.algorithm || !Number.isSafeInteger(records) || (records as number) < 0 || typeof head !== 'string' || !HEX64.test(head) || typeof time !== 'string') {
    return { state: 'invalid', problem: `is not a ${CHECKPOINT_FORMAT} checkpoint` }
  }
  return { state: 'ok', checkpoint: { records: records as number, head, time } }
}

function checkpointText (seal: Seal, head: { seq: number, hash: string }): string {
  const body = JSON.stringify({ format: CHECKPOINT_FORMAT, chain: seal.algorithm, records: head.seq, head: head.hash, time: new Date().toISOString() })
  return `${seal.seal(body).line}\n`
}

/** How the chain's last record stands against the checkpoint; undefined when they agree. */
function checkpointMismatch (read: CheckpointRead, path: string, last: { seq: number, hash: string }): { ahead: boolean, problem: string } | undefined {
  if (read.state === 'missing') return { ahead: false, problem: `there is no checkpoint at ${path}: nothing shows whether records were removed from the end` }
  if (read.state === 'invalid') return { ahead: false, problem: `the checkpoint ${path} ${read.problem}` }
  const { records, head, time } = read.checkpoint
  if (records > last.seq) return { ahead: false, problem: `the checkpoint (${time}) recorded ${records} records, the chain ends at record ${last.seq}: records were removed from the end, or the file was replaced by an older copy` }
  if (records < last.seq) return { ahead: true, problem: `the chain holds ${last.seq} records, the checkpoint (${time}) recorded ${records}: the last records were written while the checkpoint could not be updated, or added by someone else` }
  if (head !== last.hash) return { ahead: false, problem: `the chain's last record is not the one the checkpoint (${time}) recorded: the chain was rewritten` }
  return undefined
}

// ---- mutations: each intent followed by its outcome ----

export interface MutationFinding {
  /** 1-based line of the record. */
  line: number
  plan_id: string
  problem: string
}

/** Outcomes that say the change was sent to a broker: only these need the intent written before sending. */
const SENT = new Set(['applied', 'failed'])
export const DANGLING_INTENT = 'intent without outcome: the service stopped or the broker\'s answer was lost — check the broker'

/** Reads the mutation records in file order, pairing each outcome with the earliest open intent of its plan. */
class MutationPairing {
  readonly orphans: MutationFinding[] = []
  /** plan_id → lines of its intents that no outcome has followed yet. */
  private readonly open = new Map<string, number[]>()

  /** Other phases (plans, approvals) and outcomes without a plan (a token that did not open) pair with nothing. */
  see (line: number, mutation: unknown): void {
    const { phase, plan_id: planId, result } = (mutation ?? {}) as Record<string, unknown>
    if (typeof planId !== 'string') return
    if (phase === 'intent') {
      this.open.set(planId, [...(this.open.get(planId) ?? []), line])
    } else if (phase === 'outcome') {
      const intents = this.open.get(planId)
      if (intents !== undefined) {
        if (intents.length === 1) this.open.delete(planId)
        else intents.shift()
      } else if (SENT.has(result as string)) {
        this.orphans.push({ line, plan_id: planId, problem: `outcome "${String(result ?? 'unknown')}" whose intent is missing: the change was sent with no intent record before it` })
      }
    }
  }

  dangling (): MutationFinding[] {
    return [...this.open].flatMap(([planId, lines]) => lines.map((line) => ({ line, plan_id: planId, problem: DANGLING_INTENT }))).sort((a, b) => a.line - b.line)
  }
}

// ---- verify ----

export interface VerifyOptions {
  /** The HMAC key the file was written with; without it only a SHA-256 chain verifies. */
  key?: Buffer
  checkpointPath?: string
}

export interface Resumption {
  /** 1-based line of the record that resumed the chain. */
  line: number
  reason: string
  brokenLines?: [number, number]
}

export interface VerifyResult {
  /** True when every line is explained (chained records, and breaks the service itself reported) and every change sent has its intent. */
  ok: boolean
  /** Records of the chain verified (before the first problem when not ok). */
  records: number
  /** 1-based line of the first record that breaks the chain (absent for a checkpoint problem). */
  brokenLine?: number
  reason?: string
  /** Where the service resumed the chain after a broken record or a missing tail, oldest first. */
  resumptions?: Resumption[]
  /** Mutation outcomes of a change sent with no intent before them; any one makes the file not ok. */
  orphanOutcomes?: MutationFinding[]
  /** Mutation intents no outcome followed: warnings, the file can still be ok. */
  danglingIntents?: MutationFinding[]
}

/** Checks the chain line by line, then its end against the checkpoint, then the mutations' intents and outcomes. Throws when the file cannot be read. */
export function verifyAuditFile (path: string, options: VerifyOptions = {}): VerifyResult {
  const seal = new Seal(options.key)
  const checkpointPath = options.checkpointPath ?? defaultCheckpointPath(path)
  const checkpoint = readCheckpoint(checkpointPath, seal)
  // Checked first: a wrong key would otherwise show up as an "altered" first record.
  if (checkpoint.state === 'invalid' && checkpoint.otherAlgorithm !== undefined) {
    const fix = checkpoint.otherAlgorithm === 'hmac-sha256' ? 'verify with the key it was written with (--audit-hmac-key-file)' : 'verify without a key'
    return { ok: false, records: 0, reason: `the checkpoint ${checkpointPath} ${checkpoint.problem}: ${fix}` }
  }
  let last = { seq: 0, hash: GENESIS_HASH }
  let broken: { from: number, to: number, problem: string } | undefined
  const resumptions: Resumption[] = []
  const mutations = new MutationPairing()
  const fail = (line: number, reason: string): VerifyResult => ({ ok: false, records: last.seq, brokenLine: line, reason })
  for (const line of linesOf(path)) {
    const link = linkOf(line, seal)
    if ('problem' in link) {
      broken = { from: broken?.from ?? line.number, to: line.number, problem: broken?.problem ?? link.problem }
      continue
    }
    if (link.resumed !== undefined) {
      const claimed = link.resumed.broken_lines
      if (broken !== undefined && (claimed?.[0] !== broken.from || claimed[1] !== broken.to)) return fail(broken.from, broken.problem)
      if (broken === undefined && claimed !== undefined) return fail(line.number, `it says lines ${claimed[0]}–${claimed[1]} before it are broken, but they are not: the file was altered`)
      resumptions.push({ line: line.number, reason: link.resumed.reason, ...(claimed !== undefined ? { brokenLines: claimed } : {}) })
    } else if (broken !== undefined) {
      return fail(broken.from, broken.problem)
    }
    if (link.prevHash !== last.hash) return fail(line.number, 'its prev_hash is not the previous record\'s hash: a record was removed, inserted or reordered')
    if (link.seq !== last.seq + 1) return fail(line.number, `its seq is ${link.seq}, not ${last.seq + 1}: the chain was renumbered`)
    last = { seq: link.seq, hash: link.hash }
    broken = undefined
    if (link.mutation !== undefined) mutations.see(line.number, link.mutation)
  }
  if (broken !== undefined) return fail(broken.from, `${broken.problem} (a broken end of the file; the service resumes the chain after it when it starts)`)
  const mismatch = checkpointMismatch(checkpoint, checkpointPath, last)
  if (mismatch !== undefined) return { ok: false, records: last.seq, reason: mismatch.problem }
  const { orphans } = mutations
  const dangling = mutations.dangling()
  const findings = {
    ...(resumptions.length > 0 ? { resumptions } : {}),
    ...(orphans.length > 0 ? { orphanOutcomes: orphans } : {}),
    ...(dangling.length > 0 ? { danglingIntents: dangling } : {})
  }
  if (orphans.length > 0) return { ok: false, records: last.seq, reason: `line ${orphans[0]!.line}: plan ${JSON.stringify(orphans[0]!.plan_id)}: ${orphans[0]!.problem}`, ...findings }
  return { ok: true, records: last.seq, ...findings }
}

// ---- the writer ----

export interface ChainedFileOptions {
  path: string
  /** Default: the audit file's path + ".checkpoint". */
  checkpointPath?: string
  key?: Buffer
}

interface ChainStart {
  head: { seq: number, hash: string }
  /** The file ends without a newline (a torn write): the next record must start a line. */
  needsNewline: boolean
  resumption?: ChainResumption
}

/** Finds where to continue: quickly from the last line when it matches the checkpoint, else by reading the file. */
function openChain (path: string, checkpointPath: string, seal: Seal): ChainStart {
  const checkpoint = readCheckpoint(checkpointPath, seal)
  const tail = lastLineOf(path)
  if (tail.size === 0) {
    if (checkpoint.state === 'missing' || (checkpoint.state === 'ok' && checkpoint.checkpoint.records === 0)) return { head: { seq: 0, hash: GENESIS_HASH }, needsNewline: false }
    const problem = checkpointMismatch(checkpoint, checkpointPath, { seq: 0, hash: GENESIS_HASH })!.problem
    return { head: { seq: 0, hash: GENESIS_HASH }, needsNewline: false, resumption: { reason: `the audit file is empty or missing; ${problem}` } }
  }
  if (tail.line !== undefined && checkpoint.state === 'ok') {
    const link = linkOf({ number: 0, text: tail.line }, seal)
    if (!('problem' in link) && tail.endsWithNewline && checkpointMismatch(checkpoint, checkpointPath, link) === undefined) return { head: { seq: link.seq, hash: link.hash }, needsNewline: false }
  }
  let last = { seq: 0, hash: GENESIS_HASH }
  let broken: { from: number, to: number, problem: string } | undefined
  const wanted = checkpoint.state === 'ok' ? checkpoint.checkpoint.records : -1
  let hashAtCheckpoint = wanted === 0 ? GENESIS_HASH : undefined
  for (const line of linesOf(path)) {
    const link = linkOf(line, seal)
    if ('problem' in link) {
      broken = { from: broken?.from ?? line.number, to: line.number, problem: broken?.problem ?? link.problem }
      continue
    }
    last = { seq: link.seq, hash: link.hash }
    broken = undefined
    if (link.seq === wanted) hashAtCheckpoint = link.hash
  }
  const problems: string[] = []
  if (broken !== undefined) {
    problems.push(`the end of the file did not verify (line ${broken.from}: ${broken.problem})`)
  }
  const mismatch = checkpointMismatch(checkpoint, checkpointPath, last)
  // Records past a checkpoint that names one of them are a crash between append and checkpoint.
  if (mismatch !== undefined && !(mismatch.ahead && checkpoint.state === 'ok' && hashAtCheckpoint === checkpoint.checkpoint.head)) problems.push(mismatch.problem)
  const start: ChainStart = { head: last, needsNewline: !tail.endsWithNewline }
  if (problems.length > 0) start.resumption = { reason: problems.join('; '), ...(broken !== undefined ? { broken_lines: [broken.from, broken.to] } : {}) }
  return start
}

function lastLineOf (path: string): { size: number, line?: string, endsWithNewline: boolean } {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { size: 0, endsWithNewline: true }
    throw err
  }
  try {
    const size = fstatSync(fd).size
    const length = Math.min(size, TAIL_WINDOW_BYTES)
    const buf = Buffer.alloc(length)
    readSync(fd, buf, 0, length, size - length)
    const endsWithNewline = length === 0 || buf[length - 1] === 0x0a
    const text = buf.toString('utf8', 0, endsWithNewline ? Math.max(length - 1, 0) : length)
    const start = text.lastIndexOf('\n')
    // Without a line start inside the window the last line is longer than it: let the full read judge it.
    if (start === -1 && length < size) return { size, endsWithNewline }
    return { size, line: text.slice(start + 1), endsWithNewline }
  } finally {
    closeSync(fd)
  }
}

/** The chained audit file: appends are serialised, and the checkpoint follows every append. */
export class ChainedFileAuditSink implements AuditSink {
  readonly path: string
  readonly checkpointPath: string
  /** Why the chain does not simply continue (a broken end, a missing tail): the next record says it too. */
  readonly resumption: ChainResumption | undefined
  private pendingResumption: ChainResumption | undefined
  private readonly seal: Seal
  private head: { seq: number, hash: string }
  private needsNewline: boolean
  private directorySynced = false
  private queue: Promise<void> = Promise.resolve()

  constructor (options: ChainedFileOptions) {
    this.path = options.path
    this.checkpointPath = options.checkpointPath ?? defaultCheckpointPath(options.path)
    this.seal = new Seal(options.key)
    const start = openChain(this.path, this.checkpointPath, this.seal)
    this.head = start.head
    this.needsNewline = start.needsNewline
    this.resumption = this.pendingResumption = start.resumption
    // A fresh chain, or one whose checkpoint lagged behind a crash: make the checkpoint true now.
    if (start.resumption === undefined) this.writeCheckpointSync()
  }

  async write (record: AuditRecord, { durable = false }: AuditWriteOptions = {}): Promise<void> {
    const next = this.queue.then(async () => {
      const resumed = this.pendingResumption
      const body = JSON.stringify({ ...record, seq: this.head.seq + 1, prev_hash: this.head.hash, ...(resumed !== undefined ? { chain_resumed: resumed } : {}) })
      const { line, hash } = this.seal.seal(body)
      const file = await open(this.path, 'a')
      try {
        await file.appendFile(`${this.needsNewline ? '\n' : ''}${line}\n`)
        // The line is in the file even if the sync below fails: the next record must chain to it.
        this.needsNewline = false
        this.pendingResumption = undefined
        this.head = { seq: this.head.seq + 1, hash }
        if (durable) await file.sync()
      } finally {
        await file.close()
      }
      if (durable && !this.directorySynced) {
        // The file may be new: without its directory entry on disk, a crash loses the synced record.
        await syncDirectory(dirname(this.path))
        this.directorySynced = true
      }
      await this.replaceCheckpoint(durable)
    })
    this.queue = next.catch(() => {})
    await next
  }

  /**
   * Write then rename: a reader (or a crash) sees the old checkpoint or the new one, never half.
   * A durable write also syncs the new checkpoint before the rename, else a crash could leave the
   * renamed file empty. The rename itself is not synced: a crash may bring the old checkpoint back,
   * which the next start takes for records written after the checkpoint, not for a break.
   */
  private async replaceCheckpoint (durable: boolean): Promise<void> {
    const temporary = `${this.checkpointPath}.tmp`
    if (durable) {
      const file = await open(temporary, 'w')
      try {
        await file.writeFile(checkpointText(this.seal, this.head))
        await file.sync()
      } finally {
        await file.close()
      }
    } else {
      await writeFile(temporary, checkpointText(this.seal, this.head))
    }
    await rename(temporary, this.checkpointPath)
  }

  private writeCheckpointSync (): void {
    const temporary = `${this.checkpointPath}.tmp`
    writeFileSync(temporary, checkpointText(this.seal, this.head))
    renameSync(temporary, this.checkpointPath)
  }
}

async function syncDirectory (path: string): Promise<void> {
  const directory = await open(path, 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}

const fsyncFd = promisify(fsync)

/**
 * A record the write callback accepted is with the kernel: a pipe's reader (the log collector)
 * owns it from there. Only stdout redirected to a file can be synced, and a durable write does.
 */
export class StdoutAuditSink implements AuditSink {
  private stdoutIsFile: boolean | undefined

  constructor () {
    guardStdout()
  }

  async write (record: AuditRecord, { durable = false }: AuditWriteOptions = {}): Promise<void> {
    await new Promise<void>((resolve, reject) => process.stdout.write(`${JSON.stringify(record)}\n`, (err) => { err == null ? resolve() : reject(err) }))
    if (durable && (this.stdoutIsFile ??= fstatSync(process.stdout.fd).isFile())) await fsyncFd(process.stdout.fd)
  }
}

let stdoutGuarded = false
/**
 * A failed write to stdout (a full disk, a closed pipe) reaches the write's callback, and so the
 * caller as a failed record, and then the stream's 'error' event, which with no listener ends
 * the process. The callback has said everything: the event is only kept from killing the service.
 */
function guardStdout (): void {
  if (stdoutGuarded) return
  process.stdout.on('error', () => {})
  stdoutGuarded = true
}

// ---- what a record keeps of the arguments ----

const SECRET_KEY = /pass(word)?|secret|token|credential|authorization|api[-_]?key|private/i

/** What the audit keeps of a call's arguments; arguments_sha256 covers all of them. */
export const ARGUMENT_LIMITS = { depth: 8, stringChars: 256, entriesPerContainer: 100, entries: 1000, bytes: 8192 }
/** Room kept for the markers that close each cut container (at most one per level). */
const MARKER_RESERVE = (ARGUMENT_LIMITS.depth + 2) * 48
export const MORE_KEYS = '…'

/**
 * Arguments as they may be stored: secret-looking fields hidden, and bounded in depth, string
 * length, entries per object or array, entries in all and serialised bytes. Every cut is marked
 * where it happened: a string ends in "…", an array ends with "[N more items not recorded]", an
 * object gets the key "…" with "[N more keys not recorded]", too deep a value is "[too deep]".
 */
export function redact (value: unknown): unknown {
  return bounded(value, 0, { entries: ARGUMENT_LIMITS.entries, bytes: ARGUMENT_LIMITS.bytes - MARKER_RESERVE })
}

/** A caller-supplied string as a record keeps it: at most ARGUMENT_LIMITS.stringChars characters, a cut marked "…". */
export function boundedText (text: string): string {
  return text.length > ARGUMENT_LIMITS.stringChars ? `${text.slice(0, ARGUMENT_LIMITS.stringChars)}…` : text
}

/** The mutation fields as a record keeps them: strings bounded like the caller's, everything else redacted like arguments. */
function boundedMutation (fields: MutationAuditFields): MutationAuditFields {
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, typeof value === 'string' ? boundedText(value) : redact(value)])) as unknown as MutationAuditFields
}

function bounded (value: unknown, depth: number, budget: { entries: number, bytes: number }): unknown {
  if (depth > ARGUMENT_LIMITS.depth) return scalar('[too deep]', budget)
  if (typeof value === 'string') return scalar(boundedText(value), budget)
  if (value === null || typeof value !== 'object') return scalar(value, budget)
  budget.bytes -= 2
  if (Array.isArray(value)) {
    const out: unknown[] = []
    for (const item of value) {
      if (!room(out.length, budget)) {
        out.push(`[${value.length - out.length} more items not recorded]`)
        break
      }
      out.push(bounded(item, depth + 1, budget))
    }
    return out
  }
  // Collected once: an object's keys cannot be counted without listing them.
  const keys = Object.keys(value)
  const out: Record<string, unknown> = {}
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    if (!room(i, budget) || (budget.bytes -= Buffer.byteLength(JSON.stringify(key)) + 2) < 0) {
      out[MORE_KEYS] = `[${keys.length - i} more keys not recorded]`
      break
    }
    out[key] = SECRET_KEY.test(key) ? scalar('[redacted]', budget) : bounded((value as Record<string, unknown>)[key], depth + 1, budget)
  }
  return out
}

function room (taken: number, budget: { entries: number, bytes: number }): boolean {
  if (taken >= ARGUMENT_LIMITS.entriesPerContainer || budget.entries <= 0 || budget.bytes <= 0) return false
  budget.entries--
  return true
}

/** A leaf, or "[not recorded]" when it would overrun the byte budget. */
function scalar (value: unknown, budget: { bytes: number }): unknown {
  const cost = Buffer.byteLength(JSON.stringify(value) ?? 'null')
  if (cost > budget.bytes) return '[not recorded]'
  budget.bytes -= cost
  return value
}

/** SHA-256 of the arguments in canonical JSON (keys sorted), so equal calls digest equally. */
export function digestArguments (value: unknown): string {
  return canonicalDigest(value ?? {})
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

  /**
   * Writes to every sink; false when any failed (the caller decides whether to withhold). With
   * `durable`, true means every sink has the record on stable storage: a mutation sends its
   * change only then.
   */
  async record (record: AuditRecord, options: AuditWriteOptions = {}): Promise<boolean> {
    const kept = record.mutation === undefined ? record : { ...record, mutation: boundedMutation(record.mutation) }
    const results = await Promise.allSettled(this.sinks.map(async (sink) => { await sink.write(kept, options) }))
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
