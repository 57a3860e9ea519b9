import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

// The targets of issue 12 (and the earlier ones the bench kept) as met or not, and the report:
// bench/results/latest.json and latest.md, and the README's performance section (between the
// bench markers) in sync with the run.

/** `goal` says what was asked; `issue_goal` numbers the goals of issue 12 (0: kept from earlier issues). */
export interface Target { issue_goal: number, name: string, measured: string, goal: string, met: boolean }

const GOALS: Record<number, string> = {
  1: 'every read tool ≥ 1.5× the reference\'s access pattern (p50 and throughput)',
  2: 'MCP within 1.5× of a bare Fastify route',
  3: 'fetch_offsets and describe_configs ≤ 2× one raw etcd read',
  4: 'memory that comes back',
  5: 'cost grows at most linearly in what a tool returns',
  0: 'kept from earlier issues'
}

/** A growth exponent above this is faster than linear: 10% is what run-to-run noise moves it by. */
const LINEAR = 1.1
/** An answer that does not grow should cost the same on a 10× larger cluster. */
const FLAT = 0.25

export function targets (r: any): Target[] {
  const t: Target[] = []
  const add = (issueGoal: number, name: string, measured: string, goal: string, met: boolean): void => { t.push({ issue_goal: issueGoal, name, measured, goal, met }) }
  for (const scale of ['10k', '100k']) {
    for (const [tool, x] of Object.entries(r.tools[scale]) as Array<[string, any]>) {
      add(1, `${tool}, ${scale} partitions: vs the reference pattern`,
        `p50 ${x.p50_speedup}× (${x.ours.p50} vs ${x.reference.p50} ms), throughput ${x.rps_speedup}× (${x.ours_rps} vs ${x.reference_rps} req/s)`,
        '≥ 1.5× both', x.p50_speedup >= 1.5 && x.rps_speedup >= 1.5)
    }
  }
  for (const [partitions, transports] of Object.entries(r.transports) as Array<[string, any]>) {
    for (const [tool, x] of Object.entries(transports) as Array<[string, any]>) {
      add(2, `${tool}, ${partitions} partition${partitions === '1' ? '' : 's'}: MCP p50 vs bare route`, `${x.mcp_vs_bare}× (${x.mcp.p50} vs ${x.bare.p50} ms; the SDK alone ${x.sdk_alone_vs_bare}×)`, '≤ 1.5×', x.mcp_vs_bare <= 1.5)
    }
  }
  for (const [partitions, throughput] of Object.entries(r.throughput_rps) as Array<[string, any]>) {
    const x = throughput.c32
    const share = Math.round((100 * x.mcp) / x.bare)
    add(2, `list_topics, ${partitions} partition${partitions === '1' ? '' : 's'}: MCP throughput vs bare route, 32 connections`, `${share}% (${x.mcp} vs ${x.bare} req/s; the SDK alone ${Math.round((100 * x.sdk_alone) / x.bare)}%)`, '≥ 50%', share >= 50)
  }
  for (const [tool, x] of Object.entries(r.raw_reads) as Array<[string, any]>) {
    add(3, `${tool}: vs raw etcd read`, `${x.vs_raw}× (${x.service.p50} vs ${x.raw.p50} ms)`, '≤ 2×', x.vs_raw <= 2)
  }
  const m = r.memory
  add(4, 'RSS with the 100k-partition snapshot cached, idle 5 s after ready', `${m.rss_with_snapshot_mb} MB (${m.rss_at_ready_mb} MB at ready)`, '≤ 200 MB', m.rss_with_snapshot_mb <= 200)
  for (const [phase, label] of [['load', `${m.load.clients} clients for ${m.load.seconds} s`], ['oversized', `oversized bodies, ${m.oversized.clients} clients for ${m.oversized.seconds} s`]] as const) {
    const x = m[phase]
    add(4, `RSS growth, ${label}`, `+${x.rss_growth_peak_mb} MB (${x.rss_before_mb} → ${x.rss_peak_mb} MB)`, '≤ +100 MB', x.rss_growth_peak_mb <= 100)
    add(4, `RSS ${x.settle_s} s after ${label}`, `${sign(x.rss_growth_after_settle_mb)} MB (${x.rss_after_settle_mb} MB)`, '≤ +30 MB', x.rss_growth_after_settle_mb <= 30)
  }
  const growth = Object.entries(r.growth) as Array<[string, any]>
  const limit = (g: any): number => (g.against === 'partitions' ? FLAT : LINEAR)
  add(5, 'cost growth, 10k → 100k partitions (exponent of p50)',
    growth.map(([tool, g]) => `${tool} ${g.exponent}${g.against === 'partitions' ? ' (flat answer: vs partitions)' : ''}`).join(', '),
    `≤ ${LINEAR} in answer bytes; ≤ ${FLAT} vs partitions for an answer that does not grow`, growth.every(([, g]) => g.exponent <= limit(g)))
  const c = r.cluster_metrics
  add(0, 'cluster_metrics with a hung broker', `${c.cold_call_ms} ms (timeout ${c.timeout_ms} ms)`, `≤ ${c.timeout_ms * 1.1} ms`, c.cold_call_ms <= c.timeout_ms * 1.1)
  add(0, 'scrapes per broker, 100 concurrent calls', String(c.concurrent_scrapes_per_broker_max), '≤ 1 per cache window', c.concurrent_scrapes_per_broker_max <= 1)
  add(0, `RSS growth, ${m.burst.clients} clients at once`, `+${m.burst.rss_growth_mb} MB`, '≤ +100 MB', m.burst.rss_growth_mb <= 100)
  return t
}

const sign = (x: number): string => (x >= 0 ? `+${x}` : String(x))

function table (headers: string[], rows: Array<Array<string | number | undefined>>): string {
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.map((c) => c ?? '').join(' | ')} |`)].join('\n')
}

const timing = (x: { p50: number, p99: number } | undefined): string => (x === undefined ? '' : `${x.p50} / ${x.p99}`)
const kib = (bytes: number | undefined): string => (bytes === undefined ? '' : bytes < 10_240 ? `${bytes} B` : `${Math.round(bytes / 1024)} KiB`)

function targetsTable (tg: Target[]): string {
  return table(['goal', 'target', 'measured', 'goal', 'met'], tg.map((x) => [x.issue_goal === 0 ? '–' : x.issue_goal, x.name, x.measured, x.goal, x.met ? 'yes' : '**no**']))
}

function goalSummary (tg: Target[]): string {
  return table(['goal', '', 'met'], [1, 2, 3, 4, 5, 0].map((g) => {
    const of = tg.filter((x) => x.issue_goal === g)
    return [g === 0 ? '–' : g, GOALS[g], `${of.filter((x) => x.met).length} of ${of.length}`]
  }))
}

const split = (p: any): Array<string | number> => {
  const ms = (percent: number): string => `${round2((p.busy_ms_per_call * percent) / 100)} (${percent}%)`
  return [p.rps, p.busy_ms_per_call, ms(p.split.sdk), ms(p.split.web), ms(p.split.ours), ms(p.split.gc), ms(p.split.rest)]
}
const round2 = (x: number): number => Math.round(x * 100) / 100

/** Each profile: ours against the SDK alone in four parts, then where ours spends its time. */
function profileSections (profiles: any[]): string[] {
  return profiles.filter((p) => p !== undefined).flatMap((p) => [
    `CPU profile of ${p.tool} over MCP, ${p.partitions} partition${p.partitions === 1 ? '' : 's'} (${p.connections} connections, ${p.seconds} s, \`--cpu-prof\`), ` +
      'the service and then the SDK alone under the same load. CPU ms per call (busy samples over answered calls; the profiler slows both alike, and on a busy ' +
      'machine a preempted process still counts samples) in five parts: the SDK (with zod); the Web Request/Response plumbing its handler speaks (undici, web streams, ' +
      'TextEncoder, abort signals); ours; the garbage collector; the rest (Node\'s HTTP and sockets, Fastify, native code). Built-ins count for their caller: ' +
      'the SDK\'s JSON.stringify of the answer is the SDK\'s. See bench/README.md for what each part is.',
    '',
    table(['server', 'req/s', 'CPU ms/call', 'SDK', 'Web plumbing', 'ours', 'GC', 'rest'], [['ours (/mcp)', ...split(p)], ['SDK alone', ...split(p.sdk_alone)]]),
    '',
    'Ours, self time by owner:',
    '',
    table(['owner', 'self time'], p.by_owner.map((o: any) => [o.owner, `${o.percent}%`])),
    '',
    'Hottest functions (self time), and our functions and the SDK\'s with their callees:',
    '',
    table(['function (self)', 'owner', 'share'], p.top_self.map((f: any) => [`\`${f.function}\``, f.owner, `${f.percent}%`])),
    '',
    table(['function (with callees)', 'owner', 'share'], p.top_inclusive.map((f: any) => [`\`${f.function}\``, f.owner, `${f.percent}%`])),
    ''
  ])
}

export function markdown (r: any): string {
  const tg: Target[] = r.targets
  const heapRow = (label: string, h: any): Array<string | number> => [label, h.heap_used_mb, h.heap_total_mb, h.external_mb]
  const phaseRows = (label: string, x: any): Array<Array<string | number>> => [
    [label, `${x.clients} clients, ${x.seconds} s`, `${x.requests_ok} answered, ${x.requests_failed} failed`, x.rss_before_mb, `${x.rss_peak_mb} (+${x.rss_growth_peak_mb})`, `${x.rss_after_settle_mb} (${sign(x.rss_growth_after_settle_mb)})`]
  ]
  const scales = Object.entries(r.scales) as Array<[string, any]>
  const toolNames = Object.keys(scales[0]![1].tools)
  return [
    `# Benchmark results (${r.date})`,
    '',
    `Machine: ${r.machine.cpus} × ${r.machine.cpu_model}, ${r.machine.memory_gb} GiB; Node ${r.machine.node}; ${r.machine.etcd}. ` +
      `Load average ${r.machine.load_average.at_start.join(' ')} at the start, ${r.machine.load_average.at_end.join(' ')} at the end. ` +
      `Run took ${r.duration_s} s (\`npm run bench\`${r.settings.quick === true ? ' with BENCH_QUICK=1: a smoke run, not figures to quote' : ''}).`,
    '',
    `Cluster: ${r.cluster.topics} topics × ${r.cluster.partitionsPerTopic} partitions = ${r.cluster.partitions} partitions on ${r.cluster.brokers} brokers; ${r.cluster.groups} groups; ` +
      `one group committed over ${r.cluster.bigGroupPartitions} partitions; ${r.cluster.storedConfigs} stored topic configs; next_offset for every partition. ` +
      `Snapshot ${r.cluster.snapshot_mb} MB, ${r.cluster.keys} keys, seeded in ${r.cluster.seed_ms} ms. The 10k cluster is the same ten times smaller.`,
    '',
    '## Targets',
    '',
    goalSummary(tg),
    '',
    targetsTable(tg),
    '',
    '## Goal 1: every read tool against the reference\'s access pattern',
    '',
    'The reference pattern (`bench/reference-server.ts`) is the Go server\'s etcd access per tool, decoded with our own decoders and served on a bare ' +
      'Fastify route: the snapshot cached (the Go store watches it), `list_groups` one Get of all of `/kafscale/consumers/` with values, `describe_group` one Get, ' +
      '`fetch_offsets` one Get per partition and `describe_configs` one per topic, one after another; `consumer_lag` (the reference has none) as a client of it would compute it, ' +
      'fetch_offsets\' loop plus one Get of next_offset per partition. It leaves out the go-sdk\'s MCP framing and output round trip: it is a lower bound of the reference\'s cost ' +
      '(the issue measured the Go server itself at 7.2 ms for cluster_status and 9.1 ms for list_topics on 10k partitions, 1.3 ms for describe_group with a bare JSON-RPC client). ' +
      'The column "pattern alone" is the reference server\'s own timing of the pattern (Server-Timing), without HTTP and serialisation. ' +
      `Ours is a 2025-era JSON-RPC \`tools/call\` on /mcp, without the SDK client. Throughput: ${r.tool_concurrency} connections in a closed loop, ${r.settings.throughputS} s.`,
    '',
    ...['10k', '100k'].flatMap((scale) => [
      `### ${scale} partitions (ms, p50 / p99)`,
      '',
      table(['tool', 'ours (MCP)', 'ours (REST)', 'reference pattern', 'pattern alone', 'p50 speed-up', 'ours req/s', 'reference req/s', 'throughput speed-up', 'answer: ours / reference'],
        (Object.entries(r.tools[scale]) as Array<[string, any]>).map(([tool, x]) => [tool, timing(x.ours), timing(x.rest), timing(x.reference), timing(x.reference_pattern_only), `${x.p50_speedup}×`, x.ours_rps, x.reference_rps, `${x.rps_speedup}×`, `${kib(x.ours_bytes)} / ${kib(x.reference_bytes)}`])),
      ''
    ]),
    '## Goal 2: transports on the same payload (ms, p50 / p99)',
    '',
    'The bare route (`bench/bare-server.ts`) serialises the REST answer on every request, under the same Node flags as the service; "bare, default flags" is it without ' +
      '`--optimize-for-size --max-semi-space-size=4`. "SDK alone" (`bench/sdk-server.ts`) is the MCP SDK\'s handler as the service mounts it (`createMcpHandler`, a server per request) ' +
      'on a bare Fastify route, with one tool returning the service\'s answer pre-built (its JSON text and structuredContent): no gate, no registry, no audit. ' +
      'It is the floor any server on this SDK can reach; the gap from it to ours is ours. An MCP answer carries the result twice (structuredContent and its JSON text, ' +
      'escaped inside the JSON-RPC message), so its bytes are about twice the bare route\'s.',
    '',
    table(['partitions', 'tool', 'payload', 'MCP (SDK client)', 'MCP (raw JSON-RPC)', 'SDK alone', 'REST', 'bare route', 'bare, default flags', 'MCP / bare', 'SDK alone / bare', 'MCP / SDK alone'],
      (Object.entries(r.transports) as Array<[string, any]>).flatMap(([partitions, ts]) => (Object.entries(ts) as Array<[string, any]>).map(([tool, x]) =>
        [partitions, tool, kib(x.payload_bytes), timing(x.mcp_sdk), timing(x.mcp), timing(x.sdk_alone), timing(x.rest), timing(x.bare), timing(x.bare_default_flags), `${x.mcp_vs_bare}×`, `${x.sdk_alone_vs_bare}×`, `${x.mcp_vs_sdk_alone}×`]))),
    '',
    `Throughput of list_topics (requests/s, closed loop, ${r.settings.throughputS} s each), and the server's CPU per answered call (ms, from /proc: the work itself, which a busy machine moves less than a rate; ` +
      'for MCP and the SDK alone, "of which GC threads" is V8\'s helper threads, whose garbage-collection work grows with the heap a process keeps):',
    '',
    table(['partitions', 'connections', 'MCP', 'SDK alone', 'REST', 'bare', 'bare, default flags', 'MCP / bare', 'SDK alone / bare', 'CPU ms/call: MCP (of which GC threads)', 'SDK alone (of which GC threads)', 'REST', 'bare'],
      (Object.entries(r.throughput_rps) as Array<[string, any]>).flatMap(([partitions, cs]) => (Object.entries(cs) as Array<[string, any]>).map(([c, x]) =>
        [partitions, c.slice(1), x.mcp, x.sdk_alone, x.rest, x.bare, x.bare_default_flags, `${Math.round((100 * x.mcp) / x.bare)}%`, `${Math.round((100 * x.sdk_alone) / x.bare)}%`,
          `${x.mcp_cpu_ms} (${x.mcp_gc_threads_ms})`, `${x.sdk_alone_cpu_ms} (${x.sdk_alone_gc_threads_ms})`, x.rest_cpu_ms, x.bare_cpu_ms]))),
    '',
    ...(r.profiles !== undefined ? profileSections(r.profiles) : []),
    '## Node flags: production against Node\'s defaults (MCP p50 in ms, 100k partitions)',
    '',
    `The service runs with \`${r.node_flags.flags}\` (Dockerfile, npm start); here the same calls go to a second service under Node's defaults, one tool at a time on both. ` +
      `RSS under the defaults: ${r.node_flags.rss_at_ready_mb} MB at ready, ${r.node_flags.rss_idle_mb} MB 5 s later, ${r.node_flags.rss_after_calls_mb} MB after these calls ` +
      `(the production service: ${r.node_flags.production_rss_after_calls_mb} MB after all of the above).`,
    '',
    table(['tool', 'production flags', 'Node defaults', 'production / defaults'], (Object.entries(r.node_flags.tools) as Array<[string, any]>).map(([tool, x]) => [tool, timing(x.production), timing(x.node_defaults), `${x.ratio}×`])),
    '',
    '## Goal 3: etcd access against raw reads (ms, p50 / p99, 100k partitions)',
    '',
    'The raw read runs in the bench process (Node\'s defaults), as it did for the issue\'s figures; "under the service\'s flags" is the same read in a process ' +
      'started with the production flags, timed there (no HTTP).',
    '',
    table(['call', 'service (MCP)', 'raw etcd', 'raw, under the service\'s flags', 'raw read', 'service / raw'], (Object.entries(r.raw_reads) as Array<[string, any]>).map(([tool, x]) =>
      [tool, timing(x.service), timing(x.raw), timing(x.raw_production_flags), x.raw_read, `${x.vs_raw}×`])),
    '',
    '## Goal 4: memory (MB)',
    '',
    `A fresh service on the 100k cluster: RSS ${r.memory.rss_at_ready_mb} MB when it turns ready, ${r.memory.rss_with_snapshot_mb} MB 5 s later. It is then warmed (three calls of each read tool) and loaded twice: ` +
      'every read tool in turn from each client, then the oversized bodies of the hardening tests (900,000-name lists, 3.9-million-character strings, unknown fields, ' +
      'over /mcp up to its 4 MiB limit and over REST), each followed by an idle wait.',
    '',
    table(['phase', 'load', 'requests', 'RSS before', 'RSS peak', 'RSS after the wait'], [...phaseRows('read tools', r.memory.load), ...phaseRows('oversized bodies', r.memory.oversized)]),
    '',
    'V8 heap (from the service\'s /metrics):',
    '',
    table(['when', 'heap used', 'heap total', 'external'], [
      heapRow('snapshot cached, 5 s after ready', r.memory.heap_with_snapshot), heapRow('before the read-tool load', r.memory.load.heap_before), heapRow('after it and the wait', r.memory.load.heap_after_settle),
      heapRow('after the oversized bodies and the wait', r.memory.oversized.heap_after_settle)
    ]),
    '',
    '## Goal 5: cost growth (MCP p50 in ms, answer size)',
    '',
    table(['cluster', 'partitions', ...toolNames], scales.map(([k, x]) => [k, x.partitions, ...toolNames.map((tool) => `${x.tools[tool].p50} (${kib(x.tools[tool].bytes)})`)])),
    '',
    table(['tool', '1/10 → 1/1 p50', 'grows with', 'size ratio', 'exponent'], (Object.entries(r.growth) as Array<[string, any]>).map(([tool, g]) => [tool, `${g.from_ms} → ${g.to_ms} ms`, g.against, `${g.size_ratio}×`, g.exponent])),
    '',
    '## cluster_metrics, 30 brokers (one hung, one answering 500)',
    '',
    table(['figure', 'value'], Object.entries(r.cluster_metrics).map(([k, v]) => [k, String(v)])),
    ''
  ].join('\n')
}

export function writeReport (dir: string, readme: string, results: any): void {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`)
  writeFileSync(join(dir, 'latest.md'), markdown(results))
  const text = readFileSync(readme, 'utf8')
  const start = text.indexOf('<!-- bench:start -->')
  const end = text.indexOf('<!-- bench:end -->')
  if (start < 0 || end < 0) return
  const summary = [
    '<!-- bench:start -->',
    `Latest \`npm run bench\` (${results.date.slice(0, 10)}, ${results.machine.cpus} cores, load average ${results.machine.load_average.at_start[0]} at the start; ` +
      `${results.duration_s} s; full report in \`bench/results/latest.md\`):`,
    '',
    goalSummary(results.targets),
    '',
    targetsTable(results.targets),
    ''
  ].join('\n')
  writeFileSync(readme, text.slice(0, start) + summary + text.slice(end))
}
