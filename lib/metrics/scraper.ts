import { MetricsRequestError, MetricsTimeoutError } from '../errors.ts'
import { parseExposition, type Exposition } from './exposition.ts'

export interface ScraperOptions<T> {
  url: string
  timeoutMs: number
  /** How long one scrape answers every caller; 0 disables the cache. */
  cacheTtlMs: number
  /** What the exposition means to us (a broker's or the operator's figures). */
  interpret: (exposition: Exposition) => T
}

export interface ScrapeResult<T> {
  summary: T
  scrapedAt: Date
}

/**
 * Scrapes one broker metrics URL. Concurrent callers share one request, and a result (or a
 * failure) is reused for the cache window: each scrape resets the broker's CPU baseline
 * (contract §6.2), so an agent looping on cluster_metrics must not hammer the broker.
 */
export class MetricsScraper<T> {
  scrapeCount = 0
  private cached: { settledAt: number | undefined, result: Promise<ScrapeResult<T>> } | undefined

  readonly options: ScraperOptions<T>

  constructor (options: ScraperOptions<T>) {
    this.options = options
  }

  async scrape (): Promise<ScrapeResult<T>> {
    const cached = this.cached
    if (cached !== undefined && (cached.settledAt === undefined || Date.now() - cached.settledAt < this.options.cacheTtlMs)) {
      return await cached.result
    }
    const entry: NonNullable<typeof this.cached> = { settledAt: undefined, result: this.fetchOnce() }
    entry.result.catch(() => {}).finally(() => { entry.settledAt = Date.now() })
    this.cached = entry
    return await entry.result
  }

  private async fetchOnce (): Promise<ScrapeResult<T>> {
    this.scrapeCount++
    const { url, timeoutMs } = this.options
    let res: Response
    let body: string
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'text/plain' } })
      body = await res.text()
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') throw new MetricsTimeoutError(url, timeoutMs)
      const cause = (err as { cause?: { message?: string } }).cause?.message
      throw new MetricsRequestError(`GET ${url}: ${cause ?? (err as Error).message}`)
    }
    if (res.status !== 200) throw new MetricsRequestError(`GET ${url}: ${res.status} ${res.statusText}`)
    try {
      return { summary: this.options.interpret(parseExposition(body)), scrapedAt: new Date() }
    } catch (err) {
      throw new MetricsRequestError(`GET ${url}: not a Prometheus exposition: ${(err as Error).message}`)
    }
  }
}
