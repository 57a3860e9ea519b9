import { CorruptValueError, isCodedError, SnapshotUnavailableError } from '../errors.ts'
import { CONSUMERS_PREFIX, GROUP_LEASES_PREFIX, PARTITION_LEASES_PREFIX, TOPICS_PREFIX, groupMetadataKey, groupOffsetsPrefix, groupPrefix, nextOffsetKey, parsePartitionLeaseKey, parseTopicKey, SNAPSHOT_KEY, topicConfigKey, topicPartitionsPrefix } from '../kafscale/keys.ts'
import { assertGroupId } from '../kafscale/names.ts'
import { decodeTopicConfig, type TopicConfig } from '../kafscale/messages.ts'
import { decodeNextOffset } from '../kafscale/offsets.ts'
import { decodeSnapshot, EMPTY_SNAPSHOT, type ClusterSnapshot, type SnapshotTopic } from '../kafscale/snapshot.ts'
import { DEFAULT_GROUP_MIRROR_IDLE_MS, DEFAULT_GROUP_MIRROR_MAX_KEYS, GroupMirror, type GroupMirrorStatus } from './group-mirror.ts'
import { LagHistory, readOnlyHistory, type LagHistoryReader } from '../lag-history.ts'
import { committedTopics, judgeLag, lagReport } from '../lag.ts'
import type { StatusSummary } from '../lag-status.ts'
import { feedCommits, feedConsumerKey, feedLogEnds, logEndsByTopic } from './lag-feed.ts'
import { GroupState, type GroupDescription, type GroupOffsets, type GroupSummary } from './group-state.ts'
import { compareStrings, decodeOrReport, sortProblems, type KeyProblem } from './key-problems.ts'
import { CollectAfterLargeDecodes } from './release-memory.ts'
import type { KvBackend } from './kv.ts'

export { compareStrings } from './key-problems.ts'
export type { KeyProblem } from './key-problems.ts'
export type { GroupDescription, GroupOffsets, GroupSummary } from './group-state.ts'

// The group mirror answers only while etcd was heard from this recently (a watch event, a
// read, a probe); after longer silence a read asks etcd first. A frozen etcd, or a connection
// that stalled without breaking, then fails the read as an etcd read would, instead of the
// mirror answering from a stream that may have stopped.
const MIRROR_LIVENESS_MS = 1000
// A snapshot this large leaves tens of MB of garbage once decoded (see release-memory.ts); a
// cluster of 10,000 partitions writes ~1.3 MB. A cluster rewriting its snapshot every second
// (a rolling restart moving leaders) pays for at most one collection a minute.
const SNAPSHOT_GARBAGE = { minBytes: 1 << 20, minIntervalMs: 60_000 }

/** The cached snapshot with the indexes every tool call would otherwise rebuild. */
export interface SnapshotView {
  snapshot: ClusterSnapshot
  topicsByName: ReadonlyMap<string, SnapshotTopic>
  /** Topics sorted by name, as every listing tool returns them. */
  sortedTopics: readonly SnapshotTopic[]
  loadedAt: Date
}

export interface StoreHealth {
  backend: 'etcd' | 'memory'
  /** Whether the latest etcd exchange (a read, a probe or a watch event) succeeded. */
  connected: boolean
  /** When etcd entered its current state (ISO 8601); absent before its first exchange. */
  since?: string
  snapshotLoaded: boolean
  snapshotLoadedAt?: string
  /** Why etcd is not connected: the latest failure, naming the endpoints. */
  connectionError?: string
  /** Why the stored snapshot was not applied (it does not decode). */
  snapshotError?: string
  /** The in-memory consumer groups; while not synced, group reads go to etcd. */
  groupMirror: GroupMirrorStatus & {
    /** Group reads answered from memory so far. */
    answered: number
  }
}

/** The groups as the mirror holds them now; describe and offsets throw GroupNotFoundError for a group that does not exist. */
export interface GroupReader {
  ids: () => string[]
  has: (groupId: string) => boolean
  describe: (groupId: string) => GroupDescription
  offsets: (groupId: string) => ReturnType<GroupState['groupOffsets']>
  /**
   * The group's lag status as consumer_lag would judge it now, from memory alone: these
   * offsets, the lag history, and the log ends last read (a partition whose log end was never
   * read is no_data). Undefined for a group that committed nothing.
   */
  lagStatus: (groupId: string) => GroupLagStatus | undefined
}

export type GroupLagStatus = Pick<StatusSummary, 'status' | 'status_counts'>

export interface StoredTopicConfig {
  name: string
  /** undefined: no config key in etcd */
  stored: TopicConfig | undefined
}

/**
 * What a tool may do with the metadata: read it, or ask etcd again (probe, reload). No raw
 * key-value access and no close: a tool cannot write to etcd or end the service's connection.
 * The lag history is fed by the store's own reads only (and the group mirror's watch): a tool
 * gets a read-only view of it, so it cannot make the history hold what etcd never held.
 */
export const METADATA_READS = ['snapshotView', 'loadedView', 'health', 'probe', 'reload', 'listGroups', 'describeGroup', 'groupOffsets', 'allGroupOffsets', 'nextOffsets', 'topicKeys', 'topicConfigs', 'leases', 'lagObservation'] as const
export type MetadataReader = Pick<KafscaleStore, typeof METADATA_READS[number]>

export interface KafscaleStoreOptions {
  groupMirrorMaxKeys?: number
  groupMirrorIdleMs?: number
  /** Commits kept per partition for lag status (lib/lag-history.ts). */
  lagWindowCommits?: number
  lagWindowSpanMs?: number
  /** While lag is read, every log end (and, without the group mirror, every commit) is sampled this often; 0: never. */
  lagSampleIntervalMs?: number
  /** The time lag history is stamped and judged with (tests inject one). */
  clock?: () => number
}

/** A lag read's view of the history, with the time it is judged at. */
export interface LagObservation {
  now: number
  history: LagHistoryReader
  /** The watch sees every commit; reads and samples only the latest at each. */
  commitsFrom: 'etcd watch' | 'reads and samples'
}

/** What the store logs through (pino's shape; the store knows nothing of Fastify). */
export interface StoreLogger {
  info: (objOrMsg: object | string, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
}

export class KafscaleStore {
  private view: SnapshotView | undefined
  private connected = false
  private stateSince: Date | undefined
  private connectionError: string | undefined
  private snapshotError: string | undefined
  private stopWatch: (() => Promise<void>) | undefined
  private reloading: Promise<void> | undefined
  /** When etcd last answered (Date.now()). */
  private lastContact = 0
  private liveness: Promise<void> | undefined
  private mirrorAnswers = 0
  private readonly snapshotFollowers = new Set<(view: SnapshotView) => void>()
  private readonly snapshotGarbage = new CollectAfterLargeDecodes(SNAPSHOT_GARBAGE)
  private readonly lagHistory: LagHistory
  private readonly lagReader: LagHistoryReader
  private readonly lagSampleIntervalMs: number
  private lagSampler: NodeJS.Timeout | undefined
  private lagSampling = false
  /** When lag was last read (Date.now()): samples are taken only while it is. */
  private lastLagRead = 0
  /** When the lag of every group was last read (consumer_lag without a group, cluster_health). */
  private lastLagReadOfAll = 0
  /** When each group's own lag was last read: a sample reads the log ends these groups commit on. */
  private readonly lagReadOf = new Map<string, number>()

  /** The backend; every call's outcome sets the connection state. */
  readonly kv: KvBackend
  private readonly log: StoreLogger
  private readonly mirror: GroupMirror

  constructor (kv: KvBackend, log: StoreLogger, options: KafscaleStoreOptions = {}) {
    this.kv = reportingOutcomes(kv, { succeeded: () => { this.markConnected() }, failed: (err) => { this.markDisconnected(err) } })
    this.log = log
    this.lagHistory = new LagHistory({
      commits: options.lagWindowCommits,
      spanMs: options.lagWindowSpanMs,
      maxPartitions: options.groupMirrorMaxKeys || DEFAULT_GROUP_MIRROR_MAX_KEYS,
      ...(options.clock !== undefined ? { clock: options.clock } : {})
    })
    this.lagReader = readOnlyHistory(this.lagHistory)
    this.lagSampleIntervalMs = options.lagSampleIntervalMs ?? 0
    this.mirror = new GroupMirror(this.kv, {
      contact: () => { this.markConnected() },
      info: (obj, msg) => { log.info(obj, msg) },
      warn: (obj, msg) => { log.warn(obj, msg) },
      observe: (key, value) => { feedConsumerKey(this.lagHistory, key, value) }
    }, { maxKeys: options.groupMirrorMaxKeys, idleMs: options.groupMirrorIdleMs })
  }

  /** Starts the snapshot watch. Never throws: an unreachable etcd is reported by health(). */
  start (): void {
    this.stopWatch = this.kv.watchKey(SNAPSHOT_KEY, {
      onChange: (value) => {
        this.markConnected()
        this.applySnapshot(value)
      },
      // A (re)connected watch may have missed events: read the whole snapshot again.
      onConnected: () => {
        this.markConnected()
        void this.reload()
      },
      onDisconnected: (err) => { this.markDisconnected(err) }
    })
    void this.reload()
    if (this.lagSampleIntervalMs > 0) this.lagSampler = setInterval(() => { void this.sampleLag() }, this.lagSampleIntervalMs).unref()
  }

  async close (): Promise<void> {
    clearInterval(this.lagSampler)
    await Promise.all([this.stopWatch?.(), this.mirror.close()])
    await this.kv.close()
  }

  /** Reads the snapshot key again; concurrent callers share one read. Never throws. */
  async reload (): Promise<void> {
    this.reloading ??= (async () => {
      try {
        this.applySnapshot(await this.kv.get(SNAPSHOT_KEY))
      } catch {
        // Recorded as the connection state by the backend wrapper.
      } finally {
        this.reloading = undefined
      }
    })()
    await this.reloading
  }

  /** Asks etcd now, so the state reported next is the present one. Never throws. */
  async probe (): Promise<void> {
    try {
      await this.kv.ping()
    } catch {
      // Recorded as the connection state by the backend wrapper.
    }
  }

  // The log gets one line per change of state, not one per failed retry.
  private markConnected (): void {
    this.lastContact = Date.now()
    if (this.connected) return
    if (this.stateSince === undefined) this.log.info('etcd connected')
    else this.log.info({ downSince: this.stateSince.toISOString() }, 'etcd reachable again')
    this.connected = true
    this.stateSince = new Date()
    this.connectionError = undefined
    this.mirror.retryNow()
  }

  private markDisconnected (err: Error): void {
    this.connectionError = err.message
    if (!this.connected && this.stateSince !== undefined) return
    this.log.warn({ err: err.message }, 'etcd unreachable: answers use the cached snapshot until it is back')
    this.connected = false
    this.stateSince = new Date()
  }

  private applySnapshot (value: Buffer | undefined): void {
    let snapshot: ClusterSnapshot
    if (value === undefined) {
      // No snapshot key yet: a cluster without topics, which is what brokers serve too.
      snapshot = EMPTY_SNAPSHOT
    } else {
      try {
        snapshot = decodeSnapshot(value.toString('utf8'))
      } catch (err) {
        // Like Go readers, keep the previous snapshot; unlike them, say so.
        this.snapshotError = new CorruptValueError(SNAPSHOT_KEY, (err as Error).message).message
        this.log.error({ key: SNAPSHOT_KEY, err: (err as Error).message }, 'ignoring undecodable metadata snapshot')
        return
      }
    }
    const sortedTopics = [...snapshot.topics].sort((a, b) => compareStrings(a.name, b.name))
    this.view = {
      snapshot,
      sortedTopics,
      topicsByName: new Map(snapshot.topics.map((t) => [t.name, t])),
      loadedAt: new Date()
    }
    this.snapshotError = undefined
    if (value !== undefined) this.snapshotGarbage.decoded(value.length)
    for (const follower of this.snapshotFollowers) follower(this.view)
  }

  /** Told of every snapshot applied (each read or watch event, changed or not) until the returned function is called. */
  followSnapshot (follower: (view: SnapshotView) => void): () => void {
    this.snapshotFollowers.add(follower)
    return () => { this.snapshotFollowers.delete(follower) }
  }

  /**
   * Follows the consumer groups until the returned function is called: the group mirror runs
   * meanwhile, and after each batch of changes the follower hears the groups touched (undefined:
   * any, the mirror was built anew) and reads them as the group tools would.
   */
  followGroups (follower: (touched: ReadonlySet<string> | undefined, groups: GroupReader) => void): () => void {
    return this.mirror.follow((touched, state) => {
      follower(touched, {
        ids: () => state.listGroups(this.topicExists).groups.map((g) => g.groupId),
        has: (groupId) => state.has(groupId, this.topicExists),
        describe: (groupId) => state.describeGroup(groupId, this.topicExists),
        offsets: (groupId) => state.groupOffsets(groupId, this.topicExists),
        lagStatus: (groupId) => this.judgeFromMemory(state, groupId)
      })
    })
  }

  health (): StoreHealth {
    const health: StoreHealth = { backend: this.kv.kind, connected: this.connected, snapshotLoaded: this.view !== undefined, groupMirror: { ...this.mirror.status(), answered: this.mirrorAnswers } }
    if (this.stateSince !== undefined) health.since = this.stateSince.toISOString()
    if (this.view !== undefined) health.snapshotLoadedAt = this.view.loadedAt.toISOString()
    if (this.connectionError !== undefined) health.connectionError = this.connectionError
    if (this.snapshotError !== undefined) health.snapshotError = this.snapshotError
    return health
  }

  /** Readiness: etcd answers now and a snapshot has been loaded. */
  async checkReady (): Promise<void> {
    await this.kv.ping()
    if (this.view === undefined) await this.reload()
    if (this.view === undefined) throw new SnapshotUnavailableError(this.unavailableReason())
  }

  /** The cached snapshot, or undefined when none has been read since the start. */
  loadedView (): SnapshotView | undefined {
    return this.view
  }

  snapshotView (): SnapshotView {
    if (this.view === undefined) throw new SnapshotUnavailableError(this.unavailableReason())
    return this.view
  }

  private unavailableReason (): string {
    return this.connectionError ?? this.snapshotError ?? 'etcd has not answered yet'
  }

  /**
   * The group mirror's state when it may answer: built, and etcd heard from lately (else asked
   * now, so that a silent etcd fails the read). Undefined while it is being built (the first
   * group read starts it): read etcd.
   */
  private async mirrored (): Promise<GroupState | undefined> {
    if (this.mirror.demand() === undefined || !this.connected) return undefined
    if (Date.now() - this.lastContact > MIRROR_LIVENESS_MS) {
      this.liveness ??= this.kv.ping().finally(() => { this.liveness = undefined })
      await this.liveness
    }
    const state = this.mirror.current()
    if (state !== undefined) this.mirrorAnswers++
    return state
  }

  /**
   * Every group (GroupState.listGroups). Without the mirror: one keys-only range over
   * /kafscale/consumers/ (no offset values cross the wire) and one transaction reading the
   * metadata blobs.
   */
  async listGroups (): Promise<{ groups: GroupSummary[], problems: KeyProblem[] }> {
    let state = await this.mirrored()
    if (state === undefined) {
      state = GroupState.of(await this.kv.range(CONSUMERS_PREFIX, { keysOnly: true }))
      const keys = state.metadataKeys()
      const values = await this.kv.getMany(keys)
      keys.forEach((key, i) => {
        const value = values[i]
        if (value === undefined) state!.delete(key) // deleted between the two reads
        else state!.put(key, value)
      })
      const listed = state.listGroups(this.topicExists)
      for (const g of listed.groups) this.lagHistory.setGroupState(g.groupId, g.state)
      return listed
    }
    return state.listGroups(this.topicExists)
  }

  /** A group's metadata, or how many partitions a group without it has committed (GroupState.describeGroup). */
  async describeGroup (groupId: string): Promise<GroupDescription> {
    assertGroupId(groupId)
    let state = await this.mirrored()
    if (state === undefined) {
      const key = groupMetadataKey(groupId)
      const value = await this.kv.get(key)
      // Keys only: under this prefix are also the keys of groups named "<id>/offsets/…".
      state = GroupState.of(value !== undefined ? [{ key, value }] : await this.kv.range(groupOffsetsPrefix(groupId), { keysOnly: true }))
    }
    return state.describeGroup(groupId, this.topicExists)
  }

  /** A group's committed offsets; without the mirror, one range read over the group's prefix. */
  async groupOffsets (groupId: string): Promise<{ group: GroupOffsets, problems: KeyProblem[] }> {
    assertGroupId(groupId)
    const state = await this.mirrored()
    if (state !== undefined) return state.groupOffsets(groupId, this.topicExists)
    const read = GroupState.of(await this.kv.range(groupPrefix(groupId))).groupOffsets(groupId, this.topicExists)
    feedCommits(this.lagHistory, [read.group])
    return read
  }

  /** Every group's committed offsets; without the mirror, one range read over /kafscale/consumers/. */
  async allGroupOffsets (): Promise<{ groups: GroupOffsets[], problems: KeyProblem[] }> {
    const state = await this.mirrored()
    if (state !== undefined) return state.allGroupOffsets(this.topicExists)
    const read = GroupState.of(await this.kv.range(CONSUMERS_PREFIX)).allGroupOffsets(this.topicExists)
    feedCommits(this.lagHistory, read.groups)
    return read
  }

  /**
   * Log-end offsets (`next_offset`, the next offset to assign) by topic and partition: one
   * range per topic, all in one transaction (batches of them for many topics). A partition
   * without the key has 0 (contract §1.1). The range of topic "a" also holds the keys of topics
   * named "a/partitions/…": only keys that read as topic "a" count.
   */
  async nextOffsets (topics: Iterable<string>): Promise<{ offsets: Map<string, Map<number, bigint>>, problems: KeyProblem[] }> {
    const names = [...new Set(topics)]
    const problems: KeyProblem[] = []
    const ranges = await this.kv.rangeMany(names.map(topicPartitionsPrefix))
    const byTopic = names.map((topic, i) => {
      const offsets = new Map<number, bigint>()
      for (const { key, value } of ranges[i]!) {
        const parsed = parseTopicKey(key)
        if (parsed?.kind !== 'next_offset' || parsed.topic !== topic) continue
        const end = decodeOrReport(key, () => decodeNextOffset(value.toString('utf8')), problems)
        if (end !== undefined) offsets.set(parsed.partition, end)
      }
      return [topic, offsets] as const
    })
    const offsets = new Map(byTopic)
    feedLogEnds(this.lagHistory, offsets)
    return { offsets, problems: sortProblems(problems) }
  }

  /**
   * Every log-end offset of the cluster, keyed `${topic}/${partition}`, with every stored topic
   * config checked: one range over /kafscale/topics/ (small values: decimal offsets, configs of
   * a few dozen bytes, partition states).
   */
  async topicKeys (): Promise<{ logEnds: Map<string, bigint>, problems: KeyProblem[] }> {
    const logEnds = new Map<string, bigint>()
    const problems: KeyProblem[] = []
    for (const { key, value } of await this.kv.range(TOPICS_PREFIX)) {
      const parsed = parseTopicKey(key)
      if (parsed?.kind === 'next_offset') {
        const end = decodeOrReport(key, () => decodeNextOffset(value.toString('utf8')), problems)
        if (end !== undefined) logEnds.set(`${parsed.topic}/${parsed.partition}`, end)
      } else if (parsed?.kind === 'config') {
        decodeOrReport(key, () => decodeTopicConfig(value), problems)
      }
    }
    feedLogEnds(this.lagHistory, logEndsByTopic(logEnds))
    return { logEnds, problems: sortProblems(problems) }
  }

  /** Stored configs of the named topics: one transaction of exact reads; unreadable ones are reported instead. */
  async topicConfigs (names: readonly string[]): Promise<{ configs: StoredTopicConfig[], problems: KeyProblem[] }> {
    const keys = names.map(topicConfigKey)
    const values = await this.kv.getMany(keys)
    const configs: StoredTopicConfig[] = []
    const problems: KeyProblem[] = []
    names.forEach((name, i) => {
      const value = values[i]
      if (value === undefined) {
        configs.push({ name, stored: undefined })
        return
      }
      const stored = decodeOrReport(keys[i]!, () => decodeTopicConfig(value), problems)
      if (stored !== undefined) configs.push({ name, stored })
    })
    return { configs, problems }
  }

  /**
   * The lag history to judge a lag read by, and the time to judge it at: no etcd request. What
   * the read saw is in it already (the reads above record it). Asking counts as reading lag of
   * `groupIds` (undefined: every group), which keeps the sampler going for those groups.
   */
  lagObservation (groupIds?: readonly string[]): LagObservation {
    const at = Date.now()
    this.lastLagRead = at
    if (groupIds === undefined) this.lastLagReadOfAll = at
    else for (const groupId of groupIds) this.lagReadOf.set(groupId, at)
    return { now: this.lagHistory.clock(), history: this.lagReader, commitsFrom: this.mirror.current() !== undefined ? 'etcd watch' : 'reads and samples' }
  }

  /** A lag read from memory (GroupReader.lagStatus). */
  private judgeFromMemory (state: GroupState, groupId: string): GroupLagStatus | undefined {
    const { group, problems } = state.groupOffsets(groupId, this.topicExists)
    const topics = committedTopics(group)
    const report = lagReport({
      groupTopics: [{ group, topics }],
      logEnds: this.lagHistory.latestLogEnds(topics),
      problems,
      topicsByName: this.view?.topicsByName ?? new Map(),
      observation: this.lagObservation([groupId]),
      logEndMissing: 'no log end read by this replica yet'
    })
    const judged = judgeLag(report).groups.get(groupId)
    return judged === undefined ? undefined : { status: judged.status, status_counts: judged.status_counts }
  }

  /**
   * A sample for the lag history while lag is being read: where the mirror's watch does not
   * deliver commits, every commit and group state (the reads record what they return); then the
   * log ends of the topics tracked groups commit on. Failures are the connection state's to
   * report; the next sample tries again.
   */
  private async sampleLag (): Promise<void> {
    if (this.lagSampling || Date.now() - this.lastLagRead > DEFAULT_GROUP_MIRROR_IDLE_MS) return
    this.lagSampling = true
    try {
      if (this.mirror.current() === undefined) await Promise.all([this.allGroupOffsets(), this.listGroups()])
      await this.sampleLogEnds()
    } catch {
      // Recorded as the connection state by the backend wrapper.
    } finally {
      this.lagSampling = false
    }
  }

  /**
   * The partitions whose log ends a sample reads, by topic: those every tracked group commits on
   * while the lag of all groups is read, else those of the groups whose own lag is (one read of
   * a single group must not make every sample read the whole cluster's log ends).
   */
  private sampledPartitions (): ReadonlyMap<string, { keys: () => Iterable<number> }> {
    const since = Date.now() - DEFAULT_GROUP_MIRROR_IDLE_MS
    if (this.lastLagReadOfAll >= since) return this.lagHistory.trackedPartitions()
    for (const [groupId, at] of this.lagReadOf) if (at < since) this.lagReadOf.delete(groupId)
    return this.lagHistory.partitionsOf(this.lagReadOf.keys())
  }

  /**
   * The next_offset of every partition of the topics some tracked group commits on, and nothing
   * else under /kafscale/topics/ (on a big cluster ~100k keys, most of them of topics nobody
   * consumes, partition states, configs): exact keys in one transaction (batches of it).
   */
  private async sampleLogEnds (): Promise<void> {
    const places: Array<{ topic: string, partition: number, key: string }> = []
    for (const [topic, committed] of this.sampledPartitions()) {
      const known = this.view?.topicsByName.get(topic)?.partitions.map((p) => p.partition) ?? []
      try {
        for (const partition of new Set([...known, ...committed.keys()])) places.push({ topic, partition, key: nextOffsetKey(topic, partition) })
      } catch {
        // No topic can have this name (a key KafScale did not write): it has no log end to read.
      }
    }
    if (places.length === 0) return
    const values = await this.kv.getMany(places.map((p) => p.key))
    places.forEach(({ topic, partition }, i) => {
      const value = values[i]
      if (value === undefined) return
      try {
        this.lagHistory.observeLogEnd(topic, partition, decodeNextOffset(value.toString('utf8')))
      } catch {
        // Left out: the reads that answer report it.
      }
    })
  }

  /**
   * Live ownership: partition leases (`topic/partition` → broker id) and group coordinator
   * leases (group → broker id). Two ranges, in flight together. A key exists only while its
   * broker's etcd lease lives (TTL 10 s), and only once a broker took ownership.
   */
  async leases (): Promise<{ partitions: Map<string, string>, groups: Map<string, string> }> {
    const [partitionPairs, groupPairs] = await Promise.all([this.kv.range(PARTITION_LEASES_PREFIX), this.kv.range(GROUP_LEASES_PREFIX)])
    const partitions = new Map<string, string>()
    for (const { key, value } of partitionPairs) {
      const parsed = parsePartitionLeaseKey(key)
      if (parsed !== undefined) partitions.set(`${parsed.topic}/${parsed.partition}`, value.toString('utf8').trim())
    }
    const groups = new Map(groupPairs.map(({ key, value }) => [key.slice(GROUP_LEASES_PREFIX.length), value.toString('utf8').trim()]))
    return { partitions, groups }
  }

  /** Whether the cached snapshot has the topic: what decides between readings of an ambiguous key. */
  private readonly topicExists = (name: string): boolean => this.view?.topicsByName.has(name) ?? false
}

/** Whether an error means etcd could not be reached (as opposed to a bad key or a bug). */
export function isEtcdUnreachable (err: unknown): boolean {
  return isCodedError(err) && (err.code === 'KSMCP_ERR_ETCD_UNAVAILABLE' || err.code === 'KSMCP_ERR_ETCD_TIMEOUT')
}

/** The backend with the outcome of each call reported, so the connection state follows what reads do. */
function reportingOutcomes (kv: KvBackend, outcome: { succeeded: () => void, failed: (err: Error) => void }): KvBackend {
  const reported = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      const result = await call()
      outcome.succeeded()
      return result
    } catch (err) {
      // Only a failure to reach etcd changes the state; a bad key or a bug does not.
      if (isEtcdUnreachable(err)) outcome.failed(err as Error)
      throw err
    }
  }
  return {
    kind: kv.kind,
    get requestCount () { return kv.requestCount },
    get: async (key) => await reported(async () => await kv.get(key)),
    getMany: async (keys) => await reported(async () => await kv.getMany(keys)),
    range: async (prefix, options) => await reported(async () => await kv.range(prefix, options)),
    rangeMany: async (prefixes) => await reported(async () => await kv.rangeMany(prefixes)),
    ping: async () => { await reported(async () => { await kv.ping() }) },
    scanPrefix: async (prefix, onPage) => await reported(async () => await kv.scanPrefix(prefix, onPage)),
    watchKey: (key, handlers) => kv.watchKey(key, handlers),
    watchPrefix: (prefix, fromRevision, handlers) => kv.watchPrefix(prefix, fromRevision, handlers),
    close: async () => { await kv.close() }
  }
}
