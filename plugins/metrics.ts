import fp from 'fastify-plugin'
import { MetricsScraper } from '../lib/metrics/scraper.ts'

export interface MetricsPluginOptions {
  /** The broker's Prometheus endpoint, e.g. http://kafscale-broker:9093/metrics */
  brokerMetricsUrl?: string
  timeoutMs: number
  cacheTtlMs: number
}

declare module 'fastify' {
  interface FastifyInstance {
    brokerMetrics: MetricsScraper | undefined
  }
}

export default fp<MetricsPluginOptions>(async function metrics (app, options) {
  if (options.brokerMetricsUrl === undefined || options.brokerMetricsUrl === '') {
    app.decorate('brokerMetrics', undefined)
    return
  }
  const url = new URL(options.brokerMetricsUrl)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`metrics: ${options.brokerMetricsUrl} is not an http(s) URL`)
  if (!(options.timeoutMs > 0)) throw new Error('metrics: timeoutMs must be positive')
  app.decorate('brokerMetrics', new MetricsScraper({ url: url.href, timeoutMs: options.timeoutMs, cacheTtlMs: options.cacheTtlMs }))
}, { name: 'kafscale-metrics', fastify: '5.x' })
