import { CONSUMERS_PREFIX } from '../kafscale/keys.ts'
import { GroupState } from './group-state.ts'
import type { KvBackend, KvEvent } from './kv.ts'

// The consumer groups (metadata and committed offsets), kept in memory by a watch on
// /kafscale/consumers/: a scan at revision R, then a watch from R + 1 applying every change in
// order. A watch that breaks (etcd restarted, the connection dropped) or that etcd cancels (its
// start revision was compacted) may have missed changes: the state is dropped and built again
// from a new scan. While there is none, the store reads etcd instead. Memory is bounded: with
// more keys than maxKeys (about 400 bytes each) the mirror turns itself off until a restart.

/** 100,000 keys: about 40 MB of heap. */
export const DEFAULT_GROUP_MIRROR_MAX_KEYS = 100_000

export interface GroupMirrorStatus {
  synced: boolean
  /** The etcd revision the state reflects. */
  revision?: string
  groups: number
  keys: number
  /** When the state was last built, or when it was lost. */
  since?: string
  /** States built after the first (reconnects, compactions). */
  resyncs: number
  /** The latest reason the state was lost or could not be built. */
  error?: string
}

export interface GroupMirrorHooks {
  /** etcd was heard from: a watch event or progress notice arrived. */
  contact: () => void
  /** A lost watch is info only: the etcd outage behind it is already warned of by the store. */
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
}

// While etcd cannot be scanned, a new attempt at most every 5 s (as the snapshot watch retries).
const RETRY = { initialMs: 250, maxMs: 5000 }

export class GroupMirror {
  private state: GroupState | undefined
  /** The revision of the latest change applied (or of the scan). */
  private revision = 0n
  /** Bumped on every new scan: events of an older watch are dropped. */
  private generation = 0
  private syncs = 0
  private since: Date | undefined
  private error: string | undefined
  private stopWatch: (() => Promise<void>) | undefined
  private retry: NodeJS.Timeout | undefined
  private retryMs = RETRY.initialMs
  /** Closed, or off: configured so, or past maxKeys. */
  private closed = false
  private readonly kv: KvBackend
  private readonly hooks: GroupMirrorHooks
  private readonly maxKeys: number

  /** maxKeys 0: no mirror, every group read goes to etcd. */
  constructor (kv: KvBackend, hooks: GroupMirrorHooks, maxKeys = DEFAULT_GROUP_MIRROR_MAX_KEYS) {
    this.kv = kv
    this.hooks = hooks
    this.maxKeys = maxKeys
  }

  start (): void {
    if (this.maxKeys === 0) {
      this.closed = true
      this.error = 'off by configuration: group reads go to etcd'
      return
    }
    void this.sync()
  }

  /** The current state, or undefined while it is being built. */
  current (): GroupState | undefined {
    return this.state
  }

  status (): GroupMirrorStatus {
    const status: GroupMirrorStatus = { synced: this.state !== undefined, groups: this.state?.groupCount ?? 0, keys: this.state?.keyCount ?? 0, resyncs: Math.max(0, this.syncs - 1) }
    if (this.state !== undefined) status.revision = String(this.revision)
    if (this.since !== undefined) status.since = this.since.toISOString()
    if (this.error !== undefined) status.error = this.error
    return status
  }

  /** etcd answers again: a scan waiting for its retry goes now. */
  retryNow (): void {
    if (this.retry === undefined) return
    clearTimeout(this.retry)
    this.retry = undefined
    void this.sync()
  }

  async close (): Promise<void> {
    this.closed = true
    this.generation++
    clearTimeout(this.retry)
    const stop = this.stopWatch
    this.stopWatch = undefined
    await stop?.()
  }

  private async sync (): Promise<void> {
    const generation = ++this.generation
    const state = new GroupState()
    let revision: bigint | undefined
    try {
      revision = await this.kv.scanPrefix(CONSUMERS_PREFIX, (pairs) => {
        for (const { key, value } of pairs) state.put(key, value)
        return state.keyCount <= this.maxKeys
      })
    } catch (err) {
      if (generation === this.generation && !this.closed) this.scheduleRetry(err as Error)
      return
    }
    if (generation !== this.generation || this.closed) return
    if (revision === undefined) {
      this.turnOff()
      return
    }
    this.stopWatch = this.kv.watchPrefix(CONSUMERS_PREFIX, revision + 1n, {
      onEvents: (events) => { if (generation === this.generation) this.apply(events) },
      onLost: (err) => { if (generation === this.generation) this.lost(err) }
    })
    this.state = state
    this.revision = revision
    this.syncs++
    this.since = new Date()
    this.error = undefined
    this.retryMs = RETRY.initialMs
    this.hooks.info({ revision: String(revision), groups: state.groupCount, keys: state.keyCount }, 'consumer groups mirrored from etcd')
  }

  private apply (events: KvEvent[]): void {
    this.hooks.contact()
    const state = this.state
    if (state === undefined) return
    for (const event of events) {
      // etcd sends a watch's changes in revision order; anything else means changes were lost.
      if (event.revision < this.revision) {
        this.lost(new Error(`the watch went back from revision ${this.revision} to ${event.revision}`))
        return
      }
      this.revision = event.revision
      if (event.kind === 'put') state.put(event.key, event.value)
      else state.delete(event.key)
    }
    if (state.keyCount > this.maxKeys) this.turnOff()
  }

  private turnOff (): void {
    this.closed = true
    this.generation++
    this.state = undefined
    this.since = new Date()
    this.error = `off: /kafscale/consumers/ holds more than ${this.maxKeys} keys; group reads go to etcd until a restart with a higher KAFSCALE_MCP_GROUP_MIRROR_MAX_KEYS`
    this.hooks.warn({ maxKeys: this.maxKeys }, `consumer group mirror ${this.error}`)
    const stop = this.stopWatch
    this.stopWatch = undefined
    void stop?.()
  }

  private lost (err: Error): void {
    if (this.closed) return
    this.hooks.info({ err: err.message }, 'consumer group mirror lost its watch: group reads go to etcd until it is rebuilt')
    this.state = undefined
    this.since = new Date()
    this.error = err.message
    const stop = this.stopWatch
    this.stopWatch = undefined
    void stop?.()
    void this.sync()
  }

  private scheduleRetry (err: Error): void {
    this.error = err.message
    this.since ??= new Date()
    this.retry = setTimeout(() => {
      this.retry = undefined
      void this.sync()
    }, this.retryMs)
    this.retry.unref()
    this.retryMs = Math.min(this.retryMs * 2, RETRY.maxMs)
  }
}
