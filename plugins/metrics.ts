import fp from 'fastify-plugin'
import { ClusterMetricsCollector } from '../lib/metrics/cluster-metrics.ts'
import { summarizeOperator, type OperatorSummary } from '../lib/metrics/operator-summary.ts'
import { MetricsScraper } from '../lib/metrics/scraper.ts'

export interface MetricsPluginOptions {
  /** A broker's Prometheus endpoint, e.g. http://kafscale-broker:9093/metrics: the fallback and the per-broker template. */
  brokerMetricsUrl?: string
  /** Explicit per-broker URLs by node id. */
  brokerMetricsUrls?: Record<number, string>
  /** The KafScale operator's metrics (etcd backup health), for cluster_health. */
  operatorMetricsUrl?: string
  timeoutMs: number
  cacheTtlMs: number
}

declare module 'fastify' {
  interface FastifyInstance {
    brokerMetrics: ClusterMetricsCollector | undefined
    operatorMetrics: MetricsScraper<OperatorSummary> | undefined
  }
}

export default fp<MetricsPluginOptions>(async function metrics (app, options) {
  const explicit = new Map(Object.entries(options.brokerMetricsUrls ?? {}).map(([id, url]) => [Number(id), url]))
  const url = options.brokerMetricsUrl === '' ? undefined : options.brokerMetricsUrl
  for (const u of [url, options.operatorMetricsUrl, ...explicit.values()]) {
    if (u === undefined) continue
    const protocol = new URL(u).protocol
    if (protocol !== 'http:' && protocol !== 'https:') throw new Error(`metrics: ${u} is not an http(s) URL`)
  }
  if (!(options.timeoutMs > 0)) throw new Error('metrics: timeoutMs must be positive')
  const collector = new ClusterMetricsCollector({ ...(url !== undefined ? { url } : {}), brokerUrls: explicit, timeoutMs: options.timeoutMs, cacheTtlMs: options.cacheTtlMs })
  app.decorate('brokerMetrics', collector.configured ? collector : undefined)
  app.decorate('operatorMetrics', options.operatorMetricsUrl === undefined || options.operatorMetricsUrl === ''
    ? undefined
    : new MetricsScraper({ url: options.operatorMetricsUrl, timeoutMs: options.timeoutMs, cacheTtlMs: options.cacheTtlMs, interpret: summarizeOperator }))
}, { name: 'kafscale-metrics', fastify: '5.x' })
