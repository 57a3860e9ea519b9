import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

// V8 collects old-space garbage when later allocation asks for it, so an idle service keeps
// whatever a large decode left behind. Decoding a 13 MB snapshot (100,000 partitions) leaves
// ~55 MB of it (the JSON text, the parsed JSON tree, gRPC's receive buffers) against 4.4 MB for
// the decoded snapshot: RSS 5 s after ready was 218-220 MB, and 162 MB with one collection.
// A plain major collection frees the objects but keeps their pages (193-196 MB); the
// "last-resort" one returns the pages too, and costs 0.2-0.7 s on two busy cores: hence at most
// one per interval.

type Gc = (options?: { type: 'major', execution: 'sync', flavor: 'last-resort' }) => void

let exposedGc: Gc | undefined

/** A full, memory-returning garbage collection now. */
export function collectGarbage (): void {
  if (exposedGc === undefined) {
    // gc() is a global only where --expose-gc was given, and only in contexts made after the
    // flag is set: a fresh context hands it over (as jest's leak detector gets it).
    exposedGc = (globalThis as { gc?: Gc }).gc
    if (exposedGc === undefined) {
      setFlagsFromString('--expose-gc')
      exposedGc = runInNewContext('gc') as Gc
    }
  }
  exposedGc({ type: 'major', execution: 'sync', flavor: 'last-resort' })
}

export interface CollectionPolicy {
  /** Decodes at least this large are followed by a collection. */
  minBytes: number
  /** At most one collection per this many ms; the garbage of the others waits for V8. */
  minIntervalMs: number
  now?: () => number
  collect?: () => void
  /** Runs the collection once the caller is done (it still holds the value and gRPC's buffers). */
  defer?: (run: () => void) => void
}

/** Collects the garbage of large decodes, at most once per interval. */
export class CollectAfterLargeDecodes {
  private last = Number.NEGATIVE_INFINITY
  private readonly policy: Required<CollectionPolicy>

  constructor (policy: CollectionPolicy) {
    this.policy = { now: Date.now, collect: collectGarbage, defer: setImmediate, ...policy }
  }

  /** Says that `bytes` were just decoded; whether a collection was scheduled. */
  decoded (bytes: number): boolean {
    const { minBytes, minIntervalMs, now, collect, defer } = this.policy
    if (bytes < minBytes || now() - this.last < minIntervalMs) return false
    this.last = now()
    defer(collect)
    return true
  }
}
