import { Agent } from 'undici'
import { closedLoop, mcpRequest, postRequest, rssMb, sleep, type Child, type Request } from './harness.ts'
import { round } from './stats.ts'
import { groupName, topicName, type ClusterShape } from './seed.ts'

// Memory of the service under load and after it: peak RSS while the load runs, RSS once the
// load has been gone a while, and what the heap figures say about where the rest sits.

/** What /metrics says of the process (prom-client's default metrics), in MB. */
export interface HeapFigures { heap_used_mb: number, heap_total_mb: number, external_mb: number }

export async function heapFigures (base: string): Promise<HeapFigures> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const value = (name: string): number | undefined => {
    const match = new RegExp(`^kafscale_mcp_${name} ([0-9.e+]+)$`, 'm').exec(text)
    return match === null ? undefined : round(Number(match[1]) / 2 ** 20, 1)
  }
  return {
    heap_used_mb: value('nodejs_heap_size_used_bytes') ?? NaN,
    heap_total_mb: value('nodejs_heap_size_total_bytes') ?? NaN,
    external_mb: value('nodejs_external_memory_bytes') ?? NaN
  }
}

export interface LoadPhase {
  clients: number
  seconds: number
  requests_ok: number
  requests_failed: number
  first_error?: string
  rss_before_mb: number
  rss_peak_mb: number
  rss_growth_peak_mb: number
  settle_s: number
  rss_after_settle_mb: number
  rss_growth_after_settle_mb: number
  heap_before: HeapFigures
  heap_after_settle: HeapFigures
}

/** Runs `requests` from `clients` connections for `seconds`, samples RSS, then waits `settleS` idle. */
export async function loadPhase (service: Child, requests: Request[], clients: number, seconds: number, settleS: number, accept?: (status: number, text: string) => boolean): Promise<LoadPhase> {
  const heapBefore = await heapFigures(service.base)
  const before = rssMb(service.pid)
  let peak = before
  const sampler = setInterval(() => { peak = Math.max(peak, rssMb(service.pid)) }, 50)
  const load = await closedLoop(service.base, requests, clients, seconds, accept)
  clearInterval(sampler)
  peak = Math.max(peak, rssMb(service.pid))
  await sleep(settleS * 1000)
  const after = rssMb(service.pid)
  return {
    clients,
    seconds,
    requests_ok: load.ok,
    requests_failed: load.failed,
    ...(load.firstError !== undefined ? { first_error: load.firstError } : {}),
    rss_before_mb: before,
    rss_peak_mb: peak,
    rss_growth_peak_mb: round(peak - before, 1),
    settle_s: settleS,
    rss_after_settle_mb: after,
    rss_growth_after_settle_mb: round(after - before, 1),
    heap_before: heapBefore,
    heap_after_settle: await heapFigures(service.base)
  }
}

/**
 * The oversized bodies of the hardening tests (test/input-bounds.test.ts, test/fuzz.test.ts):
 * 900,000-name lists, 3.9-million-character strings, unknown fields, over /mcp (up to its
 * 4 MiB limit, so they are read and parsed) and over REST (refused by the route's body limit).
 */
export function oversizedRequests (): Request[] {
  const names = new Array<string>(900_000).fill('/')
  const long = 'x'.repeat(3_900_000)
  return [
    mcpRequest('describe_topics', { names }),
    mcpRequest('describe_group', { group_id: long }),
    mcpRequest('describe_configs', { topics: new Array<string>(350_000).fill('orders') }),
    mcpRequest('list_topics', { pad: long }),
    mcpRequest('fetch_offsets', { group_id: 'big-group', topics: new Array<string>(100_000).fill('x'.repeat(10)) }),
    postRequest('/api/v1/tools/describe_topics', { names }),
    postRequest('/api/v1/tools/consumer_lag', { group_id: long })
  ]
}

/** A refusal is the right answer to an oversized body; a 5xx is not. */
export const refusedOrAnswered = (status: number): boolean => status < 500

/**
 * What 200 clients ask: every read tool in turn, on the ordinary groups (ten partitions each)
 * and ten topics, as a fleet of agents would; the 2,000-partition group is for the latency figures.
 */
export function ordinaryMix (shape: ClusterShape): Request[] {
  const names = Array.from({ length: Math.min(10, shape.topics) }, (_, i) => topicName(i))
  return Array.from({ length: shape.groups }, (_, g) => [
    mcpRequest('describe_group', { group_id: groupName(g) }),
    mcpRequest('list_topics', {}),
    mcpRequest('fetch_offsets', { group_id: groupName(g) }),
    mcpRequest('cluster_status', {}),
    mcpRequest('consumer_lag', { group_id: groupName(g) }),
    mcpRequest('describe_topics', { names }),
    mcpRequest('describe_configs', { topics: names }),
    mcpRequest('list_groups', {})
  ]).flat()
}

/** The existing burst check: 1,000 clients at once, one small call each. */
export async function burst (service: Child, clients: number): Promise<{ clients: number, clients_ok: number, rss_before_mb: number, rss_peak_mb: number, rss_growth_mb: number }> {
  const before = rssMb(service.pid)
  let peak = before
  const sampler = setInterval(() => { peak = Math.max(peak, rssMb(service.pid)) }, 20)
  const agent = new Agent({ connections: clients, pipelining: 0 })
  const { body } = mcpRequest('describe_group', { group_id: groupName(0) })
  const answers = await Promise.allSettled(Array.from({ length: clients }, async () => {
    const res = await fetch(`${service.base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body, dispatcher: agent } as RequestInit)
    await res.text()
    if (res.status !== 200) throw new Error(String(res.status))
  }))
  clearInterval(sampler)
  peak = Math.max(peak, rssMb(service.pid))
  await agent.close()
  return { clients, clients_ok: answers.filter((a) => a.status === 'fulfilled').length, rss_before_mb: before, rss_peak_mb: peak, rss_growth_mb: round(peak - before, 1) }
}
