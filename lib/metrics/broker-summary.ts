import type { Exposition, Sample } from './exposition.ts'

// One broker's figures, derived as KafScale's console derives them (contract §6.6).
export interface BrokerSummary {
  /** healthy, degraded, unavailable, or "" when no state line has value 1 */
  s3State: string
  /** whole milliseconds, truncated */
  s3LatencyMs: number
  s3ErrorRate: number
  produceRps: number
  fetchRps: number
  adminRequestsTotal: number
  adminRequestErrorsTotal: number
  /** unweighted mean over the per-API averages */
  adminRequestLatencyMs: number
  cpuPercent: number
  memBytes: number
}

export function summarizeBroker (exposition: Exposition): BrokerSummary {
  const byName = new Map<string, Sample[]>()
  for (const s of exposition.samples) {
    let list = byName.get(s.name)
    if (list === undefined) byName.set(s.name, list = [])
    list.push(s)
  }
  const last = (name: string): number => byName.get(name)?.at(-1)?.value ?? 0
  const apiValues = (name: string): number[] => (byName.get(name) ?? []).filter((s) => s.labels.api !== undefined).map((s) => s.value)
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
  const latencies = apiValues('kafscale_admin_request_latency_ms_avg')
  const heapInuse = last('kafscale_broker_heap_inuse_bytes')
  return {
    s3State: (byName.get('kafscale_s3_health_state') ?? []).find((s) => s.value === 1)?.labels.state ?? '',
    s3LatencyMs: Math.trunc(last('kafscale_s3_latency_ms_avg')),
    s3ErrorRate: last('kafscale_s3_error_rate'),
    produceRps: last('kafscale_produce_rps'),
    fetchRps: last('kafscale_fetch_rps'),
    adminRequestsTotal: sum(apiValues('kafscale_admin_requests_total')),
    adminRequestErrorsTotal: sum(apiValues('kafscale_admin_request_errors_total')),
    adminRequestLatencyMs: latencies.length === 0 ? 0 : sum(latencies) / latencies.length,
    cpuPercent: last('kafscale_broker_cpu_percent'),
    memBytes: heapInuse > 0 ? heapInuse : last('kafscale_broker_mem_alloc_bytes')
  }
}
