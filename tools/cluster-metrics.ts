import type { FastifyInstance } from 'fastify'
import { ClusterMetricsInput, ClusterMetricsOutput } from '../schemas/cluster.ts'
import { defineTool, observedAt } from '../lib/tool.ts'
import { READ_ONLY } from './read-only.ts'

const description = 'Return the broker metrics snapshot: S3 health state, S3 latency (ms) and error rate, ' +
  'produce and fetch throughput (records per second), and admin API request, error and latency figures. ' +
  'Use it to judge load and S3 health; results are cached for a couple of seconds.'

export default async function clusterMetricsTool (app: FastifyInstance): Promise<void> {
  app.tools.add(defineTool({
    name: 'cluster_metrics',
    title: 'Cluster metrics',
    description,
    input: ClusterMetricsInput,
    output: ClusterMetricsOutput,
    annotations: { ...READ_ONLY, openWorldHint: true },
    async handler (_input, ctx) {
      const { summary } = await ctx.metrics().scrape()
      return {
        s3_state: summary.s3State,
        s3_latency_ms: summary.s3LatencyMs,
        s3_error_rate: summary.s3ErrorRate,
        produce_rps: summary.produceRps,
        fetch_rps: summary.fetchRps,
        admin_requests_total: summary.adminRequestsTotal,
        admin_request_errors_total: summary.adminRequestErrorsTotal,
        admin_request_latency_ms: summary.adminRequestLatencyMs,
        observed_at: observedAt()
      }
    }
  }))
}
