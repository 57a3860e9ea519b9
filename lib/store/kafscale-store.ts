import { AmbiguousKeyError, CorruptValueError, GroupNotFoundError, isCodedError, SnapshotUnavailableError } from '../errors.ts'
import { CONSUMERS_PREFIX, GROUP_LEASES_PREFIX, PARTITION_LEASES_PREFIX, TOPICS_PREFIX, groupMetadataKey, groupOffsetsPrefix, groupPrefix, parseConsumerKey, parsePartitionLeaseKey, parseTopicKey, SNAPSHOT_KEY, topicConfigKey, topicPartitionsPrefix, type OffsetKeyReading } from '../kafscale/keys.ts'
import { decodeConsumerGroup, decodeTopicConfig, type ConsumerGroup, type TopicConfig } from '../kafscale/messages.ts'
import { decodeNextOffset, decodeOffsetRecord, type OffsetRecord } from '../kafscale/offsets.ts'
import { decodeSnapshot, EMPTY_SNAPSHOT, type ClusterSnapshot, type SnapshotTopic } from '../kafscale/snapshot.ts'
import type { KvBackend } from './kv.ts'

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
}

export interface GroupSummary {
  groupId: string
  state: string
  protocolType: string
  memberCount: number
}

export interface GroupOffsets {
  groupId: string
  /** Committed offsets keyed by `${topic}/${partition}`. */
  offsets: Map<string, { topic: string, partition: number, record: OffsetRecord }>
}

/** A key left out of an answer: its value does not decode, or names with "/" make it read several ways. */
export interface KeyProblem {
  key: string
  code: string
  reason: string
}

export type GroupDescription =
  | { metadata: 'stored', group: ConsumerGroup }
  | { metadata: 'missing', groupId: string, committedPartitions: number, problems: KeyProblem[] }

export interface StoredTopicConfig {
  name: string
  /** undefined: no config key in etcd */
  stored: TopicConfig | undefined
}

/**
 * What a tool may do with the metadata: read it, or ask etcd again (probe, reload). No raw
 * key-value access and no close: a tool cannot write to etcd or end the service's connection.
 */
export const METADATA_READS = ['snapshotView', 'loadedView', 'health', 'probe', 'reload', 'listGroups', 'describeGroup', 'groupOffsets', 'allGroupOffsets', 'nextOffsets', 'topicKeys', 'topicConfigs', 'leases'] as const
export type MetadataReader = Pick<KafscaleStore, typeof METADATA_READS[number]>

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

  /** The backend; every call's outcome sets the connection state. */
  readonly kv: KvBackend
  private readonly log: StoreLogger

  constructor (kv: KvBackend, log: StoreLogger) {
    this.kv = reportingOutcomes(kv, { succeeded: () => { this.markConnected() }, failed: (err) => { this.markDisconnected(err) } })
    this.log = log
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
  }

  async close (): Promise<void> {
    await this.stopWatch?.()
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
    if (this.connected) return
    if (this.stateSince === undefined) this.log.info('etcd connected')
    else this.log.info({ downSince: this.stateSince.toISOString() }, 'etcd reachable again')
    this.connected = true
    this.stateSince = new Date()
    this.connectionError = undefined
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
  }

  health (): StoreHealth {
    const health: StoreHealth = { backend: this.kv.kind, connected: this.connected, snapshotLoaded: this.view !== undefined }
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
   * Every group: one keys-only range over /kafscale/consumers/ (no offset values cross the
   * wire) and one transaction reading the metadata blobs. Groups that only have committed
   * offsets (KafScale deletes the metadata key when the last member leaves) are listed as
   * "empty", as Kafka lists them. A blob that does not decode leaves its group out and is
   * reported; so is an offsets key that reads as several groups.
   */
  async listGroups (): Promise<{ groups: GroupSummary[], problems: KeyProblem[] }> {
    const keys = await this.kv.range(CONSUMERS_PREFIX, { keysOnly: true })
    const isTopic = this.topicExists
    const withMetadata: Array<{ groupId: string, key: string }> = []
    const offsetsOnly = new Set<string>()
    const problems: KeyProblem[] = []
    for (const { key } of keys) {
      const parsed = parseConsumerKey(key, isTopic)
      if (parsed?.kind === 'metadata') withMetadata.push({ groupId: parsed.groupId, key })
      else if (parsed?.kind === 'offset') offsetsOnly.add(parsed.groupId)
      else if (parsed?.kind === 'ambiguous') problems.push(ambiguousKey(key, parsed.readings))
    }
    const values = await this.kv.getMany(withMetadata.map((m) => m.key))
    const groups: GroupSummary[] = []
    withMetadata.forEach(({ groupId, key }, i) => {
      offsetsOnly.delete(groupId)
      const value = values[i]
      if (value === undefined) return // deleted between the two reads
      const group = decodeOrReport(key, () => decodeConsumerGroup(value), problems)
      if (group !== undefined) groups.push({ groupId, state: group.state, protocolType: group.protocolType, memberCount: Object.keys(group.members).length })
    })
    for (const groupId of offsetsOnly) groups.push({ groupId, state: 'empty', protocolType: '', memberCount: 0 })
    return { groups: groups.sort((a, b) => compareStrings(a.groupId, b.groupId)), problems: sortProblems(problems) }
  }

  /**
   * A group's metadata, or, for a group whose members all left (KafScale deleted its metadata
   * key and kept its offsets), how many partitions it has committed: nothing is made up.
   */
  async describeGroup (groupId: string): Promise<GroupDescription> {
    const key = groupMetadataKey(groupId)
    const value = await this.kv.get(key)
    if (value !== undefined) {
      try {
        return { metadata: 'stored', group: decodeConsumerGroup(value) }
      } catch (err) {
        throw new CorruptValueError(key, (err as Error).message)
      }
    }
    // Keys only: under this prefix are also the keys of groups named "<id>/offsets/…".
    const keys = await this.kv.range(groupOffsetsPrefix(groupId), { keysOnly: true })
    const isTopic = this.topicExists
    let committedPartitions = 0
    const problems: KeyProblem[] = []
    for (const { key: offsetKey } of keys) {
      const parsed = parseConsumerKey(offsetKey, isTopic)
      if (parsed?.kind === 'offset' && parsed.groupId === groupId) committedPartitions++
      else if (parsed?.kind === 'ambiguous' && parsed.readings.some((r) => r.groupId === groupId)) problems.push(ambiguousKey(offsetKey, parsed.readings))
    }
    if (committedPartitions === 0 && problems.length === 0) throw new GroupNotFoundError(JSON.stringify(groupId))
    return { metadata: 'missing', groupId, committedPartitions, problems }
  }

  /** A group's committed offsets: one range read over the group's prefix. */
  async groupOffsets (groupId: string): Promise<{ group: GroupOffsets, problems: KeyProblem[] }> {
    const metadataKey = groupMetadataKey(groupId)
    const pairs = await this.kv.range(groupPrefix(groupId))
    const { groups, problems } = collectOffsets(pairs, this.topicExists, groupId)
    const group = groups.get(groupId)
    if (group === undefined && problems.length === 0 && !pairs.some((p) => p.key === metadataKey)) throw new GroupNotFoundError(JSON.stringify(groupId))
    return { group: group ?? { groupId, offsets: new Map() }, problems }
  }

  /** Every group's committed offsets: one range read over /kafscale/consumers/. */
  async allGroupOffsets (): Promise<{ groups: GroupOffsets[], problems: KeyProblem[] }> {
    const { groups, problems } = collectOffsets(await this.kv.range(CONSUMERS_PREFIX), this.topicExists)
    return { groups: [...groups.values()], problems }
  }

  /**
   * Log-end offsets (`next_offset`, the next offset to assign) by topic and partition: one
   * range per topic, all in flight together. A partition without the key has 0 (contract §1.1).
   * The range of topic "a" also holds the keys of topics named "a/partitions/…": only keys that
   * read as topic "a" count.
   */
  async nextOffsets (topics: Iterable<string>): Promise<{ offsets: Map<string, Map<number, bigint>>, problems: KeyProblem[] }> {
    const names = [...new Set(topics)]
    const problems: KeyProblem[] = []
    const ranges = await Promise.all(names.map(async (topic) => {
      const offsets = new Map<number, bigint>()
      for (const { key, value } of await this.kv.range(topicPartitionsPrefix(topic))) {
        const parsed = parseTopicKey(key)
        if (parsed?.kind !== 'next_offset' || parsed.topic !== topic) continue
        const end = decodeOrReport(key, () => decodeNextOffset(value.toString('utf8')), problems)
        if (end !== undefined) offsets.set(parsed.partition, end)
      }
      return [topic, offsets] as const
    }))
    return { offsets: new Map(ranges), problems: sortProblems(problems) }
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
    ping: async () => { await reported(async () => { await kv.ping() }) },
    watchKey: (key, handlers) => kv.watchKey(key, handlers),
    close: async () => { await kv.close() }
  }
}

/**
 * Offset records of a range read, by group; with `onlyGroup`, just that group's. Records that
 * do not decode and keys that read as several groups are reported, not fatal.
 */
function collectOffsets (pairs: readonly { key: string, value: Buffer }[], isTopic: (name: string) => boolean, onlyGroup?: string): { groups: Map<string, GroupOffsets>, problems: KeyProblem[] } {
  const groups = new Map<string, GroupOffsets>()
  const problems: KeyProblem[] = []
  for (const { key, value } of pairs) {
    const parsed = parseConsumerKey(key, isTopic)
    if (parsed?.kind === 'ambiguous') {
      if (onlyGroup === undefined || parsed.readings.some((r) => r.groupId === onlyGroup)) problems.push(ambiguousKey(key, parsed.readings))
      continue
    }
    if (parsed?.kind !== 'offset' || (onlyGroup !== undefined && parsed.groupId !== onlyGroup)) continue
    const record = decodeOrReport(key, () => decodeOffsetRecord(value.toString('utf8')), problems)
    if (record === undefined) continue
    let group = groups.get(parsed.groupId)
    if (group === undefined) groups.set(parsed.groupId, group = { groupId: parsed.groupId, offsets: new Map() })
    group.offsets.set(`${parsed.topic}/${parsed.partition}`, { topic: parsed.topic, partition: parsed.partition, record })
  }
  return { groups, problems: sortProblems(problems) }
}

/** The decoded value, or undefined with the key reported in `problems` (CorruptValueError's wording). */
function decodeOrReport<T> (key: string, decode: () => T, problems: KeyProblem[]): T | undefined {
  try {
    return decode()
  } catch (err) {
    const error = new CorruptValueError(key, (err as Error).message)
    problems.push({ key, code: error.code, reason: error.message })
    return undefined
  }
}

function ambiguousKey (key: string, readings: readonly OffsetKeyReading[]): KeyProblem {
  const error = new AmbiguousKeyError(key, readings.map((r) => `group ${JSON.stringify(r.groupId)} topic ${JSON.stringify(r.topic)} partition ${r.partition}`).join(' or '))
  return { key, code: error.code, reason: error.message }
}

function sortProblems (problems: KeyProblem[]): KeyProblem[] {
  return problems.sort((a, b) => compareStrings(a.key, b.key))
}

export function compareStrings (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
