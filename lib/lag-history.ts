// What this replica has seen of each partition's consumption, kept in memory to judge lag by
// behaviour rather than by a threshold (lib/lag-status.ts): per group and partition the latest
// commits (offset, time, the log end known then), and per partition the log-end offsets
// observed, kept apart from the commits so that a partition whose new message has not been
// consumed *yet* can be told from one whose consumer stopped.
//
// Nothing here is persisted or shared: after a restart the history is empty, and two replicas
// hold the histories of what each one saw. Time comes from the injected clock, except a
// commit's own time, which is the committed_at KafScale stamped on it.
//
// Memory: three doubles per commit and per log-end value (an offset beyond 2^53 loses
// precision here, which only rates would notice), at most `commits` of each per partition and
// at most `maxPartitions` windows: 10 commits for 100,000 partitions is about 25 MB.

export const DEFAULT_LAG_WINDOW_COMMITS = 10
export const DEFAULT_LAG_WINDOW_SPAN_MS = 15 * 60_000
export const DEFAULT_LAG_HISTORY_MAX_PARTITIONS = 100_000

export interface LagHistoryOptions {
  /** Commits kept per partition (and distinct log-end values). */
  commits?: number
  /** The oldest entry kept is at most this much older than the newest. */
  spanMs?: number
  /** Windows kept at most: partitions beyond are not tracked. */
  maxPartitions?: number
  clock?: () => number
}

export interface CommitEntry {
  offset: number
  /** committed_at, in ms since the epoch (our clock where KafScale's could not be read). */
  at: number
  /** The log end this replica knew at that time; null when it had seen none yet. */
  logEnd: number | null
}

export interface LogEndObservation {
  offset: number
  /** When this value was first and last read: the log end held it at least over that span. */
  firstSeen: number
  lastSeen: number
}

const STRIDE = 3

/** Ring of entries of three numbers, oldest first, bounded in count and in span from the newest. */
class Series {
  readonly values: number[] = []

  get length (): number {
    return this.values.length / STRIDE
  }

  /** Field `f` of entry `i`, oldest first. */
  at (i: number, f: number): number {
    return this.values[i * STRIDE + f]!
  }

  push (a: number, b: number, c: number, max: number, spanMs: number, timeField: number): void {
    this.values.push(a, b, c)
    let drop = Math.max(0, this.length - max)
    const newest = this.at(this.length - 1, timeField)
    while (drop < this.length - 1 && newest - this.at(drop, timeField) > spanMs) drop++
    if (drop > 0) this.values.splice(0, drop * STRIDE)
  }
}

export class LagHistory {
  readonly commits: number
  readonly spanMs: number
  readonly clock: () => number
  /** When this history began: nothing before it is known. */
  readonly since: number
  private readonly maxPartitions: number
  /** group → `${topic}/${partition}` → commits [offset, at, logEnd or NaN]. */
  private readonly windows = new Map<string, Map<string, Series>>()
  private windowCount = 0
  /** topic → partition → how many groups keep a window on it. */
  private readonly tracked = new Map<string, Map<number, number>>()
  /** topic → partition → distinct log-end values [offset, firstSeen, lastSeen]. */
  private readonly logEnds = new Map<string, Map<number, Series>>()
  /** A group's state as last seen (its metadata), for the rebalance guard. */
  private readonly groupStates = new Map<string, string>()

  constructor (options: LagHistoryOptions = {}) {
    this.commits = options.commits ?? DEFAULT_LAG_WINDOW_COMMITS
    this.spanMs = options.spanMs ?? DEFAULT_LAG_WINDOW_SPAN_MS
    this.maxPartitions = options.maxPartitions ?? DEFAULT_LAG_HISTORY_MAX_PARTITIONS
    this.clock = options.clock ?? Date.now
    this.since = this.clock()
  }

  /**
   * A commit as etcd holds it. The watch delivers each one; reads and samples deliver the
   * latest again, which is dropped, as is anything older than the window's newest commit.
   */
  recordCommit (groupId: string, topic: string, partition: number, offset: bigint, committedAt: string): void {
    const key = `${topic}/${partition}`
    let group = this.windows.get(groupId)
    let window = group?.get(key)
    if (window === undefined) {
      if (this.windowCount >= this.maxPartitions) return
      if (group === undefined) this.windows.set(groupId, group = new Map())
      group.set(key, window = new Series())
      this.windowCount++
      this.track(topic, partition, 1)
    }
    const parsed = Date.parse(committedAt)
    const at = Number.isNaN(parsed) ? this.clock() : parsed
    const n = window.length
    const value = Number(offset)
    if (n > 0) {
      const lastAt = window.at(n - 1, 1)
      if (at < lastAt || (at === lastAt && value === window.at(n - 1, 0))) return
    }
    window.push(value, at, this.logEndAt(topic, partition, at) ?? Number.NaN, this.commits, this.spanMs, 1)
  }

  /** The committed offset's key is gone (its topic was deleted): so is its window. */
  forgetCommits (groupId: string, topic: string, partition: number): void {
    const group = this.windows.get(groupId)
    if (group?.delete(`${topic}/${partition}`) !== true) return
    this.windowCount--
    this.track(topic, partition, -1)
    if (group.size === 0) this.windows.delete(groupId)
  }

  /** The partitions some group keeps a window on, by topic: whose log ends a sample reads. */
  trackedPartitions (): ReadonlyMap<string, ReadonlyMap<number, number>> {
    return this.tracked
  }

  /** The partitions these groups have windows on, by topic. */
  partitionsOf (groupIds: Iterable<string>): Map<string, Set<number>> {
    const out = new Map<string, Set<number>>()
    for (const groupId of groupIds) {
      for (const key of this.windows.get(groupId)?.keys() ?? []) {
        const { topic, partition } = splitPartitionKey(key)
        let partitions = out.get(topic)
        if (partitions === undefined) out.set(topic, partitions = new Set())
        partitions.add(partition)
      }
    }
    return out
  }

  private track (topic: string, partition: number, by: number): void {
    let partitions = this.tracked.get(topic)
    if (partitions === undefined) this.tracked.set(topic, partitions = new Map())
    const count = (partitions.get(partition) ?? 0) + by
    if (count > 0) partitions.set(partition, count)
    else partitions.delete(partition)
    if (partitions.size === 0) this.tracked.delete(topic)
  }

  /** A log end read now. */
  observeLogEnd (topic: string, partition: number, offset: bigint): void {
    const now = this.clock()
    let byPartition = this.logEnds.get(topic)
    if (byPartition === undefined) this.logEnds.set(topic, byPartition = new Map())
    let series = byPartition.get(partition)
    if (series === undefined) byPartition.set(partition, series = new Series())
    const value = Number(offset)
    const n = series.length
    if (n > 0 && series.at(n - 1, 0) === value) {
      series.values[(n - 1) * STRIDE + 2] = Math.max(now, series.at(n - 1, 2))
      return
    }
    series.push(value, now, now, this.commits, this.spanMs, 2)
  }

  setGroupState (groupId: string, state: string | undefined): void {
    if (state === undefined) this.groupStates.delete(groupId)
    else this.groupStates.set(groupId, state)
  }

  groupState (groupId: string): string | undefined {
    return this.groupStates.get(groupId)
  }

  /** The window of a group's partition, oldest first; undefined when none is kept. */
  commitWindow (groupId: string, topic: string, partition: number): CommitEntry[] | undefined {
    const window = this.windows.get(groupId)?.get(`${topic}/${partition}`)
    if (window === undefined) return undefined
    const out: CommitEntry[] = []
    for (let i = 0; i < window.length; i++) {
      const logEnd = window.at(i, 2)
      out.push({ offset: window.at(i, 0), at: window.at(i, 1), logEnd: Number.isNaN(logEnd) ? null : logEnd })
    }
    return out
  }

  /** Whether a window could not be kept for want of room. */
  full (): boolean {
    return this.windowCount >= this.maxPartitions
  }

  logEndObservations (topic: string, partition: number): LogEndObservation[] {
    const series = this.logEnds.get(topic)?.get(partition)
    const out: LogEndObservation[] = []
    for (let i = 0; i < (series?.length ?? 0); i++) out.push({ offset: series!.at(i, 0), firstSeen: series!.at(i, 1), lastSeen: series!.at(i, 2) })
    return out
  }

  /** The latest log end read of each partition of these topics (those read at all). */
  latestLogEnds (topics: Iterable<string>): Map<string, Map<number, bigint>> {
    const out = new Map<string, Map<number, bigint>>()
    for (const topic of topics) {
      const byPartition = this.logEnds.get(topic)
      if (byPartition === undefined) continue
      out.set(topic, new Map([...byPartition].map(([partition, series]) => [partition, BigInt(series.at(series.length - 1, 0))])))
    }
    return out
  }

  /** The log end known at `at`: the latest value first seen by then. */
  private logEndAt (topic: string, partition: number, at: number): number | undefined {
    const series = this.logEnds.get(topic)?.get(partition)
    if (series === undefined) return undefined
    for (let i = series.length - 1; i >= 0; i--) {
      if (series.at(i, 1) <= at) return series.at(i, 0)
    }
    return undefined
  }
}

/** The history as a lag read judges by it. */
export type LagHistoryReader = Pick<LagHistory, 'commits' | 'spanMs' | 'since' | 'commitWindow' | 'logEndObservations' | 'groupState' | 'full'>

/**
 * The history's read methods on an object of their own, bound: whoever holds it (a tool, a
 * plugin) cannot reach the history's writes and feed it commits or log ends etcd never held.
 */
export function readOnlyHistory (history: LagHistory): LagHistoryReader {
  return Object.freeze({
    commits: history.commits,
    spanMs: history.spanMs,
    since: history.since,
    commitWindow: history.commitWindow.bind(history),
    logEndObservations: history.logEndObservations.bind(history),
    groupState: history.groupState.bind(history),
    full: history.full.bind(history)
  })
}

/** A `${topic}/${partition}` key split again: at its last "/", since topic names may hold one. */
export function splitPartitionKey (key: string): { topic: string, partition: number } {
  const cut = key.lastIndexOf('/')
  return { topic: key.slice(0, cut), partition: Number(key.slice(cut + 1)) }
}
