export interface Timing {
  n: number
  p50: number
  p99: number
  mean: number
}

/** Runs fn n times (after `warmup` runs) and reports milliseconds. */
export async function time (n: number, fn: () => Promise<unknown>, warmup = 2): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn()
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
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
