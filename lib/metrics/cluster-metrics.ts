import { MetricsRequestError } from '../errors.ts'
import type { SnapshotBroker } from '../kafscale/snapshot.ts'
import { bareHost, eachBroker, type BrokerOutcome } from '../per-broker.ts'
import { summarizeBroker, type BrokerSummary } from './broker-summary.ts'
import { MetricsScraper, type ScrapeResult } from './scraper.ts'

// Cluster metrics as KafScale's console builds them (contract §6.6): one scrape per broker,
// at a URL made of the configured URL's scheme, port and path and the broker's snapshot host,
// all in parallel with a per-broker timeout; the aggregate follows the console's rules. When
// no broker answers, the configured URL itself is scraped, as the console falls back.

export interface BrokerTarget {
  nodeId: number
  host: string
  url: string
}

export interface BrokerResult extends BrokerOutcome<BrokerTarget> {
  scrape?: ScrapeResult<BrokerSummary>
}

export interface ClusterMetrics {
  /** per-broker: the aggregate of the broker scrapes; single-url: the configured URL alone. */
  source: 'per-broker' | 'single-url'
  aggregate: Aggregate
  brokers: BrokerResult[]
}

/** The cluster's figures: a broker's, less the per-broker runtime ones. */
export type Aggregate = Omit<BrokerSummary, 'cpuPercent' | 'memBytes'>

export interface CollectorOptions {
  /** KAFSCALE_MCP_BROKER_METRICS_URL: the fallback URL and the template of per-broker URLs. */
  url?: string
  /** Explicit per-broker URLs by node id; they win over the template. */
  brokerUrls: Map<number, string>
  timeoutMs: number
  cacheTtlMs: number
}

const S3_RANK: Record<string, number> = { healthy: 0, degraded: 1, unavailable: 2 }

/** The console's URL rule: template scheme (http), port (9093) and path (/metrics), broker host. */
export function brokerMetricsUrl (template: string | undefined, host: string): string {
  const t = template !== undefined ? new URL(template) : undefined
  const scheme = t?.protocol.replace(':', '') ?? 'http'
  const port = t?.port !== undefined && t.port !== '' ? t.port : '9093'
  const rawPath = t?.pathname ?? ''
  const path = rawPath === '' || rawPath === '/' ? '/metrics' : rawPath.replace(/\/+/g, '/').replace(/\/$/, '')
  return `${scheme}://${bareHost(host)}:${port}${path}`
}

export function aggregate (summaries: BrokerSummary[]): Aggregate {
  const positive = (xs: number[]): number[] => xs.filter((x) => x > 0)
  const mean = (xs: number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length)
  const sum = (pick: (s: BrokerSummary) => number): number => summaries.reduce((a, s) => a + pick(s), 0)
  let worst = ''
  for (const s of summaries) {
    const rank = S3_RANK[s.s3State]
    if (rank !== undefined && (worst === '' || rank > S3_RANK[worst]!)) worst = s.s3State
  }
  const latencies = positive(summaries.map((s) => s.s3LatencyMs))
  return {
    s3State: worst,
    // Integer division, brokers reporting 0 left out, as the console does.
    s3LatencyMs: latencies.length === 0 ? 0 : Math.trunc(latencies.reduce((a, b) => a + b, 0) / latencies.length),
    s3ErrorRate: mean(positive(summaries.map((s) => s.s3ErrorRate))),
    produceRps: sum((s) => s.produceRps),
    fetchRps: sum((s) => s.fetchRps),
    adminRequestsTotal: sum((s) => s.adminRequestsTotal),
    adminRequestErrorsTotal: sum((s) => s.adminRequestErrorsTotal),
    adminRequestLatencyMs: mean(positive(summaries.map((s) => s.adminRequestLatencyMs)))
  }
}

export class ClusterMetricsCollector {
  private readonly options: CollectorOptions
  /** One scraper (cache and single flight) per URL, so concurrent calls share scrapes. */
  private readonly scrapers = new Map<string, MetricsScraper<BrokerSummary>>()

  constructor (options: CollectorOptions) {
    this.options = options
  }

  get configured (): boolean {
    return this.options.url !== undefined || this.options.brokerUrls.size > 0
  }

  /** Scrapes performed so far, per URL. */
  scrapeCounts (): Map<string, number> {
    return new Map([...this.scrapers].map(([url, s]) => [url, s.scrapeCount]))
  }

  private scraper (url: string): MetricsScraper<BrokerSummary> {
    let scraper = this.scrapers.get(url)
    if (scraper === undefined) {
      scraper = new MetricsScraper({ url, timeoutMs: this.options.timeoutMs, cacheTtlMs: this.options.cacheTtlMs, interpret: summarizeBroker })
      this.scrapers.set(url, scraper)
    }
    return scraper
  }

  targets (brokers: readonly SnapshotBroker[]): BrokerTarget[] {
    const out: BrokerTarget[] = []
    for (const b of brokers) {
      const explicit = this.options.brokerUrls.get(b.nodeId)
      if (explicit !== undefined) out.push({ nodeId: b.nodeId, host: b.host, url: explicit })
      else if (this.options.url !== undefined && b.host !== '') out.push({ nodeId: b.nodeId, host: b.host, url: brokerMetricsUrl(this.options.url, b.host) })
    }
    return out
  }

  async collect (brokers: readonly SnapshotBroker[]): Promise<ClusterMetrics> {
    const results: BrokerResult[] = await eachBroker(this.targets(brokers), 'KSMCP_ERR_METRICS_FAILED', async (target) => ({ target, scrape: await this.scraper(target.url).scrape() }))
    const ok = results.flatMap((r) => (r.scrape !== undefined ? [r.scrape.summary] : []))
    if (ok.length > 0) return { source: 'per-broker', aggregate: aggregate(ok), brokers: results }
    if (this.options.url === undefined) {
      throw new MetricsRequestError(results.length === 0 ? 'no brokers available for metrics' : `no broker metrics available: ${results.map((r) => r.error?.message).join('; ')}`)
    }
    // The console's fallback: the configured URL itself (often the brokers' Service).
    const single = await this.scraper(this.options.url).scrape()
    return { source: 'single-url', aggregate: aggregate([single.summary]), brokers: results }
  }
}
