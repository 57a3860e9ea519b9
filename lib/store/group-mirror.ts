import { CONSUMERS_PREFIX, parseConsumerKey } from '../kafscale/keys.ts'
import { GroupState } from './group-state.ts'
import type { KvBackend, KvEvent } from './kv.ts'

// The consumer groups (metadata and committed offsets), kept in memory by a watch on
// /kafscale/consumers/: a scan at revision R, then a watch from R + 1 applying every change in
// order. A watch that breaks (etcd restarted, the connection dropped) or that etcd cancels (its
// start revision was compacted) may have missed changes: the state is dropped and built again
// from a new scan. While there is none, the store reads etcd instead.
//
// The watch costs CPU on every commit and heartbeat of the cluster (13 µs per change when etcd
// batches them, 60 µs for a lone put, measured), read or not: the mirror starts at the first
// group read and stops after IDLE_MS without one, which also gives its memory back. Memory is
// bounded: past maxKeys keys (about 400 bytes each) it turns itself off until a restart.

/** 100,000 keys: about 40 MB of heap. */
export const DEFAULT_GROUP_MIRROR_MAX_KEYS = 100_000
export const DEFAULT_GROUP_MIRROR_IDLE_MS = 5 * 60_000

export interface GroupMirrorStatus {
  /** idle: not running (no group read lately); building: scanning, or waiting for etcd; off: disabled or past its key limit. */
  state: 'idle' | 'building' | 'synced' | 'off'
  /** The etcd revision the state reflects. */
  revision?: string
  groups: number
  keys: number
  /** When the current state began. */
  since?: string
  /** States built so far (the first, and after every loss or idle stop). */
  builds: number
  /** The latest reason the state was lost, could not be built, or is off. */
  error?: string
}

export interface GroupMirrorHooks {
  /** etcd was heard from: a watch event or progress notice arrived. */
  contact: () => void
  /** A lost watch is info only: the etcd outage behind it is already warned of by the store. */
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  /** Every key the scan read and every change the watch applied (value undefined: deleted), in order. */
  observe?: (key: string, value: Buffer | undefined) => void
}

/**
 * Told after each batch of changes is applied, with the groups the changes touched, or with
 * undefined when a new state was built (any group may have changed since the last one).
 */
export type GroupFollower = (touched: ReadonlySet<string> | undefined, state: GroupState) => void

export interface GroupMirrorOptions {
  /** 0: no mirror, every group read goes to etcd. */
  maxKeys?: number
  idleMs?: number
}

// While etcd cannot be scanned, a new attempt at most every 5 s (as the snapshot watch retries).
const RETRY = { initialMs: 250, maxMs: 5000 }

export class GroupMirror {
  private state: GroupState | undefined
  private phase: GroupMirrorStatus['state'] = 'idle'
  /** The revision of the latest change applied (or of the scan). */
  private revision = 0n
  /** Bumped on every new scan and every stop: events of an older watch are dropped. */
  private generation = 0
  private builds = 0
  private since: Date | undefined
  private error: string | undefined
  private lastDemand = 0
  private stopWatch: (() => Promise<void>) | undefined
  private retry: NodeJS.Timeout | undefined
  private retryMs = RETRY.initialMs
  private idleTimer: NodeJS.Timeout | undefined
  private readonly followers = new Set<GroupFollower>()
  private readonly kv: KvBackend
  private readonly hooks: GroupMirrorHooks
  private readonly maxKeys: number
  private readonly idleMs: number

  constructor (kv: KvBackend, hooks: GroupMirrorHooks, options: GroupMirrorOptions = {}) {
    this.kv = kv
    this.hooks = hooks
    this.maxKeys = options.maxKeys ?? DEFAULT_GROUP_MIRROR_MAX_KEYS
    this.idleMs = options.idleMs ?? DEFAULT_GROUP_MIRROR_IDLE_MS
    if (this.maxKeys === 0) {
      this.phase = 'off'
      this.error = 'off by configuration: group reads go to etcd'
    }
  }

  /** A group read wants the mirror: its state when built, and it is started if it is idle. */
  demand (): GroupState | undefined {
    this.lastDemand = Date.now()
    if (this.phase === 'idle') {
      this.phase = 'building'
      this.since = new Date()
      this.idleTimer = setTimeout(() => { this.stopWhenIdle() }, this.idleMs).unref()
      void this.sync()
    }
    return this.state
  }

  /**
   * Follows every change while the returned function is not called: the mirror runs (it is
   * started if idle) and does not stop for want of reads meanwhile.
   */
  follow (follower: GroupFollower): () => void {
    this.followers.add(follower)
    this.demand()
    if (this.state !== undefined) follower(undefined, this.state)
    return () => {
      this.followers.delete(follower)
      // The idle clock counts from the last follower as from the last read.
      if (this.followers.size === 0) this.lastDemand = Date.now()
    }
  }

  /** The current state, or undefined while there is none. */
  current (): GroupState | undefined {
    return this.state
  }

  status (): GroupMirrorStatus {
    const status: GroupMirrorStatus = { state: this.phase, groups: this.state?.groupCount ?? 0, keys: this.state?.keyCount ?? 0, builds: this.builds }
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
    await this.halt('off')
  }

  private async sync (): Promise<void> {
    const generation = ++this.generation
    const state = new GroupState()
    let revision: bigint | undefined
    try {
      revision = await this.kv.scanPrefix(CONSUMERS_PREFIX, (pairs) => {
        for (const { key, value } of pairs) {
          state.put(key, value)
          this.hooks.observe?.(key, value)
        }
        return state.keyCount <= this.maxKeys
      })
    } catch (err) {
      if (generation === this.generation) this.scheduleRetry(err as Error)
      return
    }
    if (generation !== this.generation) return
    if (revision === undefined) {
      this.turnOff()
      return
    }
    this.stopWatch = this.kv.watchPrefix(CONSUMERS_PREFIX, revision + 1n, {
      onEvents: (events) => { if (generation === this.generation) this.apply(events) },
      onLost: (err) => { if (generation === this.generation) this.lost(err) }
    })
    this.state = state
    this.phase = 'synced'
    this.revision = revision
    this.builds++
    this.since = new Date()
    this.error = undefined
    this.retryMs = RETRY.initialMs
    this.hooks.info({ revision: String(revision), groups: state.groupCount, keys: state.keyCount }, 'consumer groups mirrored from etcd')
    for (const follower of this.followers) follower(undefined, state)
  }

  private apply (events: KvEvent[]): void {
    this.hooks.contact()
    const state = this.state
    if (state === undefined) return
    const touched = new Set<string>()
    for (const event of events) {
      // etcd sends a watch's changes in revision order; anything else means changes were lost.
      if (event.revision < this.revision) {
        this.lost(new Error(`the watch went back from revision ${this.revision} to ${event.revision}`))
        return
      }
      this.revision = event.revision
      if (event.kind === 'put') state.put(event.key, event.value)
      else state.delete(event.key)
      if (this.followers.size > 0) groupsOf(event.key, touched)
      this.hooks.observe?.(event.key, event.kind === 'put' ? event.value : undefined)
    }
    if (state.keyCount > this.maxKeys) {
      this.turnOff()
      return
    }
    if (touched.size > 0) for (const follower of this.followers) follower(touched, state)
  }

  private lost (err: Error): void {
    this.hooks.info({ err: err.message }, 'consumer group mirror lost its watch: group reads go to etcd until it is rebuilt')
    void this.halt('building')
    this.error = err.message
    void this.sync()
  }

  private turnOff (): void {
    void this.halt('off')
    this.error = `off: /kafscale/consumers/ holds more than ${this.maxKeys} keys; group reads go to etcd until a restart with a higher KAFSCALE_MCP_GROUP_MIRROR_MAX_KEYS`
    this.hooks.warn({ maxKeys: this.maxKeys }, `consumer group mirror ${this.error}`)
  }

  private stopWhenIdle (): void {
    const quietMs = this.followers.size > 0 ? 0 : Date.now() - this.lastDemand
    if (quietMs < this.idleMs) {
      this.idleTimer = setTimeout(() => { this.stopWhenIdle() }, this.idleMs - quietMs).unref()
      return
    }
    void this.halt('idle')
    this.hooks.info({ idleMs: this.idleMs }, 'consumer group mirror stopped: no group read lately')
  }

  /** Drops the state and the watch; 'building' keeps the idle timer, for the scan that follows. */
  private async halt (phase: GroupMirrorStatus['state']): Promise<void> {
    this.generation++
    this.phase = phase
    this.state = undefined
    this.since = new Date()
    clearTimeout(this.retry)
    this.retry = undefined
    if (phase !== 'building') clearTimeout(this.idleTimer)
    const stop = this.stopWatch
    this.stopWatch = undefined
    await stop?.()
  }

  private scheduleRetry (err: Error): void {
    this.error = err.message
    this.retry = setTimeout(() => {
      this.retry = undefined
      void this.sync()
    }, this.retryMs).unref()
    this.retryMs = Math.min(this.retryMs * 2, RETRY.maxMs)
  }
}

/** The groups a key may belong to: every reading of one that reads several ways. */
function groupsOf (key: string, into: Set<string>): void {
  const parsed = parseConsumerKey(key, () => false)
  if (parsed === undefined) return
  if (parsed.kind === 'ambiguous') for (const reading of parsed.readings) into.add(reading.groupId)
  else into.add(parsed.groupId)
}
