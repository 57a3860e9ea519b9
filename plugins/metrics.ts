import fp from 'fastify-plugin'
import type { Config } from '../lib/config.ts'
import { assertOptions, httpUrl, positive, problemOf, wholeNumber } from '../lib/config/checks.ts'
import { ClusterMetricsCollector } from '../lib/metrics/cluster-metrics.ts'
import { summarizeOperator, type OperatorSummary } from '../lib/metrics/operator-summary.ts'
import { MetricsScraper } from '../lib/metrics/scraper.ts'

/**
 * A broker's Prometheus endpoint (the fallback and the per-broker template), explicit per-broker
 * URLs by node id, the KafScale operator's metrics (etcd backup health, for cluster_health).
 */
export const METRICS_SETTINGS = ['brokerMetricsUrl', 'brokerMetricsUrls', 'operatorMetricsUrl', 'metricsTimeoutMs', 'metricsCacheTtlMs'] as const
export type MetricsPluginOptions = Pick<Config, typeof METRICS_SETTINGS[number]>

declare module 'fastify' {
  interface FastifyInstance {
    brokerMetrics: ClusterMetricsCollector | undefined
    operatorMetrics: MetricsScraper<OperatorSummary> | undefined
  }
}

export default fp<MetricsPluginOptions>(async function metrics (app, options) {
  const explicit = new Map(Object.entries(options.brokerMetricsUrls).map(([id, url]) => [Number(id), url]))
  const url = options.brokerMetricsUrl === '' ? undefined : options.brokerMetricsUrl
  const operatorUrl = options.operatorMetricsUrl === '' ? undefined : options.operatorMetricsUrl
  const timeoutMs = options.metricsTimeoutMs
  const cacheTtlMs = options.metricsCacheTtlMs
  assertOptions('kafscale-metrics', [
    url === undefined ? undefined : problemOf('brokerMetricsUrl', url, httpUrl),
    ...[...explicit].map(([id, u]) => problemOf(`brokerMetricsUrls[${id}]`, u, httpUrl)),
    operatorUrl === undefined ? undefined : problemOf('operatorMetricsUrl', operatorUrl, httpUrl),
    problemOf('metricsTimeoutMs', timeoutMs, positive),
    problemOf('metricsCacheTtlMs', cacheTtlMs, wholeNumber(0))
  ])
  const collector = new ClusterMetricsCollector({ ...(url !== undefined ? { url } : {}), brokerUrls: explicit, timeoutMs, cacheTtlMs })
  app.decorate('brokerMetrics', collector.configured ? collector : undefined)
  app.decorate('operatorMetrics', operatorUrl === undefined
    ? undefined
    : new MetricsScraper({ url: operatorUrl, timeoutMs, cacheTtlMs, interpret: summarizeOperator }))
}, { name: 'kafscale-metrics', fastify: '5.x' })
