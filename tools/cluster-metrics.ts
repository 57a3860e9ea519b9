import { ClusterMetricsInput, ClusterMetricsOutput } from '../schemas/cluster.ts'
import type { SnapshotBroker } from '../lib/kafscale/snapshot.ts'
import type { BrokerResult } from '../lib/metrics/cluster-metrics.ts'
import { defineTool, observedAt, READ_ONLY, toolPlugin, type ToolContext } from '../index.ts'

const description = 'Return broker metrics: S3 health state, S3 latency (ms) and error rate, produce and fetch ' +
  'throughput (records per second), admin API request, error and latency figures, aggregated over the brokers ' +
  '(worst S3 state, mean latency, summed rates), and a per-broker breakdown with CPU and memory; a broker whose ' +
  'metrics cannot be read is listed with its error. Use it to judge load and S3 health; results are cached for a couple of seconds.'

export default toolPlugin(defineTool({
  name: 'cluster_metrics',
  title: 'Cluster metrics',
  description,
  input: ClusterMetricsInput,
  output: ClusterMetricsOutput,
  annotations: { ...READ_ONLY, openWorldHint: true },
  async handler (_input, ctx) {
    const collector = ctx.require('brokerMetrics')
    const { source, aggregate, brokers: results } = await collector.collect(brokersOf(ctx))
    return {
      s3_state: aggregate.s3State,
      s3_latency_ms: aggregate.s3LatencyMs,
      s3_error_rate: aggregate.s3ErrorRate,
      produce_rps: aggregate.produceRps,
      fetch_rps: aggregate.fetchRps,
      admin_requests_total: aggregate.adminRequestsTotal,
      admin_request_errors_total: aggregate.adminRequestErrorsTotal,
      admin_request_latency_ms: aggregate.adminRequestLatencyMs,
      source,
      brokers: results.map(brokerEntry),
      observed_at: observedAt()
    }
  }
}))

/** The snapshot's brokers; without a store or snapshot, none, and the configured URL alone answers. */
function brokersOf (ctx: ToolContext): readonly SnapshotBroker[] {
  try {
    return ctx.require('store').snapshotView().snapshot.brokers
  } catch {
    return []
  }
}

function brokerEntry ({ target, scrape, error }: BrokerResult): ClusterMetricsOutput['brokers'][number] {
  if (scrape === undefined) return { node_id: target.nodeId, host: target.host, ok: false, error: error?.message ?? 'unknown error' }
  const s = scrape.summary
  return {
    node_id: target.nodeId,
    host: target.host,
    ok: true,
    s3_state: s.s3State,
    s3_latency_ms: s.s3LatencyMs,
    s3_error_rate: s.s3ErrorRate,
    produce_rps: s.produceRps,
    fetch_rps: s.fetchRps,
    admin_requests_total: s.adminRequestsTotal,
    admin_request_errors_total: s.adminRequestErrorsTotal,
    cpu_percent: s.cpuPercent,
    mem_bytes: s.memBytes,
    scraped_at: scrape.scrapedAt.toISOString()
  }
}
