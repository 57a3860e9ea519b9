import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, totalmem, tmpdir } from 'node:os'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { Agent } from 'undici'
import { Etcd3 } from 'etcd3'
import { noop } from 'cockatiel'
import { freePort, startEtcd, type EtcdProcess } from '../test/helpers/etcd.ts'
import { connectClient } from '../test/helpers/server.ts'
import { seed, topicName, type ClusterShape } from './seed.ts'
import { ratio, round, time, type Timing } from './stats.ts'
import { writeReport } from './report.ts'

// npm run bench: the real service (a child process) against a real etcd holding a large
// KafScale cluster, measured side by side with the reference server's access pattern, raw
// etcd reads and a bare Fastify route, in one run.

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin/kafscale-mcp.ts')
const FULL: ClusterShape = { topics: 2000, partitionsPerTopic: 50, brokers: 30, groups: 500, bigGroupPartitions: 2000, storedConfigs: 1000 }
const METRICS_TIMEOUT_MS = 2000
const ETCD_ARGS = ['--max-request-bytes', String(64 << 20), '--quota-backend-bytes', String(8 << 30)]
const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`) }

interface Service { base: string, child: ChildProcess, pid: number }

async function startService (etcd: string, extra: string[]): Promise<Service> {
  const port = await freePort()
  // The flags of the production entry points (Dockerfile, npm start).
  const child = spawn(process.execPath, ['--max-semi-space-size=4', '--optimize-for-size', BIN, '--etcd-endpoints', etcd, '--http-addr', `127.0.0.1:${port}`, '--log-level', 'warn',
    '--max-response-chars', '100000000', '--rate-limit', '0', '--max-concurrent', '0', '--etcd-timeout', '10s', ...extra], { stdio: ['ignore', 'ignore', 'inherit'] })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return { base, child, pid: child.pid! }
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the service did not become ready')
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM') })
}

function rssMb (pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return round(Number(match![1]) / 1024, 1)
}

/** The same etcd client the service uses, with the same settings, for the baselines. */
function rawClient (endpoint: string): Etcd3 {
  return new Etcd3({ hosts: endpoint, faultHandling: { host: () => noop, global: noop }, grpcOptions: { 'grpc.max_receive_message_length': 256 << 20 } })
}

async function post (url: string, body: unknown, dispatcher?: Agent): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(body), ...(dispatcher !== undefined ? { dispatcher } : {}) } as RequestInit)
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`)
  return res.headers.get('content-type')?.startsWith('application/json') === true ? await res.json() : await res.text()
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

async function throughput (url: string, body: unknown, connections: number, headers: Record<string, string> = {}): Promise<number> {
  const result = await autocannon({ url, method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, connections, duration: 4 })
  if (result.non2xx > 0 || result.errors > 0) log(`${url} c=${connections}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  return round(result.requests.average, 1)
}

async function measureScale (shape: ClusterShape, label: string): Promise<Record<string, number>> {
  const etcd = await startEtcd(ETCD_ARGS)
  try {
    await seed(etcd.client, shape)
    const service = await startService(etcd.endpoint, [])
    try {
      const client = await connectClient(service.base, 'modern')
      const call = async (name: string, args: Record<string, unknown>): Promise<void> => { await client.callTool({ name, arguments: args }) }
      const configs = Array.from({ length: shape.storedConfigs }, (_, i) => topicName(i))
      const out = {
        partitions: shape.topics * shape.partitionsPerTopic,
        list_topics_p50: (await time(20, async () => await call('list_topics', {}))).p50,
        describe_topics_p50: (await time(10, async () => await call('describe_topics', {}))).p50,
        fetch_offsets_p50: (await time(20, async () => await call('fetch_offsets', { group_id: 'big-group' }))).p50,
        describe_configs_p50: (await time(20, async () => await call('describe_configs', { topics: configs }))).p50,
        rss_mb: rssMb(service.pid)
      }
      await client.close()
      log(`${label}: ${JSON.stringify(out)}`)
      return out
    } finally {
      await stop(service.child)
    }
  } finally {
    await etcd.destroy()
  }
}

async function main (): Promise<void> {
  const started = Date.now()
  log('starting etcd and seeding the full cluster')
  const etcd: EtcdProcess = await startEtcd(ETCD_ARGS)
  const seedStart = Date.now()
  const seeded = await seed(etcd.client, FULL)
  const seedMs = Date.now() - seedStart
  log(`seeded ${seeded.keys} keys (snapshot ${round(seeded.snapshotBytes / 1e6, 1)} MB) in ${seedMs} ms`)
  const brokers = await brokerEndpoints(FULL.brokers, 7, 13)
  const service = await startService(etcd.endpoint, ['--broker-metrics-urls', brokers.urls.map((u, i) => `${i}=${u}`).join(','), '--metrics-timeout', `${METRICS_TIMEOUT_MS}ms`, '--metrics-cache-ttl', '2s'])
  const rssWithSnapshot = rssMb(service.pid)
  const client = await connectClient(service.base, 'modern')
  const raw = rawClient(etcd.endpoint)
  const mcp = async (name: string, args: Record<string, unknown>): Promise<any> => {
    const result = await client.callTool({ name, arguments: args })
    if (result.isError === true) throw new Error(`${name}: ${JSON.stringify(result.content)}`)
    return result.structuredContent
  }

  log('fetch_offsets: service vs reference pattern vs raw range')
  const bigTopics = Array.from({ length: FULL.bigGroupPartitions / FULL.partitionsPerTopic }, (_, i) => topicName(i))
  const fetched = await mcp('fetch_offsets', { group_id: 'big-group' })
  if (fetched.offsets.length !== FULL.bigGroupPartitions) throw new Error(`fetch_offsets returned ${fetched.offsets.length} rows`)
  const fetchOffsets = {
    service: await time(30, async () => await mcp('fetch_offsets', { group_id: 'big-group' })),
    rest: await time(30, async () => await post(`${service.base}/api/v1/tools/fetch_offsets`, { group_id: 'big-group' })),
    // The reference: one Get per snapshot partition of the requested topics, one after another.
    reference: await time(5, async () => {
      for (const topic of bigTopics) for (let p = 0; p < FULL.partitionsPerTopic; p++) await raw.get(`/kafscale/consumers/big-group/offsets/${topic}/${p}`).string()
    }, 1),
    raw: await time(30, async () => await raw.getAll().prefix('/kafscale/consumers/big-group/offsets/').strings())
  }

  log('describe_configs: service vs reference pattern vs raw batched read')
  const configNames = Array.from({ length: FULL.storedConfigs }, (_, i) => topicName(i))
  const configKeys = configNames.map((n) => Buffer.from(`/kafscale/topics/${n}/config`))
  const described = await mcp('describe_configs', { topics: configNames })
  if (described.configs.length !== FULL.storedConfigs || described.configs.some((c: { source: string }) => c.source !== 'stored')) throw new Error('describe_configs did not return the stored configs')
  const describeConfigs = {
    service: await time(30, async () => await mcp('describe_configs', { topics: configNames })),
    rest: await time(30, async () => await post(`${service.base}/api/v1/tools/describe_configs`, { topics: configNames })),
    reference: await time(5, async () => { for (const n of configNames) await raw.get(`/kafscale/topics/${n}/config`).buffer() }, 1),
    // etcd has no range over configs alone (they sit among partition keys): the least raw work
    // is exact reads in transactions of 128, all in flight together.
    raw: await time(30, async () => {
      const batches: Buffer[][] = []
      for (let i = 0; i < configKeys.length; i += 128) batches.push(configKeys.slice(i, i + 128))
      await Promise.all(batches.map(async (b) => await raw.kv.txn({ success: b.map((key) => ({ request_range: { key } })) })))
    })
  }

  log('list_topics and describe_topics on 100k partitions: MCP vs REST vs bare Fastify')
  const dir = mkdtempSync(join(tmpdir(), 'kafscale-bench-'))
  const listPayload = await post(`${service.base}/api/v1/tools/list_topics`, {}) as object
  const describePayload = await post(`${service.base}/api/v1/tools/describe_topics`, {}) as object
  writeFileSync(join(dir, 'list.json'), JSON.stringify(listPayload))
  writeFileSync(join(dir, 'describe.json'), JSON.stringify(describePayload))
  const barePort = await freePort()
  const bare = spawn(process.execPath, [join(ROOT, 'bench/bare-server.ts'), String(barePort), `list_topics=${join(dir, 'list.json')}`, `describe_topics=${join(dir, 'describe.json')}`], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve) => bare.stdout!.once('data', () => resolve()))
  const bareBase = `http://127.0.0.1:${barePort}`
  const payloadBytes = { list_topics: JSON.stringify(listPayload).length, describe_topics: JSON.stringify(describePayload).length }
  const transports: Record<string, Record<string, Timing>> = {}
  for (const [tool, n] of [['list_topics', 40], ['describe_topics', 15]] as const) {
    transports[tool] = {
      mcp: await time(n, async () => await mcp(tool, {})),
      // The same call without the client SDK: a 2025-era JSON-RPC POST, read as text.
      mcp_raw_http: await time(n, async () => await post(`${service.base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: {} } })),
      rest: await time(n, async () => await post(`${service.base}/api/v1/tools/${tool}`, {})),
      bare: await time(n, async () => await post(`${bareBase}/bare/${tool}`, {}))
    }
  }
  log('throughput (list_topics) at concurrency 1, 32, 256')
  const rpcBody = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_topics', arguments: {} } }
  const throughputs: Record<string, Record<string, number>> = {}
  for (const c of [1, 32, 256]) {
    throughputs[`c${c}`] = {
      mcp: await throughput(`${service.base}/mcp`, rpcBody, c),
      rest: await throughput(`${service.base}/api/v1/tools/list_topics`, {}, c),
      bare: await throughput(`${bareBase}/bare/list_topics`, {}, c)
    }
    log(`c=${c}: ${JSON.stringify(throughputs[`c${c}`])}`)
  }
  await stop(bare)

  log('cluster_metrics: 30 brokers, one hung, one failing')
  await new Promise((resolve) => setTimeout(resolve, 2200))
  const hitsBefore = [...brokers.hits]
  const coldStart = performance.now()
  const cold = await mcp('cluster_metrics', {})
  const coldMs = round(performance.now() - coldStart)
  await new Promise((resolve) => setTimeout(resolve, 2200))
  const afterCold = [...brokers.hits]
  const concurrentStart = performance.now()
  await Promise.all(Array.from({ length: 100 }, async () => await post(`${service.base}/api/v1/tools/cluster_metrics`, {})))
  const concurrentMs = round(performance.now() - concurrentStart)
  const scrapesPerBroker = brokers.hits.map((h, i) => h - afterCold[i]!)
  const clusterMetrics = {
    brokers: FULL.brokers,
    brokers_ok: cold.brokers.filter((b: { ok: boolean }) => b.ok).length,
    timeout_ms: METRICS_TIMEOUT_MS,
    cold_call_ms: coldMs,
    cold_scrapes_per_broker_max: Math.max(...afterCold.map((h, i) => h - hitsBefore[i]!)),
    concurrent_calls: 100,
    concurrent_wall_ms: concurrentMs,
    concurrent_scrapes_per_broker_max: Math.max(...scrapesPerBroker)
  }

  log('memory: 1,000 concurrent clients')
  const rssBefore = rssMb(service.pid)
  let rssPeak = rssBefore
  const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, rssMb(service.pid)) }, 20)
  const agent = new Agent({ connections: 1000, pipelining: 0 })
  const clientBody = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'describe_group', arguments: { group_id: 'group-0001' } } }
  const concurrentClients = await Promise.allSettled(Array.from({ length: 1000 }, async () => await post(`${service.base}/mcp`, clientBody, agent)))
  clearInterval(sampler)
  rssPeak = Math.max(rssPeak, rssMb(service.pid))
  await agent.close()
  const memory = {
    rss_with_snapshot_mb: rssWithSnapshot,
    rss_before_clients_mb: rssBefore,
    rss_peak_1000_clients_mb: rssPeak,
    rss_growth_1000_clients_mb: round(rssPeak - rssBefore, 1),
    clients_ok: concurrentClients.filter((r) => r.status === 'fulfilled').length
  }

  await client.close()
  raw.close()
  await stop(service.child)
  brokers.close()
  await etcd.destroy()

  log('cost growth: 10x, 100x, 1000x smaller clusters')
  const scales: Record<string, Record<string, number>> = {}
  for (const factor of [1000, 100, 10]) {
    const shape: ClusterShape = {
      topics: Math.max(1, FULL.topics / factor),
      partitionsPerTopic: FULL.partitionsPerTopic,
      brokers: 3,
      groups: Math.max(1, FULL.groups / factor),
      bigGroupPartitions: Math.max(FULL.partitionsPerTopic, FULL.bigGroupPartitions / factor),
      storedConfigs: Math.max(1, FULL.storedConfigs / factor)
    }
    scales[`1/${factor}`] = await measureScale(shape, `1/${factor}`)
  }
  scales['1/1'] = {
    partitions: FULL.topics * FULL.partitionsPerTopic,
    list_topics_p50: transports.list_topics!.mcp!.p50,
    describe_topics_p50: transports.describe_topics!.mcp!.p50,
    fetch_offsets_p50: fetchOffsets.service.p50,
    describe_configs_p50: describeConfigs.service.p50,
    rss_mb: rssWithSnapshot
  }

  const results = {
    date: new Date().toISOString(),
    duration_s: round((Date.now() - started) / 1000, 1),
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? '', memory_gb: round(totalmem() / 2 ** 30, 1), node: process.version, etcd: execFileSync('/usr/bin/etcd', ['--version']).toString().split('\n')[0] },
    cluster: { ...FULL, partitions: FULL.topics * FULL.partitionsPerTopic, snapshot_mb: round(seeded.snapshotBytes / 1e6, 1), keys: seeded.keys, seed_ms: seedMs },
    fetch_offsets: { ...fetchOffsets, partitions: FULL.bigGroupPartitions, speedup_vs_reference: ratio(fetchOffsets.reference.p50, fetchOffsets.service.p50), vs_raw: ratio(fetchOffsets.service.p50, fetchOffsets.raw.p50) },
    describe_configs: { ...describeConfigs, topics: FULL.storedConfigs, speedup_vs_reference: ratio(describeConfigs.reference.p50, describeConfigs.service.p50), vs_raw: ratio(describeConfigs.service.p50, describeConfigs.raw.p50) },
    transports: Object.fromEntries(Object.entries(transports).map(([tool, t]) => [tool, { ...t, payload_bytes: payloadBytes[tool as keyof typeof payloadBytes], mcp_vs_bare: ratio(t.mcp!.p50, t.bare!.p50), rest_vs_bare: ratio(t.rest!.p50, t.bare!.p50) }])),
    throughput_rps: throughputs,
    cluster_metrics: clusterMetrics,
    memory,
    scales
  }
  writeReport(join(ROOT, 'bench/results'), join(ROOT, 'README.md'), results)
  log(`done in ${results.duration_s} s: bench/results/latest.md`)
  process.exit(0)
}

await main()
