import { execFileSync } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, loadavg, totalmem, tmpdir } from 'node:os'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Etcd3 } from 'etcd3'
import { startEtcd, type EtcdProcess } from '../test/helpers/etcd.ts'
import { connectClient } from '../test/helpers/server.ts'
import { bigGroupTopics, FULL, groupName, ONE_PARTITION, partitionsOf, scaledDown, seed, topicName, type ClusterShape } from './seed.ts'
import { closedLoop, exchange, loadWithCpu, log, mcpRequest, mcpResult, NODE_FLAGS, pool, postRequest, rawClient, ROOT, rssMb, send, SETTINGS, sleep, startScript, startService, stop, type Child } from './harness.ts'
import { burst, heapFigures, loadPhase, ordinaryMix, oversizedRequests, refusedOrAnswered } from './memory.ts'
import { summarizeProfile } from './profile.ts'
import { exponent, ratio, round, summarize, time, type Timing } from './stats.ts'
import { targets, writeReport } from './report.ts'

// npm run bench: the real service (a child process) against a real etcd holding a large
// KafScale cluster, measured side by side with the reference server's access pattern
// (bench/reference-server.ts), raw etcd reads and a bare Fastify route, in one run. Every
// figure the targets use is a ratio of two things measured in the same minute on the same
// machine, so a loaded machine moves both sides.

const METRICS_TIMEOUT_MS = 2000
const ETCD_ARGS = ['--max-request-bytes', String(64 << 20), '--quota-backend-bytes', String(8 << 30)]
/** Connections of the tool-by-tool throughput figures (the issue's Go comparison used 16). */
const TOOL_CONCURRENCY = 16

/** A read tool's call on our service and the same question put to the reference pattern. */
interface ToolCall { tool: string, args: Record<string, unknown>, reference: Record<string, unknown> }

function readToolCalls (shape: ClusterShape): ToolCall[] {
  const same = (tool: string, args: Record<string, unknown>): ToolCall => ({ tool, args, reference: args })
  const names = Array.from({ length: Math.min(10, shape.topics) }, (_, i) => topicName(i))
  const configs = Array.from({ length: shape.storedConfigs }, (_, i) => topicName(i))
  return [
    same('cluster_status', {}),
    same('list_topics', {}),
    same('describe_topics', { names }),
    same('list_groups', {}),
    same('describe_group', { group_id: groupName(0) }),
    // The reference needs the topics named (its input requires them); ours finds them.
    { tool: 'fetch_offsets', args: { group_id: 'big-group' }, reference: { group_id: 'big-group', topics: bigGroupTopics(shape) } },
    same('describe_configs', { topics: configs }),
    { tool: 'consumer_lag', args: { group_id: 'big-group' }, reference: { group_id: 'big-group', topics: bigGroupTopics(shape) } }
  ]
}

export interface ToolFigures {
  ours: Timing
  rest: Timing
  ours_bytes: number
  reference?: Timing
  /** The reference's etcd reads and decoding alone, as its server timed them: no HTTP, no serialisation. */
  reference_pattern_only?: Timing
  reference_bytes?: number
  ours_rps?: number
  reference_rps?: number
  p50_speedup?: number
  rps_speedup?: number
}

/** Every read tool: p50 over MCP and REST, and, with a reference, its p50 and both throughputs. */
async function measureTools (service: Child, reference: Child | undefined, shape: ClusterShape, label: string): Promise<Record<string, ToolFigures>> {
  const ours = pool(service.base, 1)
  const ref = reference === undefined ? undefined : pool(reference.base, 1)
  const out: Record<string, ToolFigures> = {}
  for (const call of readToolCalls(shape)) {
    const mcp = mcpRequest(call.tool, call.args)
    const rest = postRequest(`/api/v1/tools/${call.tool}`, call.args)
    const answer = mcpResult(await send(ours, mcp))
    const figures: ToolFigures = {
      ours: await time(SETTINGS.samples, async () => await send(ours, mcp), 2, SETTINGS.sampleBudgetMs, SETTINGS.minSamples),
      rest: await time(SETTINGS.samples, async () => await send(ours, rest), 2, SETTINGS.sampleBudgetMs, SETTINGS.minSamples),
      ours_bytes: JSON.stringify(answer).length
    }
    if (reference !== undefined && ref !== undefined) {
      const refRequest = postRequest(`/reference/${call.tool}`, call.reference)
      figures.reference_bytes = (await send(ref, refRequest)).length
      const patternMs: number[] = []
      figures.reference = await time(SETTINGS.samples, async () => {
        const { serverTiming } = await exchange(ref, refRequest)
        patternMs.push(Number(/dur=([\d.]+)/.exec(serverTiming ?? '')?.[1]))
      }, 0, SETTINGS.sampleBudgetMs, SETTINGS.minSamples)
      figures.reference_pattern_only = summarize(patternMs)
      const oursLoad = await closedLoop(service.base, [mcp], TOOL_CONCURRENCY, SETTINGS.throughputS)
      const refLoad = await closedLoop(reference.base, [refRequest], TOOL_CONCURRENCY, SETTINGS.throughputS)
      for (const [who, l] of [['ours', oursLoad], ['reference', refLoad]] as const) if (l.failed > 0) log(`${label} ${call.tool} ${who}: ${l.failed} failed (${l.firstError})`)
      figures.ours_rps = oursLoad.rps
      figures.reference_rps = refLoad.rps
      figures.p50_speedup = ratio(figures.reference.p50, figures.ours.p50)
      figures.rps_speedup = ratio(oursLoad.rps, refLoad.rps)
    }
    out[call.tool] = figures
    log(`${label} ${call.tool}: ours ${figures.ours.p50} ms${figures.reference !== undefined ? `, reference ${figures.reference.p50} ms; ${figures.ours_rps} vs ${figures.reference_rps} req/s` : ''}`)
  }
  await ours.close()
  await ref?.close()
  return out
}

/** The payloads as files, named as bare-server.ts and sdk-server.ts take them (`name=file`). */
function writePayloads (payloads: Record<string, unknown>): { specs: string[], dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kafscale-bench-'))
  const specs = Object.entries(payloads).map(([name, payload]) => {
    writeFileSync(join(dir, `${name}.json`), JSON.stringify(payload))
    return `${name}=${join(dir, `${name}.json`)}`
  })
  return { specs, dir }
}

interface TransportFigures {
  payload_bytes: number
  mcp_sdk: Timing
  mcp: Timing
  /** bench/sdk-server.ts: the SDK's handler and one tool returning the pre-built answer, nothing of ours. */
  sdk_alone: Timing
  rest: Timing
  bare: Timing
  bare_default_flags: Timing
  mcp_vs_bare: number
  sdk_alone_vs_bare: number
  mcp_vs_sdk_alone: number
}

/** One tool's answer over MCP (SDK client and raw JSON-RPC), the SDK alone, REST and the bare route. */
async function measureTransports (service: Child, tools: string[], concurrencies: number[], n: number): Promise<{ transports: Record<string, TransportFigures>, throughput: Record<string, Record<string, number>> }> {
  const rest = pool(service.base, 1)
  const payloads = Object.fromEntries(await Promise.all(tools.map(async (tool) => [tool, JSON.parse(await send(rest, postRequest(`/api/v1/tools/${tool}`, {})))])))
  const { specs, dir } = writePayloads(payloads)
  const bare = await startScript('bare-server.ts', specs)
  const bareDefault = await startScript('bare-server.ts', specs, [])
  const sdk = await startScript('sdk-server.ts', specs)
  const client = await connectClient(service.base, 'modern')
  const ours = pool(service.base, 1)
  const barePool = pool(bare.base, 1)
  const bareDefaultPool = pool(bareDefault.base, 1)
  const sdkPool = pool(sdk.base, 1)
  const transports: Record<string, TransportFigures> = {}
  try {
    // Throughput first: the garbage of the large answers timed below would still be collected
    // during the next windows, and charged to list_topics.
    const throughput: Record<string, Record<string, number>> = {}
    for (const c of concurrencies) {
      const mcpLoad = await loadWithCpu(service, [mcpRequest(tools[0]!, {})], c, SETTINGS.throughputS)
      const sdkLoad = await loadWithCpu(sdk, [mcpRequest(tools[0]!, {})], c, SETTINGS.throughputS)
      const restLoad = await loadWithCpu(service, [postRequest(`/api/v1/tools/${tools[0]}`, {})], c, SETTINGS.throughputS)
      const bareLoad = await loadWithCpu(bare, [postRequest(`/bare/${tools[0]}`, {})], c, SETTINGS.throughputS)
      throughput[`c${c}`] = {
        mcp: mcpLoad.rps,
        sdk_alone: sdkLoad.rps,
        rest: restLoad.rps,
        bare: bareLoad.rps,
        bare_default_flags: (await closedLoop(bareDefault.base, [postRequest(`/bare/${tools[0]}`, {})], c, SETTINGS.throughputS)).rps,
        // The server's CPU per answered call, the SDK alone's share of ours being what the SDK costs.
        mcp_cpu_ms: mcpLoad.cpu_ms_per_call,
        sdk_alone_cpu_ms: sdkLoad.cpu_ms_per_call,
        rest_cpu_ms: restLoad.cpu_ms_per_call,
        bare_cpu_ms: bareLoad.cpu_ms_per_call,
        mcp_gc_threads_ms: mcpLoad.gc_threads_ms_per_call,
        sdk_alone_gc_threads_ms: sdkLoad.gc_threads_ms_per_call
      }
      log(`throughput ${tools[0]} c=${c}: ${JSON.stringify(throughput[`c${c}`])}`)
    }
    for (const tool of tools) {
      const mcp = mcpRequest(tool, {})
      const t: Omit<TransportFigures, 'mcp_vs_bare' | 'sdk_alone_vs_bare' | 'mcp_vs_sdk_alone'> = {
        payload_bytes: JSON.stringify(payloads[tool]).length,
        mcp_sdk: await time(n, async () => await client.callTool({ name: tool, arguments: {} }), 2, SETTINGS.sampleBudgetMs, SETTINGS.minSamples),
        mcp: await time(n, async () => await send(ours, mcp), 2, SETTINGS.sampleBudgetMs, SETTINGS.minSamples),
        sdk_alone: await time(n, async () => await send(sdkPool, mcp), 2, SETTINGS.sampleBudgetMs, SETTINGS.minSamples),
        rest: await time(n, async () => await send(rest, postRequest(`/api/v1/tools/${tool}`, {})), 2, SETTINGS.sampleBudgetMs, SETTINGS.minSamples),
        bare: await time(n, async () => await send(barePool, postRequest(`/bare/${tool}`, {})), 2, SETTINGS.sampleBudgetMs, SETTINGS.minSamples),
        bare_default_flags: await time(n, async () => await send(bareDefaultPool, postRequest(`/bare/${tool}`, {})), 2, SETTINGS.sampleBudgetMs, SETTINGS.minSamples)
      }
      transports[tool] = { ...t, mcp_vs_bare: ratio(t.mcp.p50, t.bare.p50), sdk_alone_vs_bare: ratio(t.sdk_alone.p50, t.bare.p50), mcp_vs_sdk_alone: ratio(t.mcp.p50, t.sdk_alone.p50) }
      log(`transports ${tool}: MCP ${t.mcp.p50} ms, SDK alone ${t.sdk_alone.p50} ms, REST ${t.rest.p50} ms, bare ${t.bare.p50} ms`)
    }
    return { transports, throughput }
  } finally {
    await client.close()
    for (const p of [rest, ours, barePool, bareDefaultPool, sdkPool]) await p.close()
    await stop(bare.child)
    await stop(bareDefault.child)
    await stop(sdk.child)
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The production Node flags (NODE_FLAGS: 4 MB semi-spaces, --optimize-for-size) against Node's
 * defaults, on the same cluster, one tool at a time on both: what the flags cost in time and save in memory.
 */
async function measureNodeFlags (etcd: string, production: Child, shape: ClusterShape): Promise<Record<string, unknown>> {
  const defaults = await startService(etcd, [], [], [])
  try {
    const rssAtReady = rssMb(defaults.pid)
    await sleep(5000)
    const rssIdle = rssMb(defaults.pid)
    const prodPool = pool(production.base, 1)
    const defaultPool = pool(defaults.base, 1)
    const tools: Record<string, { production: Timing, node_defaults: Timing, ratio: number }> = {}
    for (const call of readToolCalls(shape).filter((c) => ['list_topics', 'describe_group', 'list_groups', 'fetch_offsets', 'describe_configs', 'consumer_lag'].includes(c.tool))) {
      const req = mcpRequest(call.tool, call.args)
      const prod = await time(SETTINGS.samples, async () => await send(prodPool, req), 2, SETTINGS.sampleBudgetMs, SETTINGS.minSamples)
      const dflt = await time(SETTINGS.samples, async () => await send(defaultPool, req), 2, SETTINGS.sampleBudgetMs, SETTINGS.minSamples)
      tools[call.tool] = { production: prod, node_defaults: dflt, ratio: ratio(prod.p50, dflt.p50) }
      log(`node flags ${call.tool}: production ${prod.p50} ms, Node defaults ${dflt.p50} ms`)
    }
    await prodPool.close()
    await defaultPool.close()
    return { flags: NODE_FLAGS.join(' '), rss_at_ready_mb: rssAtReady, rss_idle_mb: rssIdle, rss_after_calls_mb: rssMb(defaults.pid), production_rss_after_calls_mb: rssMb(production.pid), tools }
  } finally {
    await stop(defaults.child)
  }
}

/** fetch_offsets and describe_configs against the least raw etcd work that reads the same keys. */
async function measureRawReads (service: Child, raw: Etcd3, reference: Child, shape: ClusterShape): Promise<Record<string, { service: Timing, raw: Timing, raw_production_flags: Timing, raw_read: string, vs_raw: number }>> {
  const ours = pool(service.base, 1)
  const fetch = mcpRequest('fetch_offsets', { group_id: 'big-group' })
  const fetched = mcpResult(await send(ours, fetch)) as { offsets: unknown[] }
  if (fetched.offsets.length !== shape.bigGroupPartitions) throw new Error(`fetch_offsets returned ${fetched.offsets.length} rows`)
  const configNames = Array.from({ length: shape.storedConfigs }, (_, i) => topicName(i))
  const configKeys = configNames.map((n) => Buffer.from(`/kafscale/topics/${n}/config`))
  const describe = mcpRequest('describe_configs', { topics: configNames })
  const described = mcpResult(await send(ours, describe)) as { configs: Array<{ source: string }> }
  if (described.configs.length !== shape.storedConfigs || described.configs.some((c) => c.source !== 'stored')) throw new Error('describe_configs did not return the stored configs')
  const n = SETTINGS.samples + 10
  const referencePool = pool(reference.base, 1)
  const timedThere = async (path: string, args: Record<string, unknown>): Promise<Timing> => {
    const ms: number[] = []
    await time(n, async () => { ms.push(Number(/dur=([\d.]+)/.exec((await exchange(referencePool, postRequest(path, args))).serverTiming ?? '')?.[1])) })
    return summarize(ms.slice(-n))
  }
  const figures = {
    fetch_offsets: {
      service: await time(n, async () => await send(ours, fetch)),
      raw: await time(n, async () => await raw.getAll().prefix('/kafscale/consumers/big-group/offsets/').strings()),
      raw_production_flags: await timedThere('/raw/offsets_range', { prefix: '/kafscale/consumers/big-group/offsets/' }),
      raw_read: 'one prefix range'
    },
    describe_configs: {
      service: await time(n, async () => await send(ours, describe)),
      // etcd has no range over configs alone (they sit among partition keys): the least raw work
      // is exact reads in transactions of 128, all in flight together.
      raw: await time(n, async () => {
        const batches: Buffer[][] = []
        for (let i = 0; i < configKeys.length; i += 128) batches.push(configKeys.slice(i, i + 128))
        await Promise.all(batches.map(async (b) => await raw.kv.txn({ success: b.map((key) => ({ request_range: { key } })) })))
      }),
      raw_production_flags: await timedThere('/raw/configs_txn', { keys: configNames.map((t) => `/kafscale/topics/${t}/config`) }),
      raw_read: 'exact reads in transactions of 128, in parallel'
    }
  }
  await ours.close()
  await referencePool.close()
  return Object.fromEntries(Object.entries(figures).map(([tool, f]) => [tool, { ...f, vs_raw: ratio(f.service.p50, f.raw.p50) }]))
}

interface Endpoints { urls: string[], hits: number[], close: () => void }

async function brokerEndpoints (count: number, hungIndex: number, failingIndex: number): Promise<Endpoints> {
  const text = readFileSync(join(ROOT, 'demo/broker-metrics.txt'), 'utf8')
  const hits = new Array<number>(count).fill(0)
  const servers: Server[] = []
  const urls: string[] = []
  for (let i = 0; i < count; i++) {
    const server = createServer((_req, res) => {
      hits[i]!++
      if (i === hungIndex) return
      if (i === failingIndex) { res.writeHead(500).end('boom'); return }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    servers.push(server)
    urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)
  }
  return { urls, hits, close: () => { for (const s of servers) { s.closeAllConnections(); s.close() } } }
}

async function measureClusterMetrics (etcd: string, brokers: number): Promise<Record<string, number>> {
  const endpoints = await brokerEndpoints(brokers, 7, 13)
  const service = await startService(etcd, ['--broker-metrics-urls', endpoints.urls.map((u, i) => `${i}=${u}`).join(','), '--metrics-timeout', `${METRICS_TIMEOUT_MS}ms`, '--metrics-cache-ttl', '2s'])
  try {
    const call = async (): Promise<unknown> => mcpResult(await (await fetch(`${service.base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: mcpRequest('cluster_metrics', {}).body })).text())
    const hitsBefore = [...endpoints.hits]
    const coldStart = performance.now()
    const cold = await call() as { brokers: Array<{ ok: boolean }> }
    const coldMs = round(performance.now() - coldStart)
    await sleep(2200)
    const afterCold = [...endpoints.hits]
    const concurrentStart = performance.now()
    await Promise.all(Array.from({ length: 100 }, async () => await fetch(`${service.base}/api/v1/tools/cluster_metrics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then(async (r) => await r.text())))
    const concurrentMs = round(performance.now() - concurrentStart)
    return {
      brokers,
      brokers_ok: cold.brokers.filter((b) => b.ok).length,
      timeout_ms: METRICS_TIMEOUT_MS,
      cold_call_ms: coldMs,
      cold_scrapes_per_broker_max: Math.max(...afterCold.map((h, i) => h - hitsBefore[i]!)),
      concurrent_calls: 100,
      concurrent_wall_ms: concurrentMs,
      concurrent_scrapes_per_broker_max: Math.max(...endpoints.hits.map((h, i) => h - afterCold[i]!))
    }
  } finally {
    await stop(service.child)
    endpoints.close()
  }
}

/** A fresh service on the full cluster: RSS with the snapshot, under 200 clients, after oversized bodies, after a burst. */
async function measureMemory (etcd: string, shape: ClusterShape): Promise<Record<string, unknown>> {
  const service = await startService(etcd)
  try {
    const rssAtReady = rssMb(service.pid)
    // Decoding the snapshot leaves garbage V8 collects on its own time: the figure that stays is the idle one.
    await sleep(5000)
    const rssWithSnapshot = rssMb(service.pid)
    const heapWithSnapshot = await heapFigures(service.base)
    const mix = ordinaryMix(shape)
    // Warm: the first calls compile code and fill caches that stay; the load is measured from there.
    const warm = pool(service.base, 1)
    for (const r of mix.slice(0, 24)) await send(warm, r)
    await warm.close()
    await sleep(2000)
    log(`memory: ${SETTINGS.loadClients} clients for ${SETTINGS.loadS} s, then ${SETTINGS.settleS} s idle`)
    const load = await loadPhase(service, mix, SETTINGS.loadClients, SETTINGS.loadS, SETTINGS.settleS)
    log(`memory: ${JSON.stringify({ before: load.rss_before_mb, peak: load.rss_peak_mb, after: load.rss_after_settle_mb })}`)
    log(`memory: oversized bodies for ${SETTINGS.oversizedS} s, then ${SETTINGS.settleS} s idle`)
    const oversized = await loadPhase(service, oversizedRequests(), 8, SETTINGS.oversizedS, SETTINGS.settleS, refusedOrAnswered)
    log(`memory: ${JSON.stringify({ before: oversized.rss_before_mb, peak: oversized.rss_peak_mb, after: oversized.rss_after_settle_mb })}`)
    const burstFigures = await burst(service, 1000)
    return { rss_at_ready_mb: rssAtReady, rss_with_snapshot_mb: rssWithSnapshot, heap_with_snapshot: heapWithSnapshot, load, oversized, burst: burstFigures }
  } finally {
    await stop(service.child)
  }
}

/**
 * CPU profiles of one tool's tools/call under the same closed-loop load: the service, then the
 * SDK alone (bench/sdk-server.ts) serving the service's answer. Side by side they say how much
 * of a call is the SDK and how much is ours: busy CPU per call and the four-part split.
 */
async function profileMcp (etcd: string, partitions: number, tool: string, connections: number): Promise<unknown> {
  const flags = (dir: string): string[] => ['--cpu-prof', `--cpu-prof-dir=${dir}`]
  const request = mcpRequest(tool, {})
  const profiled = async (start: (nodeFlags: string[]) => Promise<Child>, before?: (child: Child) => Promise<void>): Promise<Record<string, unknown>> => {
    const dir = mkdtempSync(join(tmpdir(), 'kafscale-bench-prof-'))
    const child = await start(flags(dir))
    let load
    try {
      await before?.(child)
      await closedLoop(child.base, [request], connections, 1)
      load = await closedLoop(child.base, [request], connections, SETTINGS.profileS)
    } finally {
      await stop(child.child)
    }
    const summary = summarizeProfile(dir, SETTINGS.profileS * 1000)
    rmSync(dir, { recursive: true, force: true })
    // One sample a millisecond: busy samples over answered calls is CPU ms per call.
    return { rps: load.rps, busy_ms_per_call: round(summary.samples / (load.rps * SETTINGS.profileS), 3), ...summary }
  }
  let payloads: { specs: string[], dir: string } | undefined
  const ours = await profiled(async (nodeFlags) => await startService(etcd, [], nodeFlags), async (service) => {
    const rest = pool(service.base, 1)
    payloads = writePayloads({ [tool]: JSON.parse(await send(rest, postRequest(`/api/v1/tools/${tool}`, {}))) as unknown })
    await rest.close()
  })
  const sdkAlone = await profiled(async (nodeFlags) => await startScript('sdk-server.ts', payloads!.specs, [...NODE_FLAGS, ...nodeFlags]))
  rmSync(payloads!.dir, { recursive: true, force: true })
  return { tool, partitions, connections, seconds: SETTINGS.profileS, ...ours, sdk_alone: sdkAlone }
}

async function withEtcd<T> (shape: ClusterShape, label: string, fn: (etcd: EtcdProcess, seeded: { snapshotBytes: number, keys: number, ms: number }) => Promise<T>): Promise<T> {
  const etcd = await startEtcd(ETCD_ARGS)
  try {
    const start = Date.now()
    const seeded = await seed(etcd.client, shape)
    log(`${label}: seeded ${seeded.keys} keys (snapshot ${round(seeded.snapshotBytes / 1e6, 1)} MB) in ${Date.now() - start} ms`)
    return await fn(etcd, { ...seeded, ms: Date.now() - start })
  } finally {
    await etcd.destroy()
  }
}

/** Scales table row: each tool's MCP p50 and the size of what it returned. */
const scaleRow = (shape: ClusterShape, tools: Record<string, ToolFigures>): Record<string, unknown> =>
  ({ partitions: partitionsOf(shape), tools: Object.fromEntries(Object.entries(tools).map(([tool, f]) => [tool, { p50: f.ours.p50, bytes: f.ours_bytes }])) })

async function main (): Promise<void> {
  // BENCH_ONLY=memory: the memory figures alone (about 4 minutes), to work on goal 4; nothing is written.
  if (process.env.BENCH_ONLY === 'memory') {
    await withEtcd(FULL, '100k', async (etcd) => { log(`memory: ${JSON.stringify(await measureMemory(etcd.endpoint, FULL))}`) })
    return
  }
  const started = Date.now()
  const load = { at_start: loadavg().map((l) => round(l, 2)), at_end: [] as number[] }
  log(`settings: ${JSON.stringify(SETTINGS)}; load average ${load.at_start.join(' ')}`)
  const scales: Record<string, Record<string, unknown>> = {}
  const tools: Record<string, Record<string, ToolFigures>> = {}

  const full = await withEtcd(FULL, '100k', async (etcd, seeded) => {
    const service = await startService(etcd.endpoint)
    const reference = await startScript('reference-server.ts', [etcd.endpoint])
    const raw = rawClient(etcd.endpoint)
    try {
      log('100k: every read tool, ours vs the reference pattern')
      tools['100k'] = await measureTools(service, reference, FULL, '100k')
      log('100k: fetch_offsets and describe_configs vs raw etcd reads')
      const rawReads = await measureRawReads(service, raw, reference, FULL)
      await stop(reference.child)
      log('100k: list_topics and describe_topics: MCP vs REST vs bare Fastify')
      const transports = await measureTransports(service, ['list_topics', 'describe_topics'], [1, 32, 256], Math.max(5, Math.round(SETTINGS.samples * 0.75)))
      log('100k: the production Node flags against Node\'s defaults')
      const nodeFlags = await measureNodeFlags(etcd.endpoint, service, FULL)
      await stop(service.child)
      log('100k: cluster_metrics, 30 brokers, one hung, one failing')
      const clusterMetrics = await measureClusterMetrics(etcd.endpoint, FULL.brokers)
      log('100k: memory')
      const memory = await measureMemory(etcd.endpoint, FULL)
      // The largest answer there is (every topic, 13 MB): where a call's time goes when the payload dominates.
      const profile = SETTINGS.profileS > 0 ? await profileMcp(etcd.endpoint, partitionsOf(FULL), 'describe_topics', 2) : undefined
      return { seeded, rawReads, transports, nodeFlags, clusterMetrics, memory, profile }
    } finally {
      raw.close()
      await stop(reference.child)
      await stop(service.child)
    }
  })
  scales['1/1'] = scaleRow(FULL, tools['100k']!)

  const tenK = scaledDown(10)
  await withEtcd(tenK, '10k', async (etcd) => {
    const service = await startService(etcd.endpoint)
    const reference = await startScript('reference-server.ts', [etcd.endpoint])
    try {
      tools['10k'] = await measureTools(service, reference, tenK, '10k')
    } finally {
      await stop(reference.child)
      await stop(service.child)
    }
  })
  scales['1/10'] = scaleRow(tenK, tools['10k']!)

  for (const factor of [100, 1000]) {
    const shape = scaledDown(factor)
    await withEtcd(shape, `1/${factor}`, async (etcd) => {
      const service = await startService(etcd.endpoint)
      try {
        scales[`1/${factor}`] = scaleRow(shape, await measureTools(service, undefined, shape, `1/${factor}`))
      } finally {
        await stop(service.child)
      }
    })
  }

  const small = await withEtcd(ONE_PARTITION, '1 partition', async (etcd) => {
    const service = await startService(etcd.endpoint)
    let transports
    try {
      log('1 partition: list_topics: MCP vs REST vs bare Fastify')
      transports = await measureTransports(service, ['list_topics'], [32], SETTINGS.samples * 2)
    } finally {
      await stop(service.child)
    }
    const profile = SETTINGS.profileS > 0 ? await profileMcp(etcd.endpoint, 1, 'list_topics', 32) : undefined
    return { transports, profile }
  })

  load.at_end = loadavg().map((l) => round(l, 2))
  const results: Record<string, any> = {
    date: new Date().toISOString(),
    duration_s: round((Date.now() - started) / 1000, 1),
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? '', memory_gb: round(totalmem() / 2 ** 30, 1), node: process.version, etcd: execFileSync('/usr/bin/etcd', ['--version']).toString().split('\n')[0], load_average: load },
    settings: SETTINGS,
    cluster: { ...FULL, partitions: partitionsOf(FULL), snapshot_mb: round(full.seeded.snapshotBytes / 1e6, 1), keys: full.seeded.keys, seed_ms: full.seeded.ms },
    tool_concurrency: TOOL_CONCURRENCY,
    tools,
    raw_reads: full.rawReads,
    transports: { 1: small.transports.transports, [partitionsOf(FULL)]: full.transports.transports },
    throughput_rps: { 1: small.transports.throughput, [partitionsOf(FULL)]: full.transports.throughput },
    node_flags: full.nodeFlags,
    cluster_metrics: full.clusterMetrics,
    memory: full.memory,
    scales: Object.fromEntries(['1/1000', '1/100', '1/10', '1/1'].map((k) => [k, scales[k]])),
    growth: growth(scales['1/10'] as any, scales['1/1'] as any),
    // The fixed cost of a call (one partition, list_topics), then the largest answer.
    ...(small.profile !== undefined ? { profiles: [small.profile, full.profile] } : {})
  }
  results.targets = targets(results)
  writeReport(join(ROOT, 'bench/results'), join(ROOT, 'README.md'), results)
  const missed = results.targets.filter((t: { met: boolean }) => !t.met).length
  log(`done in ${results.duration_s} s: ${results.targets.length - missed} targets met, ${missed} missed; bench/results/latest.md`)
  process.exit(0)
}

/**
 * How each tool's p50 grows from the 1/10 cluster to the full one: the exponent against the
 * size of its answer, or, for an answer that does not grow (describe_group, ten topics),
 * against the cluster's partitions.
 */
function growth (from: { partitions: number, tools: Record<string, { p50: number, bytes: number }> }, to: typeof from): Record<string, { exponent: number, against: 'answer bytes' | 'partitions', from_ms: number, to_ms: number, size_ratio: number }> {
  return Object.fromEntries(Object.entries(to.tools).map(([tool, t]) => {
    const f = from.tools[tool]!
    const bytesGrow = t.bytes / f.bytes >= 2
    const [x0, x1] = bytesGrow ? [f.bytes, t.bytes] : [from.partitions, to.partitions]
    return [tool, { exponent: exponent(f.p50, t.p50, x0, x1), against: bytesGrow ? 'answer bytes' : 'partitions', from_ms: f.p50, to_ms: t.p50, size_ratio: round(x1 / x0, 1) }]
  }))
}

await main()
