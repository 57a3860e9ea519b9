import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Etcd3 } from 'etcd3'
import { noop } from 'cockatiel'
import { Pool } from 'undici'
import { freePort } from '../test/helpers/etcd.ts'
import { round } from './stats.ts'

// The processes a bench run starts and the two ways it drives them: one call at a time (for
// latency) and many connections in a closed loop (for throughput and memory under load).

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
/**
 * The flags of the production entry points (Dockerfile, npm start); every Node process measured
 * runs with them. BENCH_NODE_FLAGS measures others ("" for Node's defaults).
 */
export const NODE_FLAGS = process.env.BENCH_NODE_FLAGS !== undefined ? process.env.BENCH_NODE_FLAGS.split(' ').filter((f) => f !== '') : ['--max-semi-space-size=4', '--optimize-for-size']
export const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`) }

const envNumber = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${raw}: expected a number of seconds or samples`)
  return value
}
const QUICK = process.env.BENCH_QUICK === '1'

/** Durations and sample counts; BENCH_QUICK=1 makes a smoke run of a few minutes. */
export const SETTINGS = {
  quick: QUICK,
  /** Sequential calls per latency figure. */
  samples: envNumber('BENCH_SAMPLES', QUICK ? 5 : 20),
  /** A latency figure stops early once it has `minSamples` and took this long (the reference's slow loops). */
  sampleBudgetMs: envNumber('BENCH_SAMPLE_BUDGET_S', QUICK ? 1 : 8) * 1000,
  minSamples: QUICK ? 1 : 3,
  /** Seconds of each throughput figure. */
  throughputS: envNumber('BENCH_THROUGHPUT_S', QUICK ? 1 : 4),
  /** The memory load: this many clients for this long, then this long idle. */
  loadClients: envNumber('BENCH_LOAD_CLIENTS', 200),
  loadS: envNumber('BENCH_LOAD_S', QUICK ? 8 : 60),
  settleS: envNumber('BENCH_SETTLE_S', QUICK ? 5 : 30),
  oversizedS: envNumber('BENCH_OVERSIZED_S', QUICK ? 5 : 30),
  /** Seconds of the CPU-profiled MCP load; 0 leaves the profile out. */
  profileS: envNumber('BENCH_PROFILE_S', QUICK ? 0 : 15)
}

export interface Child { base: string, child: ChildProcess, pid: number }

/** The environment the image gives the service (Dockerfile ENV) that changes how it performs. */
const PRODUCTION_ENV = { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' }

/** The real service, as a child process, once it answers /readyz; `baseFlags` replaces NODE_FLAGS. */
export async function startService (etcd: string, extra: string[] = [], nodeFlags: string[] = [], baseFlags = NODE_FLAGS): Promise<Child> {
  const port = await freePort()
  const child = spawn(process.execPath, [...baseFlags, ...nodeFlags, join(ROOT, 'bin/kafscale-mcp.ts'), '--etcd-endpoints', etcd, '--http-addr', `127.0.0.1:${port}`, '--log-level', 'warn',
    '--max-response-chars', '100000000', '--rate-limit', '0', '--max-concurrent', '0', '--etcd-timeout', '10s', ...extra], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...PRODUCTION_ENV } })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`)
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return { base, child, pid: child.pid! }
    } catch {}
    await sleep(100)
  }
  throw new Error('the service did not become ready')
}

/** A bench script (bare-server.ts, sdk-server.ts, reference-server.ts) that prints "ready" once it listens. */
export async function startScript (script: string, args: string[], nodeFlags = NODE_FLAGS): Promise<Child> {
  const port = await freePort()
  const child = spawn(process.execPath, [...nodeFlags, join(ROOT, 'bench', script), String(port), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
  })
  return { base: `http://127.0.0.1:${port}`, child, pid: child.pid! }
}

export async function stop (child: ChildProcess): Promise<void> {
  // A child ended by a signal has no exit code, only a signal code.
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM') })
}

export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** CPU time (user + system) a process or thread has used, in ms (Linux clock ticks of 10 ms). */
function statCpuMs (path: string): number {
  const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

export const cpuMs = (pid: number): number => statCpuMs(`/proc/${pid}/stat`)

/** CPU time of the JavaScript thread, and of V8's helper threads (parallel and concurrent GC). */
function threadCpuMs (pid: number): { main: number, v8Workers: number } {
  let v8Workers = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (tid === String(pid)) continue
    try {
      if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').startsWith('V8Worker')) v8Workers += statCpuMs(`/proc/${pid}/task/${tid}/stat`)
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return { main: statCpuMs(`/proc/${pid}/task/${pid}/stat`), v8Workers }
}

export function rssMb (pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return round(Number(match![1]) / 1024, 1)
}

/** The same etcd client the service uses, with the same settings, for the raw baselines. */
export function rawClient (endpoint: string): Etcd3 {
  return new Etcd3({ hosts: endpoint, faultHandling: { host: () => noop, global: noop }, grpcOptions: { 'grpc.max_receive_message_length': 256 << 20 } })
}

export interface Request { path: string, body: string }

/** A 2025-era JSON-RPC tools/call, as a client without the SDK sends it. */
export const mcpRequest = (tool: string, args: Record<string, unknown>): Request =>
  ({ path: '/mcp', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: args } }) })
export const postRequest = (path: string, args: Record<string, unknown>): Request => ({ path, body: JSON.stringify(args) })

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }

/** Sends one request on the pool; the answer's status, text and Server-Timing header. */
export async function exchange (pool: Pool, req: Request): Promise<{ status: number, text: string, serverTiming?: string }> {
  const res = await pool.request({ method: 'POST', path: req.path, headers: HEADERS, body: req.body })
  const timing = res.headers['server-timing']
  return { status: res.statusCode, text: await res.body.text(), ...(typeof timing === 'string' ? { serverTiming: timing } : {}) }
}

/** The answer's text; anything but 200 is an error naming the status. */
export async function send (pool: Pool, req: Request): Promise<string> {
  const { status, text } = await exchange(pool, req)
  if (status !== 200) throw new Error(`${req.path}: ${status} ${text.slice(0, 300)}`)
  return text
}

/** A tool's result from an MCP answer (JSON or one SSE event): structuredContent, or an error for isError. */
export function mcpResult (text: string): unknown {
  const json = text.startsWith('{') ? text : text.split('\n').find((line) => line.startsWith('data: '))!.slice(6)
  const message = JSON.parse(json) as { result?: { isError?: boolean, structuredContent?: unknown, content?: unknown }, error?: unknown }
  if (message.result === undefined || message.result.isError === true) throw new Error(`tool call failed: ${json.slice(0, 300)}`)
  return message.result.structuredContent
}

export function pool (base: string, connections: number): Pool {
  return new Pool(base, { connections, pipelining: 1, bodyTimeout: 120_000, headersTimeout: 120_000 })
}

/** A 200 that is not a tool error (a cheap test: the load's client must not eat the CPU it measures). */
export const answered = (status: number, text: string): boolean => status === 200 && !text.includes('"isError":true')

/**
 * Closed-loop load: `connections` clients, each sending its next request as soon as the last
 * answered, for `seconds`; requests still in flight at the end are awaited and counted, so a
 * call slower than the window still yields a figure.
 */
export async function closedLoop (base: string, requests: Request[], connections: number, seconds: number, accept: (status: number, text: string) => boolean = answered): Promise<{ rps: number, ok: number, failed: number, firstError?: string }> {
  const p = pool(base, connections)
  const start = performance.now()
  const until = start + seconds * 1000
  let ok = 0
  let failed = 0
  let firstError: string | undefined
  await Promise.all(Array.from({ length: connections }, async (_, client) => {
    for (let i = client; performance.now() < until; i++) {
      const req = requests[i % requests.length]!
      try {
        const { status, text } = await exchange(p, req)
        if (!accept(status, text)) throw new Error(`${req.path}: ${status} ${text.slice(0, 300)}`)
        ok++
      } catch (err) {
        failed++
        firstError ??= (err as Error).message
      }
    }
  }))
  const elapsed = (performance.now() - start) / 1000
  await p.close()
  return { rps: round(ok / elapsed, 1), ok, failed, ...(firstError !== undefined ? { firstError } : {}) }
}

/**
 * closedLoop against one server process, with the CPU time that process spent per answered
 * request (a figure a busy machine moves less than a rate, since it counts only the server's
 * work), and the part of it that V8's helper threads spent: garbage collection that grows with
 * the heap a process keeps, not with what one call does.
 */
export async function loadWithCpu (target: Child, requests: Request[], connections: number, seconds: number): Promise<{ rps: number, cpu_ms_per_call: number, gc_threads_ms_per_call: number }> {
  const cpuBefore = cpuMs(target.pid)
  const threadsBefore = threadCpuMs(target.pid)
  const load = await closedLoop(target.base, requests, connections, seconds)
  const perCall = (ms: number): number => (load.ok === 0 ? 0 : round(ms / load.ok, 3))
  return { rps: load.rps, cpu_ms_per_call: perCall(cpuMs(target.pid) - cpuBefore), gc_threads_ms_per_call: perCall(threadCpuMs(target.pid).v8Workers - threadsBefore.v8Workers) }
}
