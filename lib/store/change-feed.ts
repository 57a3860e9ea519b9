import { canonicalJson, sha256 } from '../crypto.ts'
import { isCodedError } from '../errors.ts'
import { topicConfigKey } from '../kafscale/keys.ts'
import type { ClusterSnapshot, SnapshotTopic } from '../kafscale/snapshot.ts'
import type { GroupReader, KafscaleStore, SnapshotView } from './kafscale-store.ts'

// What changed in the cluster, as the tools would see it, for whoever listens: derived from the
// watches the store already runs (the snapshot key; the group mirror's watch on
// /kafscale/consumers/), plus one exact-key watch per topic config someone asked about. Nothing
// runs for nobody: the snapshot is diffed only while someone listens, the group mirror is kept
// running only while someone wants groups, a config key is watched only while someone wants it.
//
// Bursts are coalesced: the first change opens a window, everything in it is compared once at
// its end, against the state at the end of the previous window. KafScale rewrites a group's
// metadata on every heartbeat and its offsets on every commit: a group is "changed" only when
// its description would read differently (heartbeat times aside) or its judged lag status
// changes (its status or how many partitions have each), not on every commit. Time alone
// changes the status (a consumer that stops committing becomes stopped with no etcd event), so
// the groups a listener names are judged again every `rejudgeMs` too, from memory (the lag
// history the store's sampler keeps): no etcd request. Comparing answers costs (2 ms for a
// group of 2,000 partitions, 40 µs for a small one): it is done only for the groups a listener
// names; for the others only whether they exist is followed.

export type Presence = 'appeared' | 'changed' | 'gone'

export type ClusterChange =
  /** The cluster overview changed: brokers, controller, ids, or the topic list (names, partition counts, errors). */
  | { kind: 'cluster' }
  | { kind: 'topic', name: string, change: Presence }
  /** The topic's stored config was written with other bytes, or deleted, or created. */
  | { kind: 'topic-config', name: string }
  | { kind: 'group', groupId: string, change: Presence }

export interface FeedInterest {
  /** Groups that appear or go away; the group mirror runs while any listener wants groups. */
  groups?: boolean
  /** Groups whose every change to tell (appearing and going away included). */
  groupIds?: Iterable<string>
  /** Topics whose stored config to watch. */
  topicConfigs?: Iterable<string>
}

export interface FeedListener {
  /** Replaces what the listener wants. */
  update: (interest: FeedInterest) => void
  /** Idempotent. */
  close: () => void
}

/** Short enough that a change is told well within a second, long enough to gather a burst of writes. */
export const DEFAULT_COALESCE_MS = 200
/** A subscribed group's status follows time within this (or the lag sample interval, when shorter). */
export const MAX_REJUDGE_MS = 30_000

type Source = Pick<KafscaleStore, 'followSnapshot' | 'followGroups' | 'loadedView' | 'kv'>

interface Listener {
  deliver: (changes: readonly ClusterChange[]) => void
  groups: boolean
  groupIds: Set<string>
  configs: Set<string>
}

/** The stored config bytes last seen (undefined: no key), before its first read NOT_READ. */
const NOT_READ = Symbol('not read')

interface ConfigWatch {
  listeners: number
  known: Buffer | undefined | typeof NOT_READ
  stop: () => Promise<void>
}

export class ChangeFeed {
  private readonly source: Source
  private readonly coalesceMs: number
  private readonly rejudgeMs: number
  private rejudgeTimer: NodeJS.Timeout | undefined
  private readonly onError: (err: Error) => void
  private readonly listeners = new Set<Listener>()
  private flushTimer: NodeJS.Timeout | undefined

  private stopSnapshot: (() => void) | undefined
  /** The view the last window ended with; the next window's changes are relative to it. */
  private baseView: SnapshotView | undefined
  private latestView: SnapshotView | undefined

  private stopGroups: (() => void) | undefined
  /** The groups that exist, as the last window left them; undefined until the mirror is built. */
  private knownGroups: Set<string> | undefined
  /** The visible answer (a digest) of each group a listener names, as the last window left it. */
  private readonly groupDigests = new Map<string, string | undefined>()
  private groupReader: GroupReader | undefined
  /** Groups touched in this window; 'all' after the mirror was built anew. */
  private dirtyGroups: Set<string> | 'all' = new Set()

  private readonly configWatches = new Map<string, ConfigWatch>()
  private readonly dirtyConfigs = new Set<string>()

  constructor (source: Source, options: { coalesceMs?: number, rejudgeMs?: number, onError?: (err: Error) => void } = {}) {
    this.source = source
    this.coalesceMs = options.coalesceMs ?? DEFAULT_COALESCE_MS
    this.rejudgeMs = options.rejudgeMs ?? MAX_REJUDGE_MS
    this.onError = options.onError ?? (() => {})
  }

  /** Listeners registered now: one per open subscription stream or session. */
  get listenerCount (): number {
    return this.listeners.size
  }

  /** What runs for the listeners: watched config keys (and how many are still read for a first value), whether groups are followed. */
  status (): { listeners: number, configWatches: number, configWatchesReading: number, followingGroups: boolean } {
    let reading = 0
    for (const watch of this.configWatches.values()) if (watch.known === NOT_READ) reading++
    return { listeners: this.listeners.size, configWatches: this.configWatches.size, configWatchesReading: reading, followingGroups: this.stopGroups !== undefined }
  }

  listen (deliver: (changes: readonly ClusterChange[]) => void, interest: FeedInterest = {}): FeedListener {
    const listener: Listener = { deliver, groups: false, groupIds: new Set(), configs: new Set() }
    this.listeners.add(listener)
    if (this.stopSnapshot === undefined) {
      this.baseView = this.latestView = this.source.loadedView()
      this.stopSnapshot = this.source.followSnapshot((view) => {
        this.latestView = view
        this.schedule()
      })
    }
    const update = (next: FeedInterest): void => {
      if (!this.listeners.has(listener)) return
      const configs = new Set(next.topicConfigs ?? [])
      for (const name of configs) if (!listener.configs.has(name)) this.watchConfig(name)
      for (const name of listener.configs) if (!configs.has(name)) this.unwatchConfig(name)
      listener.configs = configs
      listener.groups = next.groups === true
      listener.groupIds = new Set(next.groupIds ?? [])
      this.followGroupsWhileWanted()
      this.digestNamedGroups()
    }
    update(interest)
    return {
      update,
      close: () => {
        if (!this.listeners.delete(listener)) return
        for (const name of listener.configs) this.unwatchConfig(name)
        this.followGroupsWhileWanted()
        this.digestNamedGroups()
        if (this.listeners.size === 0) this.stopAll()
      }
    }
  }

  /** Stops every watch and forgets every listener (the service is closing). */
  close (): void {
    for (const name of [...this.configWatches.keys()]) this.dropConfigWatch(name)
    this.listeners.clear()
    this.followGroupsWhileWanted()
    this.stopAll()
  }

  private stopAll (): void {
    this.rejudgeWhile(false)
    this.stopSnapshot?.()
    this.stopSnapshot = undefined
    this.baseView = this.latestView = undefined
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
  }

  private followGroupsWhileWanted (): void {
    const wanted = [...this.listeners].some((l) => l.groups || l.groupIds.size > 0)
    if (wanted && this.stopGroups === undefined) {
      this.stopGroups = this.source.followGroups((touched, reader) => { this.groupsTouched(touched, reader) })
    } else if (!wanted && this.stopGroups !== undefined) {
      this.stopGroups()
      this.stopGroups = undefined
      this.knownGroups = undefined
      this.groupReader = undefined
      this.dirtyGroups = new Set()
    }
  }

  /** Keeps a digest of each group a listener names, from the moment it is named: its changes count from there. */
  private digestNamedGroups (): void {
    const named = new Set([...this.listeners].flatMap((l) => [...l.groupIds]))
    for (const groupId of this.groupDigests.keys()) if (!named.has(groupId)) this.groupDigests.delete(groupId)
    this.rejudgeWhile(named.size > 0)
    const reader = this.groupReader
    if (reader === undefined) return
    for (const groupId of named) if (!this.groupDigests.has(groupId)) this.groupDigests.set(groupId, groupDigest(reader, groupId))
  }

  /** While a listener names groups, they are compared again every rejudgeMs, as if touched. */
  private rejudgeWhile (wanted: boolean): void {
    if (wanted && this.rejudgeTimer === undefined) {
      this.rejudgeTimer = setInterval(() => {
        if (this.knownGroups === undefined) return
        if (this.dirtyGroups !== 'all') for (const groupId of this.groupDigests.keys()) this.dirtyGroups.add(groupId)
        this.schedule()
      }, this.rejudgeMs).unref()
    } else if (!wanted) {
      clearInterval(this.rejudgeTimer)
      this.rejudgeTimer = undefined
    }
  }

  private groupsTouched (touched: ReadonlySet<string> | undefined, reader: GroupReader): void {
    this.groupReader = reader
    if (this.knownGroups === undefined) {
      // The first state built is where changes start from: nothing is told about it.
      this.knownGroups = new Set(reader.ids())
      this.groupDigests.clear()
      this.digestNamedGroups()
      return
    }
    if (touched === undefined) this.dirtyGroups = 'all'
    else if (this.dirtyGroups !== 'all') for (const groupId of touched) this.dirtyGroups.add(groupId)
    this.schedule()
  }

  private watchConfig (name: string): void {
    const existing = this.configWatches.get(name)
    if (existing !== undefined) {
      existing.listeners++
      return
    }
    let key: string
    try {
      key = topicConfigKey(name)
    } catch {
      // No topic can have this name, so no config will ever be stored under it.
      return
    }
    const watch: ConfigWatch = { listeners: 1, known: NOT_READ, stop: async () => {} }
    const seen = (value: Buffer | undefined): void => {
      if (this.configWatches.get(name) !== watch) return
      const before = watch.known
      watch.known = value === undefined ? undefined : Buffer.from(value)
      if (before === NOT_READ) return
      if (before === undefined ? value === undefined : value !== undefined && before.equals(value)) return
      this.dirtyConfigs.add(name)
      this.schedule()
    }
    watch.stop = this.source.kv.watchKey(key, {
      onChange: seen,
      // A (re)connected watch may have missed a write: read the key to compare.
      onConnected: () => {
        this.source.kv.get(key).then(seen, (err: Error) => { this.onError(err) })
      },
      onDisconnected: () => {}
    })
    this.configWatches.set(name, watch)
  }

  private unwatchConfig (name: string): void {
    const watch = this.configWatches.get(name)
    if (watch !== undefined && --watch.listeners === 0) this.dropConfigWatch(name)
  }

  private dropConfigWatch (name: string): void {
    const watch = this.configWatches.get(name)
    if (watch === undefined) return
    this.configWatches.delete(name)
    this.dirtyConfigs.delete(name)
    watch.stop().catch((err: Error) => { this.onError(err) })
  }

  private schedule (): void {
    if (this.flushTimer !== undefined || this.listeners.size === 0) return
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      this.flush()
    }, this.coalesceMs).unref()
  }

  private flush (): void {
    const changes = [...this.snapshotChanges(), ...this.groupChanges()]
    const configs = [...this.dirtyConfigs]
    this.dirtyConfigs.clear()
    for (const listener of this.listeners) {
      const mine = changes.filter((c) => c.kind !== 'group' || listener.groupIds.has(c.groupId) || (listener.groups && c.change !== 'changed'))
      for (const name of configs) if (listener.configs.has(name)) mine.push({ kind: 'topic-config', name })
      if (mine.length === 0) continue
      try {
        listener.deliver(mine)
      } catch (err) {
        this.onError(err as Error)
      }
    }
  }

  private snapshotChanges (): ClusterChange[] {
    const before = this.baseView
    const after = this.latestView
    this.baseView = after
    // Before the first snapshot there is nothing to compare with; a view seen again changed nothing.
    if (after === undefined || before === after) return []
    const changes: ClusterChange[] = []
    const previous = before?.topicsByName ?? new Map<string, SnapshotTopic>()
    for (const [name, topic] of after.topicsByName) {
      const old = previous.get(name)
      if (old === undefined) changes.push({ kind: 'topic', name, change: 'appeared' })
      else if (!sameTopic(old, topic)) changes.push({ kind: 'topic', name, change: 'changed' })
    }
    for (const name of previous.keys()) if (!after.topicsByName.has(name)) changes.push({ kind: 'topic', name, change: 'gone' })
    const listedAlike = (c: ClusterChange): boolean => c.kind === 'topic' && c.change === 'changed' && sameSummary(previous.get(c.name)!, after.topicsByName.get(c.name)!)
    if (before === undefined || !sameOverview(before.snapshot, after.snapshot) || !changes.every(listedAlike)) changes.unshift({ kind: 'cluster' })
    return changes
  }

  private groupChanges (): ClusterChange[] {
    const known = this.knownGroups
    const reader = this.groupReader
    const dirty = this.dirtyGroups
    this.dirtyGroups = new Set()
    if (known === undefined || reader === undefined) return []
    const ids = dirty === 'all' ? new Set([...known, ...reader.ids(), ...this.groupDigests.keys()]) : dirty
    const changes: ClusterChange[] = []
    for (const groupId of ids) {
      const existed = known.has(groupId)
      const exists = reader.has(groupId)
      if (exists) known.add(groupId)
      else known.delete(groupId)
      let changed = false
      if (this.groupDigests.has(groupId)) {
        const digest = exists ? groupDigest(reader, groupId) : undefined
        changed = digest !== this.groupDigests.get(groupId)
        this.groupDigests.set(groupId, digest)
      }
      if (existed !== exists) changes.push({ kind: 'group', groupId, change: exists ? 'appeared' : 'gone' })
      else if (changed) changes.push({ kind: 'group', groupId, change: 'changed' })
    }
    return changes
  }
}

/** Everything describe_topics shows of a topic. */
function sameTopic (a: SnapshotTopic, b: SnapshotTopic): boolean {
  if (a.errorCode !== b.errorCode || a.partitions.length !== b.partitions.length) return false
  return a.partitions.every((p, i) => {
    const q = b.partitions[i]!
    return p.partition === q.partition && p.leader === q.leader && p.leaderEpoch === q.leaderEpoch && p.errorCode === q.errorCode &&
      sameNumbers(p.replicas, q.replicas) && sameNumbers(p.isr, q.isr) && sameNumbers(p.offlineReplicas, q.offlineReplicas)
  })
}

/** What the cluster overview lists of a topic. */
function sameSummary (a: SnapshotTopic, b: SnapshotTopic): boolean {
  return a.errorCode === b.errorCode && a.partitions.length === b.partitions.length
}

function sameOverview (a: ClusterSnapshot, b: ClusterSnapshot): boolean {
  return a.clusterName === b.clusterName && a.clusterId === b.clusterId && a.controllerId === b.controllerId &&
    a.brokers.length === b.brokers.length && a.brokers.every((x, i) => {
    const y = b.brokers[i]!
    return x.nodeId === y.nodeId && x.host === y.host && x.port === y.port && x.rack === y.rack
  })
}

function sameNumbers (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i])
}

/**
 * A digest of what describe_group shows, without the heartbeat times a live group rewrites, and
 * of the group's judged lag status; undefined for a group that does not exist.
 */
function groupDigest (reader: GroupReader, groupId: string): string | undefined {
  let visible: unknown
  try {
    const description = reader.describe(groupId)
    const { problems } = reader.offsets(groupId)
    visible = {
      description: description.metadata === 'stored'
        ? { ...description.group, members: Object.fromEntries(Object.entries(description.group.members).map(([id, m]) => [id, { ...m, heartbeatAt: '' }])) }
        : description,
      lag: reader.lagStatus(groupId),
      problems: problems.map((p) => [p.key, p.code])
    }
  } catch (err) {
    if (isCodedError(err) && err.code === 'KSMCP_ERR_GROUP_NOT_FOUND') return undefined
    // A group whose metadata does not decode answers with that error: the error is its answer.
    visible = { error: (err as Error).message }
  }
  return sha256(canonicalJson(visible))
}
