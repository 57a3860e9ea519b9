import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ratio } from './stats.ts'

// Writes bench/results/latest.json and latest.md and keeps the README's performance section
// (between the bench markers) in sync with the run.

interface Target { name: string, measured: string, goal: string, met: boolean }

export function targets (r: any): Target[] {
  const t: Target[] = []
  for (const tool of ['fetch_offsets', 'describe_configs']) {
    const x = r[tool]
    t.push({ name: `${tool}: vs the reference's one Get per item`, measured: `${x.speedup_vs_reference}× faster (p50 ${x.service.p50} ms vs ${x.reference.p50} ms)`, goal: '≥ 20× faster', met: x.speedup_vs_reference >= 20 })
    t.push({ name: `${tool}: vs raw etcd read`, measured: `${x.vs_raw}× (p50 ${x.service.p50} ms vs ${x.raw.p50} ms)`, goal: '≤ 2×', met: x.vs_raw <= 2 })
  }
  for (const tool of ['list_topics', 'describe_topics']) {
    const x = r.transports[tool]
    t.push({ name: `${tool} on ${r.cluster.partitions} partitions: MCP vs bare Fastify`, measured: `${x.mcp_vs_bare}× (p50 ${x.mcp.p50} ms vs ${x.bare.p50} ms)`, goal: '≤ 1.5×', met: x.mcp_vs_bare <= 1.5 })
  }
  const m = r.cluster_metrics
  t.push({ name: 'cluster_metrics with a hung broker', measured: `${m.cold_call_ms} ms (timeout ${m.timeout_ms} ms)`, goal: `≤ ${m.timeout_ms * 1.1} ms`, met: m.cold_call_ms <= m.timeout_ms * 1.1 })
  t.push({ name: 'scrapes per broker, 100 concurrent calls', measured: String(m.concurrent_scrapes_per_broker_max), goal: '≤ 1 per cache window', met: m.concurrent_scrapes_per_broker_max <= 1 })
  t.push({ name: 'RSS with the 100k-partition snapshot', measured: `${r.memory.rss_with_snapshot_mb} MB`, goal: '≤ 200 MB', met: r.memory.rss_with_snapshot_mb <= 200 })
  t.push({ name: 'RSS growth, 1,000 concurrent clients', measured: `+${r.memory.rss_growth_1000_clients_mb} MB`, goal: '≤ +100 MB', met: r.memory.rss_growth_1000_clients_mb <= 100 })
  return t
}

function table (headers: string[], rows: Array<Array<string | number>>): string {
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

export function markdown (r: any): string {
  const tg = targets(r)
  const timing = (x: any): string => `${x.p50} / ${x.p99}`
  return [
    `# Benchmark results (${r.date})`,
    '',
    `Machine: ${r.machine.cpus} × ${r.machine.cpu_model}, ${r.machine.memory_gb} GiB; Node ${r.machine.node}; ${r.machine.etcd}. Run took ${r.duration_s} s (\`npm run bench\`).`,
    '',
    `Cluster: ${r.cluster.topics} topics × ${r.cluster.partitionsPerTopic} partitions = ${r.cluster.partitions} partitions on ${r.cluster.brokers} brokers; ${r.cluster.groups} groups; one group committed over ${r.cluster.bigGroupPartitions} partitions; ${r.cluster.storedConfigs} stored topic configs; next_offset for every partition. Snapshot ${r.cluster.snapshot_mb} MB, ${r.cluster.keys} keys, seeded in ${r.cluster.seed_ms} ms.`,
    '',
    '## Targets',
    '',
    table(['target', 'measured', 'goal', 'met'], tg.map((x) => [x.name, x.measured, x.goal, x.met ? 'yes' : '**no**'])),
    '',
    '## etcd access: service vs the reference pattern vs raw reads (ms, p50 / p99)',
    '',
    table(['call', 'service (MCP client)', 'service (REST)', 'reference: one Get per item', 'raw etcd', 'speed-up vs reference', 'service / raw'], [
      [`fetch_offsets, ${r.fetch_offsets.partitions} partitions`, timing(r.fetch_offsets.service), timing(r.fetch_offsets.rest), timing(r.fetch_offsets.reference), `${timing(r.fetch_offsets.raw)} (one range)`, `${r.fetch_offsets.speedup_vs_reference}×`, `${r.fetch_offsets.vs_raw}×`],
      [`describe_configs, ${r.describe_configs.topics} topics`, timing(r.describe_configs.service), timing(r.describe_configs.rest), timing(r.describe_configs.reference), `${timing(r.describe_configs.raw)} (txns of 128 in parallel)`, `${r.describe_configs.speedup_vs_reference}×`, `${r.describe_configs.vs_raw}×`]
    ]),
    '',
    '## Transports on the full payload (ms, p50 / p99)',
    '',
    table(['tool', 'payload', 'MCP (SDK client)', 'MCP (raw HTTP)', 'REST mirror', 'bare Fastify route', 'MCP / bare', 'raw MCP / bare', 'REST / bare'], Object.entries(r.transports).map(([tool, x]: [string, any]) =>
      [tool, `${Math.round(x.payload_bytes / 1024)} KiB`, timing(x.mcp), timing(x.mcp_raw_http), timing(x.rest), timing(x.bare), `${x.mcp_vs_bare}×`, `${ratio(x.mcp_raw_http.p50, x.bare.p50)}×`, `${x.rest_vs_bare}×`])),
    '',
    'An MCP answer carries the result twice (structuredContent and its JSON text, as the spec asks for older clients), so its bytes are about twice the bare route\'s.',
    '',
    'Throughput of list_topics (requests/s, autocannon, 4 s each):',
    '',
    table(['concurrency', 'MCP', 'REST', 'bare'], Object.entries(r.throughput_rps).map(([c, x]: [string, any]) => [c.slice(1), x.mcp, x.rest, x.bare])),
    '',
    '## cluster_metrics, 30 brokers (one hung, one answering 500)',
    '',
    table(['figure', 'value'], Object.entries(r.cluster_metrics).map(([k, v]) => [k, String(v)])),
    '',
    '## Memory',
    '',
    table(['figure', 'value'], Object.entries(r.memory).map(([k, v]) => [k, String(v)])),
    '',
    '## Cost growth (MCP p50, ms)',
    '',
    table(['cluster', 'partitions', 'list_topics', 'describe_topics', 'fetch_offsets', 'describe_configs', 'RSS MB'], Object.entries(r.scales).map(([k, x]: [string, any]) =>
      [k, x.partitions, x.list_topics_p50, x.describe_topics_p50, x.fetch_offsets_p50, x.describe_configs_p50, x.rss_mb])),
    ''
  ].join('\n')
}

export function writeReport (dir: string, readme: string, results: any): void {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`)
  const md = markdown(results)
  writeFileSync(join(dir, 'latest.md'), md)
  const text = readFileSync(readme, 'utf8')
  const start = text.indexOf('<!-- bench:start -->')
  const end = text.indexOf('<!-- bench:end -->')
  if (start < 0 || end < 0) return
  const summary = [
    '<!-- bench:start -->',
    `Latest \`npm run bench\` (${results.date.slice(0, 10)}, ${results.machine.cpus} cores; full report in \`bench/results/latest.md\`):`,
    '',
    table(['target', 'measured', 'goal', 'met'], targets(results).map((x) => [x.name, x.measured, x.goal, x.met ? 'yes' : '**no**'])),
    ''
  ].join('\n')
  writeFileSync(readme, text.slice(0, start) + summary + text.slice(end))
}
