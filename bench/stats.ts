export interface Timing {
  n: number
  p50: number
  p99: number
  mean: number
}

/**
 * Runs fn n times (after `warmup` runs) and reports milliseconds. With a budget, stops early
 * once it has `minSamples` and spent that long: a loop of 4,000 sequential Gets takes seconds.
 */
export async function time (n: number, fn: () => Promise<unknown>, warmup = 2, budgetMs = Infinity, minSamples = 3): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn()
  const samples: number[] = []
  const began = performance.now()
  for (let i = 0; i < n && (samples.length < minSamples || performance.now() - began < budgetMs); i++) {
    const start = performance.now()
    await fn()
    samples.push(performance.now() - start)
  }
  return summarize(samples)
}

export function summarize (samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
  return { n: sorted.length, p50: round(at(0.5)), p99: round(at(0.99)), mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length) }
}

export function round (x: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

export function ratio (a: number, b: number): number {
  return round(a / b, 2)
}

/** The exponent k of y ∝ x^k between two points: 1 is linear growth. */
export function exponent (y0: number, y1: number, x0: number, x1: number): number {
  return round(Math.log(y1 / y0) / Math.log(x1 / x0), 2)
}
