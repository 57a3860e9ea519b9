import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { verifyAuditFile } from '../lib/audit.ts'
import { spawnServer, type ServerProcess } from './helpers/bin.ts'

// Malformed and adversarial requests against the real binary (demo cluster, audit file) over
// /mcp, the REST mirror and the legacy /messages endpoint. What must hold for every one of them:
// no 5xx unless a dependency is unavailable, no JSON-RPC "Internal error", /messages never
// accepts what is not a JSON-RPC message, the process stays up, its memory comes back, and the
// audit chain stays intact. The generator is seeded: FUZZ_SEED=<n> replays a run,
// FUZZ_SEED=random explores a new one. Each finding names the request index and the request.

const SEED = process.env.FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED ?? 20261201)
const REQUESTS = 2000
const BATCH = 50
const CONCURRENCY = 8
const RSS_GROWTH_LIMIT = 50 * 1024 * 1024
/**
 * A server may answer 413 to a large body and close the connection before reading all of it;
 * the client then sees a reset instead of the answer. Below this size a reset is a finding.
 */
const EARLY_CLOSE_BYTES = 64 * 1024
/** Only tells a hung request from a slow machine; no answer time is asserted. */
const HANG_BOUND_MS = 20_000

// The 5xx answers a client may get through no fault of its own: a dependency is unavailable.
const UNAVAILABLE_CODES = new Set([
  'KSMCP_ERR_STORE_NOT_CONFIGURED', 'KSMCP_ERR_SNAPSHOT_UNAVAILABLE', 'KSMCP_ERR_ETCD_UNAVAILABLE', 'KSMCP_ERR_ETCD_TIMEOUT',
  'KSMCP_ERR_METRICS_NOT_CONFIGURED', 'KSMCP_ERR_METRICS_FAILED', 'KSMCP_ERR_METRICS_TIMEOUT',
  'KSMCP_ERR_AUTH_UNAVAILABLE', 'KSMCP_ERR_AUDIT_UNAVAILABLE', 'KSMCP_ERR_TOO_MANY_SESSIONS'
])
const JSON_RPC_INTERNAL_ERROR = -32603

// ---- seeded randomness --------------------------------------------------------------------

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
class Rng {
  private state: number
  constructor (seed: number) { this.state = seed >>> 0 }
  next (): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let x = this.state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32
  }

  int (n: number): number { return Math.floor(this.next() * n) }
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)]! }
  /** Picks by weight: `[[weight, value], …]`. */
  weighted<T> (choices: ReadonlyArray<readonly [number, T]>): T {
    let roll = this.next() * choices.reduce((sum, [w]) => sum + w, 0)
    for (const [w, value] of choices) if ((roll -= w) < 0) return value
    return choices.at(-1)![1]
  }
}

// ---- what a valid request looks like (the demo cluster's names) ---------------------------

const TOOL_ARGUMENTS: Record<string, Record<string, unknown>> = {
  list_topics: { prefix: 'o', limit: 2 },
  describe_topics: { names: ['orders', 'payments'] },
  describe_configs: { topics: ['orders'] },
  list_groups: {},
  describe_group: { group_id: 'billing' },
  fetch_offsets: { group_id: 'billing', topics: ['orders'] },
  consumer_lag: { group_id: 'billing' },
  cluster_status: {},
  cluster_health: {},
  cluster_metrics: {}
}
const TOOLS = Object.keys(TOOL_ARGUMENTS)

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
interface RpcCall { method: string, params: Record<string, Json> }

const RPC_CALLS: Array<(rng: Rng) => RpcCall> = [
  () => ({ method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'fuzz', version: '1.0.0' } } }),
  () => ({ method: 'ping', params: {} }),
  () => ({ method: 'server/discover', params: {} }),
  () => ({ method: 'tools/list', params: {} }),
  (rng) => { const name = rng.pick(TOOLS); return { method: 'tools/call', params: { name, arguments: structuredClone(TOOL_ARGUMENTS[name]!) as Json } } },
  () => ({ method: 'resources/list', params: {} }),
  () => ({ method: 'resources/templates/list', params: {} }),
  (rng) => ({ method: 'resources/read', params: { uri: rng.pick(['kafscale://cluster', 'kafscale://topics/orders', 'kafscale://groups/billing']) } }),
  () => ({ method: 'prompts/list', params: {} }),
  (rng) => rng.pick<RpcCall>([
    { method: 'prompts/get', params: { name: 'diagnose-consumer-lag', arguments: { group: 'billing' } } },
    { method: 'prompts/get', params: { name: 'cluster-health-report', arguments: {} } }
  ])
]

// Wrong in ways a validator must catch, per method (the generic mutations below cover the rest).
const BAD_PARAMS: Record<string, Json[]> = {
  initialize: [{ protocolVersion: 1 }, { protocolVersion: '1999-01-01', capabilities: 'all', clientInfo: null }, { capabilities: {}, clientInfo: { name: 1 } }, []],
  'tools/list': [{ cursor: 1 }, { cursor: 'not-a-cursor' }, []],
  'tools/call': [{ name: 'no_such_tool', arguments: {} }, { name: 'list_topics', arguments: [] }, { name: 'list_topics', arguments: 'x' }, { arguments: {} },
    { name: '__proto__', arguments: {} }, { name: 'constructor' }, { name: 'toString', arguments: {} }, { name: 'describe_group', arguments: { group_id: 'a/b' } },
    { name: 'describe_topics', arguments: { names: ['/', '..', ''] } }, { name: 'list_topics', arguments: { limit: -1, cursor: 'bm9wZQ' } }],
  'resources/read': [{ uri: 'kafscale://groups/no-such-group' }, { uri: 'kafscale://topics/no-such-topic' }, { uri: 'kafscale://topics/a%2Fb' },
    { uri: 'kafscale://topics/' }, { uri: 'kafscale://groups/a/b' }, { uri: 'kafscale://topics/%E0%A4%A' }, { uri: 'not a uri' }, { uri: 'http://example.com/' },
    { uri: 1 }, {}, { uri: `kafscale://topics/${'x'.repeat(300)}` }],
  'prompts/get': [{ name: 'no-such-prompt' }, { name: 'diagnose-consumer-lag' }, { name: 'diagnose-consumer-lag', arguments: { group: 1 } },
    { name: 'diagnose-consumer-lag', arguments: { group: 'a/b' } }, { name: 'constructor', arguments: {} }, { name: 1 }]
}
const BAD_TOOL_ARGUMENTS: Json[] = [
  { group_id: '' }, { group_id: 'a/b' }, { group_id: 42 }, { names: 'orders' }, { names: ['/'] }, { topics: [null] }, { limit: 0 }, { limit: 1e9 },
  { limit: 2.5 }, { cursor: 'x' }, { prefix: 1 }, { verbose: true }, [], 'x', null, 1
]
const JUNK: Json[] = [
  null, true, false, 0, -1, 1.5, 2 ** 53 + 1, 1e308, -1e308, '', ' ', 'x', '/', '..', '../../etc/passwd', 'a/partitions/0', '\u0000', 'ü', '🙂', '%2F',
  '__proto__', 'constructor', 'toString', {}, [], [[]], { '': null }, JSON.parse('{"__proto__":{"polluted":true}}') as Json
]
const ODD_IDS: Json[] = [null, 0, -1, 1.5, 1e308, 2 ** 64, '', 'x'.repeat(10_000), {}, [], true, { id: 1 }]
const ODD_TOOL_PATHS = ['no_such_tool', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '%00', '..%2Fhealthz', 'LIST_TOPICS', 'list_topics%20', 'x'.repeat(2000)]
const ODD_METHODS = ['', 'nope', 'tools/../call', 'tools/call/', 'TOOLS/LIST', 'rpc.discover', '__proto__', 'constructor', 'x'.repeat(5000), 'notifications/initialized']
const RAW_BODIES: Array<string | Uint8Array<ArrayBuffer>> = [
  '', '{', '}', 'null', '1', '[]', '"x"', 'true', '{"jsonrpc":"2.0"', 'NaN', '{"a":1,"a":2}', '\uFEFF{"jsonrpc":"2.0","id":1,"method":"ping"}',
  '{"jsonrpc":"2.0","id":1,"method":"ping"} trailing', new Uint8Array([0xff, 0xfe, 0x00, 0x01, 0x80]), '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\\ud800"}}'
]
const CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/jsonx',
  'APPLICATION/JSON', 'application/json, text/plain', '']
/** Lengths and counts around the service's limits, the large ones rare (they cost seconds). */
const STRING_LENGTHS = [[8, 249], [8, 250], [4, 1024], [2, 100_000], [1, 1_000_000], [0.5, 3_900_000]] as const
const ARRAY_LENGTHS = [[8, 100], [8, 1000], [6, 1001], [3, 10_000], [1, 100_000], [0.5, 900_000]] as const
const NESTING_DEPTHS = [[4, 10], [3, 100], [2, 1000], [1, 10_000]] as const
const EXTRA_KEY_COUNTS = [[6, 1], [4, 100], [1, 10_000], [0.25, 100_000]] as const

// ---- mutations ------------------------------------------------------------------------------

type Path = Array<string | number>

/** Every path into a value (the root included), so a mutation can land anywhere. */
function pathsOf (value: Json, path: Path = [], out: Path[] = []): Path[] {
  out.push(path)
  if (path.length < 6 && value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) pathsOf(child, [...path, Array.isArray(value) ? Number(key) : key], out)
  }
  return out
}

/** `root` with the value at `path` replaced (or deleted, when `value` is undefined). */
function withValueAt (root: Json, path: Path, value: Json | undefined): Json {
  if (path.length === 0) return value ?? null
  const copy = structuredClone(root) as Record<string | number, Json>
  let parent: Record<string | number, Json> = copy
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>
  const last = path.at(-1)!
  if (value !== undefined) parent[last] = value
  else if (Array.isArray(parent)) parent.splice(Number(last), 1)
  else delete parent[last]
  return copy
}

/** JSON text nested `depth` levels deep, built as text: JSON.stringify itself overflows the stack on it. */
function nestedText (depth: number): string {
  const open = Array.from({ length: depth }, (_, i) => i % 2 === 0 ? '[' : '{"a":').join('')
  const close = Array.from({ length: depth }, (_, i) => i % 2 === 0 ? ']' : '}').reverse().join('')
  return `${open}"deep"${close}`
}
const NESTED_SLOT = '\u0000nested\u0000'

/** A body to send: JSON to serialise, or raw bytes; and the content type to claim. */
interface Body { json?: Json, raw?: string | Uint8Array<ArrayBuffer>, contentType?: string }

/**
 * The mutation kinds, each a function of (the valid JSON, the path to the part a mutation may
 * change, rng). JSON-RPC envelope kinds apply to /mcp and /messages only.
 */
const MUTATIONS: Record<string, { envelopeOnly?: boolean, apply: (json: Json, inner: Path, rng: Rng) => Body }> = {
  valid: { apply: (json) => ({ json }) },
  'wrong type': { apply: (json, inner, rng) => ({ json: withValueAt(json, rng.pick(pathsOf(json).filter((p) => p.length > 0)) ?? inner, rng.pick(JUNK)) }) },
  'missing field': { apply: (json, _inner, rng) => ({ json: withValueAt(json, rng.pick(pathsOf(json).filter((p) => p.length > 0)) ?? [], undefined) }) },
  'bad arguments': { apply: (json, inner, rng) => ({ json: withValueAt(json, inner, rng.pick(BAD_TOOL_ARGUMENTS)) }) },
  'nested junk': {
    apply: (json, inner, rng) => {
      const target = rng.pick(pathsOf(json).filter((p) => p.length > inner.length)) ?? inner
      return { raw: JSON.stringify(withValueAt(json, target, NESTED_SLOT)).replace(JSON.stringify(NESTED_SLOT), nestedText(rng.weighted(NESTING_DEPTHS))) }
    }
  },
  'oversized string': {
    apply: (json, inner, rng) => {
      const target = rng.pick(pathsOf(json).filter((p) => p.length > inner.length)) ?? [...inner, 'group_id']
      return { json: withValueAt(json, target, rng.pick(['x', '/', 'ü']).repeat(rng.weighted(STRING_LENGTHS))) }
    }
  },
  'oversized array': {
    apply: (json, inner, rng) => {
      const field = rng.pick(['names', 'topics', 'group_id', 'arguments'])
      // 900,000 × "/" is the 3.6 MB body that stalled the service; longer items pass the body limit.
      const items = new Array<Json>(rng.weighted(ARRAY_LENGTHS)).fill(rng.pick(['/', 'orders', 'x'.repeat(10)]))
      return { json: withValueAt(json, [...inner, field], items) }
    }
  },
  'extra fields': {
    apply: (json, inner, rng) => {
      const extra = Object.fromEntries(Array.from({ length: rng.weighted(EXTRA_KEY_COUNTS) }, (_, i) => [`k${i}`, i]))
      const target = valueAt(json, inner)
      const fields = target !== null && typeof target === 'object' && !Array.isArray(target) ? target : {}
      return { json: withValueAt(json, inner, { ...fields, ...extra }) }
    }
  },
  'not JSON': { apply: (_json, _inner, rng) => ({ raw: rng.pick(RAW_BODIES) }) },
  'content type': { apply: (json, _inner, rng) => ({ json, contentType: rng.pick(CONTENT_TYPES) }) },
  'odd id': { envelopeOnly: true, apply: (json, _inner, rng) => ({ json: withValueAt(json, ['id'], rng.pick(ODD_IDS)) }) },
  'unknown method': { envelopeOnly: true, apply: (json, _inner, rng) => ({ json: withValueAt(json, ['method'], rng.pick(ODD_METHODS)) }) },
  'bad params': { envelopeOnly: true, apply: (json, _inner, rng) => ({ json: withValueAt(json, ['params'], rng.pick(BAD_PARAMS[(json as { method: string }).method] ?? [[], 'x', null])) }) },
  batch: { envelopeOnly: true, apply: (json, _inner, rng) => ({ json: rng.pick([[], [json, json], [json, 1], Array.from({ length: 100 }, () => json)]) }) }
}
const KIND_NAMES = Object.keys(MUTATIONS)

function valueAt (root: Json, path: Path): Json {
  let value = root
  for (const key of path) value = (value as Record<string | number, Json>)[key]!
  return value
}

// ---- requests -----------------------------------------------------------------------------

type Target = 'mcp' | 'rest' | 'messages'

interface FuzzRequest {
  index: number
  target: Target
  kind: string
  path: string
  headers: Record<string, string>
  body: string | Uint8Array<ArrayBuffer>
  /** The JSON-RPC method the request started from (before mutation), for grouping findings. */
  method: string
}

function byteLength (body: string | Uint8Array<ArrayBuffer>): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.length
}

function describe (request: FuzzRequest): string {
  const body = typeof request.body === 'string' ? request.body : `<bytes ${Buffer.from(request.body).toString('hex')}>`
  const shown = body.length > 300 ? `${body.slice(0, 300)}… (${body.length} characters)` : body
  return `#${request.index} [${request.kind}] POST ${request.path} content-type=${JSON.stringify(request.headers['content-type'] ?? null)} (${byteLength(request.body)} bytes) ${shown}`
}

function generate (rng: Rng, index: number, target: Target, sessionPath: string): FuzzRequest {
  const kind = rng.weighted(KIND_NAMES.filter((k) => target !== 'rest' || MUTATIONS[k]!.envelopeOnly !== true).map((k) => [k === 'valid' ? 0.5 : 1, k] as const))
  let json: Json
  let inner: Path
  let path: string
  let method: string
  const headers: Record<string, string> = {}
  if (target === 'rest') {
    const tool = rng.pick(TOOLS)
    json = structuredClone(TOOL_ARGUMENTS[tool]!) as Json
    inner = []
    method = rng.next() < 0.05 ? rng.pick(ODD_TOOL_PATHS) : tool
    path = `/api/v1/tools/${method}`
  } else {
    const call = rng.pick(RPC_CALLS)(rng)
    method = call.method
    const modern = target === 'mcp' && rng.next() < 0.5
    const params = modern ? { ...call.params, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'fuzz', version: '1.0.0' }, 'io.modelcontextprotocol/clientCapabilities': {} } } : call.params
    json = { jsonrpc: '2.0', id: `fuzz-${index}`, method: call.method, params }
    inner = call.method === 'tools/call' ? ['params', 'arguments'] : ['params']
    path = target === 'mcp' ? '/mcp' : sessionPath
    if (target === 'mcp') {
      headers.accept = 'application/json, text/event-stream'
      headers['mcp-protocol-version'] = modern ? '2026-07-28' : '2025-11-25'
      if (modern) {
        headers['mcp-method'] = call.method
        const name = call.params.name ?? call.params.uri
        if (typeof name === 'string') headers['mcp-name'] = name
      }
    }
  }
  const body = MUTATIONS[kind]!.apply(json, inner, rng)
  const contentType = body.contentType ?? 'application/json'
  if (contentType !== '') headers['content-type'] = contentType
  return { index, target, kind, path, headers, method, body: body.raw ?? JSON.stringify(body.json) }
}

// ---- oracles ------------------------------------------------------------------------------

interface Finding { rule: string, category: string, request?: FuzzRequest, detail: string }

/** Whether the text is one JSON-RPC message or a non-empty batch (what /messages may accept). */
function isJsonRpcMessage (body: string | Uint8Array<ArrayBuffer>): boolean {
  let parsed: unknown
  // A leading byte order mark may be ignored (RFC 8259 §8.1), and Fastify's parser ignores it.
  try { parsed = JSON.parse((typeof body === 'string' ? body : new TextDecoder().decode(body)).replace(/^\uFEFF/, '')) } catch { return false }
  const one = (m: unknown): boolean => m !== null && typeof m === 'object' && !Array.isArray(m) && (m as { jsonrpc?: unknown }).jsonrpc === '2.0' &&
    (typeof (m as { method?: unknown }).method === 'string' || 'result' in m || 'error' in m)
  return Array.isArray(parsed) ? parsed.length > 0 : one(parsed)
}

/** JSON-RPC replies in a JSON or SSE answer body. */
function repliesIn (text: string, contentType: string): unknown[] {
  const chunks = contentType.startsWith('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim())
    : [text]
  return chunks.flatMap((chunk) => {
    try { const parsed = JSON.parse(chunk) as unknown; return Array.isArray(parsed) ? parsed : [parsed] } catch { return [] }
  })
}

/** The start of an error message: findings group by kind of mistake, not by the values in it. */
function gist (message: unknown): string {
  return JSON.stringify(`${String(message).replace(/\s+/g, ' ').slice(0, 24)}…`)
}

function checkReplies (replies: unknown[], request: FuzzRequest | undefined, where: string, findings: Finding[]): void {
  for (const reply of replies as Array<{ error?: { code?: unknown, message?: unknown }, result?: { isError?: boolean, _meta?: Record<string, { code?: string, statusCode?: number }> } }>) {
    if (reply?.error?.code === JSON_RPC_INTERNAL_ERROR) {
      findings.push({ rule: 'no JSON-RPC Internal error', category: `${where} ${request?.method ?? '?'}: -32603 ${gist(reply.error.message)}`, request, detail: JSON.stringify(reply).slice(0, 300) })
    }
    const toolError = reply?.result?.isError === true ? reply.result._meta?.['io.kafscale/error'] : undefined
    if (toolError !== undefined && (toolError.statusCode ?? 0) >= 500 && !UNAVAILABLE_CODES.has(toolError.code ?? '')) {
      findings.push({ rule: 'no 5xx for client errors', category: `${where} ${request?.method ?? '?'}: tool error ${toolError.statusCode} ${toolError.code}`, request, detail: JSON.stringify(reply).slice(0, 300) })
    }
  }
}

/** How often each target answered each status, for the run's summary. */
const statusCounts = new Map<string, number>()

async function send (base: string, request: FuzzRequest, findings: Finding[]): Promise<void> {
  let res: Response
  let text: string
  try {
    res = await fetch(`${base}${request.path}`, { method: 'POST', headers: request.headers, body: request.body, signal: AbortSignal.timeout(HANG_BOUND_MS) })
    text = await res.text()
  } catch (err) {
    if ((err as Error).name !== 'TimeoutError' && byteLength(request.body) > EARLY_CLOSE_BYTES) return
    findings.push({ rule: 'every request is answered', category: `${request.target}: ${(err as Error).name}`, request, detail: (err as Error).message })
    return
  }
  const where = request.target
  statusCounts.set(`${where} ${res.status}`, (statusCounts.get(`${where} ${res.status}`) ?? 0) + 1)
  if (res.status >= 500) {
    let error: { code?: unknown, message?: unknown } = {}
    try { error = JSON.parse(text) as typeof error } catch {}
    const code = typeof error.code === 'string' ? error.code : ''
    if (!UNAVAILABLE_CODES.has(code) || res.status === 500) {
      findings.push({ rule: 'no 5xx for client errors', category: `${where}: HTTP ${res.status} ${code} ${gist(error.message ?? text)}`, request, detail: text.slice(0, 300) })
    }
  }
  if (request.target === 'messages' && res.status === 202 && !isJsonRpcMessage(request.body)) {
    findings.push({ rule: '/messages refuses what is not a JSON-RPC message', category: 'messages: 202 for a body that is not a JSON-RPC message', request, detail: text.slice(0, 300) })
  }
  checkReplies(repliesIn(text, res.headers.get('content-type') ?? ''), request, where, findings)
}

/** A legacy SSE session: its endpoint, and every reply the server sent on the stream so far. */
async function openSseSession (base: string): Promise<{ endpoint: string, replies: unknown[], close: () => void }> {
  const controller = new AbortController()
  const res = await fetch(`${base}/sse`, { headers: { accept: 'text/event-stream' }, signal: controller.signal })
  if (res.status !== 200) throw new Error(`GET /sse answered ${res.status}`)
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  const replies: unknown[] = []
  let buffered = ''
  let endpoint: ((path: string) => void) | undefined
  const endpointKnown = new Promise<string>((resolve) => { endpoint = resolve })
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }))
      if (done) return
      buffered += value
      let end: number
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const event = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n')
        if (event.includes('event: endpoint')) endpoint!(data)
        else if (data !== '') replies.push(...repliesIn(data, 'application/json'))
      }
    }
  })()
  return { endpoint: await endpointKnown, replies, close: () => { controller.abort() } }
}

async function inPool<T> (items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: size }, async () => {
    while (next < items.length) await work(items[next++]!)
  }))
}

// ---- the run --------------------------------------------------------------------------------

t.test(`fuzz: ${REQUESTS} malformed requests over /mcp, REST and /messages (seed ${SEED})`, async (t) => {
  t.comment(`seed ${SEED}; replay with FUZZ_SEED=${SEED} npx tap test/fuzz.test.ts`)
  const dir = mkdtempSync(join(tmpdir(), 'kafscale-fuzz-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const auditFile = join(dir, 'audit.jsonl')
  const server: ServerProcess = await spawnServer(['--demo', '--audit-file', auditFile, '--rate-limit', '0', '--log-level', 'warn'])
  t.teardown(server.stop)
  const session = await openSseSession(server.base)
  t.teardown(session.close)
  const initialize = { jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'fuzz', version: '1.0.0' } } }
  for (const message of [initialize, { jsonrpc: '2.0', method: 'notifications/initialized' }]) {
    await fetch(`${server.base}${session.endpoint}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(message) })
  }

  // Warm every route and tool once, so the baseline includes what a first call loads anyway.
  const rng = new Rng(SEED)
  const findings: Finding[] = []
  for (const tool of TOOLS) {
    const valid = (target: Target, path: string, body: Json, headers: Record<string, string> = {}): FuzzRequest =>
      ({ index: -1, target, kind: 'warm-up', path, method: tool, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
    const call = { jsonrpc: '2.0', id: `warm-${tool}`, method: 'tools/call', params: { name: tool, arguments: TOOL_ARGUMENTS[tool]! as Json } }
    await send(server.base, valid('rest', `/api/v1/tools/${tool}`, TOOL_ARGUMENTS[tool]! as Json), findings)
    await send(server.base, valid('mcp', '/mcp', call, { accept: 'application/json, text/event-stream' }), findings)
    await send(server.base, valid('messages', session.endpoint, call), findings)
  }
  const rssBefore = await server.residentBytes()

  const sent = new Map<string, FuzzRequest>()
  const kindCounts = new Map<string, number>()
  let bytesSent = 0
  const targets: Target[] = ['mcp', 'mcp', 'rest', 'rest', 'messages']
  for (let start = 0; start < REQUESTS && server.exit === undefined; start += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, REQUESTS - start) }, (_, i) => generate(rng, start + i, rng.pick(targets), session.endpoint))
    for (const request of batch) {
      kindCounts.set(request.kind, (kindCounts.get(request.kind) ?? 0) + 1)
      bytesSent += byteLength(request.body)
      if (request.target === 'messages') {
        try { sent.set(JSON.stringify((JSON.parse(String(request.body)) as { id?: unknown }).id), request) } catch {}
      }
    }
    await inPool(batch, CONCURRENCY, async (request) => { await send(server.base, request, findings) })
    const healthy = await fetch(`${server.base}/healthz`, { signal: AbortSignal.timeout(HANG_BOUND_MS) }).then((r) => r.status, (err: Error) => err.message)
    if (healthy !== 200) {
      const exit = server.exit === undefined ? 'still running' : `exited ${JSON.stringify(server.exit)}`
      findings.push({ rule: 'the process stays up', category: `/healthz answered ${healthy} after batch ${start / BATCH} (process ${exit})`, detail: `requests #${start}–#${start + batch.length - 1}; the largest: ${describe(batch.reduce((a, b) => a.body.length >= b.body.length ? a : b))}\n${server.output()}` })
      break
    }
  }
  t.comment(`${[...kindCounts.values()].reduce((a, b) => a + b, 0)} requests, ${(bytesSent / 1024 / 1024).toFixed(1)} MB: ${[...kindCounts].map(([k, n]) => `${k} ${n}`).join(', ')}`)
  t.comment(`answers: ${[...statusCounts].sort().map(([s, n]) => `${s} ×${n}`).join(', ')}`)
  // Replies on the SSE stream trail the 202s: wait until the stream is quiet.
  for (let seen = -1; seen !== session.replies.length;) {
    seen = session.replies.length
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  session.close()
  for (const reply of session.replies) {
    checkReplies([reply], sent.get(JSON.stringify((reply as { id?: unknown }).id)), 'messages (on the stream)', findings)
  }

  if (server.exit === undefined) {
    // Memory the process has not given back a moment later counts; a transient peak does not.
    let rssAfter = await server.residentBytes()
    for (let i = 0; i < 3 && rssAfter > rssBefore + RSS_GROWTH_LIMIT; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000))
      rssAfter = Math.min(rssAfter, await server.residentBytes())
    }
    const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`
    t.ok(rssAfter <= rssBefore + RSS_GROWTH_LIMIT, `RSS ${mb(rssBefore)} before, ${mb(rssAfter)} after (limit +${mb(RSS_GROWTH_LIMIT)})`)
  }
  const audit = verifyAuditFile(auditFile)
  t.ok(audit.ok, `the audit chain is intact${audit.ok ? '' : `: line ${audit.brokenLine}: ${audit.reason}`}`)

  const rules = ['no 5xx for client errors', 'no JSON-RPC Internal error', '/messages refuses what is not a JSON-RPC message', 'every request is answered', 'the process stays up']
  for (const rule of rules) {
    const categories = new Map<string, { count: number, example: Finding }>()
    for (const f of findings.filter((f) => f.rule === rule)) {
      const entry = categories.get(f.category)
      if (entry === undefined) categories.set(f.category, { count: 1, example: f })
      else entry.count++
    }
    const report = [...categories].map(([category, { count, example }]) =>
      `${category} (×${count}); e.g. ${example.request === undefined ? '' : describe(example.request)} → ${example.detail}`)
    t.same(report, [], `${rule} (seed ${SEED})`)
  }
})
