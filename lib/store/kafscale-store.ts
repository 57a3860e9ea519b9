import type { FastifyBaseLogger } from 'fastify'
import { CorruptValueError, GroupNotFoundError, isCodedError, SnapshotUnavailableError } from '../errors.ts'
import { CONSUMERS_PREFIX, GROUP_LEASES_PREFIX, PARTITION_LEASES_PREFIX, groupMetadataKey, groupOffsetsPrefix, groupPrefix, parseConsumerKey, parsePartition, SNAPSHOT_KEY, topicConfigKey, topicPartitionsPrefix } from '../kafscale/keys.ts'
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

export interface StoredTopicConfig {
  name: string
  /** undefined: no config key in etcd */
  stored: TopicConfig | undefined
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
  private readonly log: FastifyBaseLogger

  constructor (kv: KvBackend, log: FastifyBaseLogger) {
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
   * "empty", as Kafka lists them.
   */
  async listGroups (): Promise<GroupSummary[]> {
    const keys = await this.kv.range(CONSUMERS_PREFIX, { keysOnly: true })
    const withMetadata: string[] = []
    const offsetsOnly = new Set<string>()
    for (const { key } of keys) {
      const parsed = parseConsumerKey(key)
      if (parsed?.kind === 'metadata') withMetadata.push(parsed.groupId)
      else if (parsed?.kind === 'offset') offsetsOnly.add(parsed.groupId)
    }
    const values = await this.kv.getMany(withMetadata.map((id) => `${CONSUMERS_PREFIX}${id}/metadata`))
    const groups: GroupSummary[] = []
    withMetadata.forEach((groupId, i) => {
      offsetsOnly.delete(groupId)
      const value = values[i]
      if (value === undefined) return // deleted between the two reads
      const group = this.decodeGroup(`${CONSUMERS_PREFIX}${groupId}/metadata`, value)
      groups.push({ groupId, state: group.state, protocolType: group.protocolType, memberCount: Object.keys(group.members).length })
    })
    for (const groupId of offsetsOnly) groups.push({ groupId, state: 'empty', protocolType: '', memberCount: 0 })
    return groups.sort((a, b) => compareStrings(a.groupId, b.groupId))
  }

  /** A group's metadata; a group with only committed offsets is described as empty. */
  async describeGroup (groupId: string): Promise<ConsumerGroup> {
    const key = groupMetadataKey(groupId)
    const value = await this.kv.get(key)
    if (value !== undefined) return this.decodeGroup(key, value)
    const offsets = await this.kv.range(groupOffsetsPrefix(groupId), { keysOnly: true, limit: 1 })
    if (offsets.length === 0) throw new GroupNotFoundError(JSON.stringify(groupId))
    return { groupId, state: 'empty', protocolType: '', protocol: '', leader: '', generationId: 0, members: {}, rebalanceTimeoutMs: 0 }
  }

  /** A group's committed offsets: one range read over the group's prefix. */
  async groupOffsets (groupId: string): Promise<GroupOffsets> {
    const pairs = await this.kv.range(groupPrefix(groupId))
    if (pairs.length === 0) throw new GroupNotFoundError(JSON.stringify(groupId))
    return collectOffsets(pairs).get(groupId) ?? { groupId, offsets: new Map() }
  }

  /** Every group's committed offsets: one range read over /kafscale/consumers/. */
  async allGroupOffsets (): Promise<GroupOffsets[]> {
    return [...collectOffsets(await this.kv.range(CONSUMERS_PREFIX)).values()]
  }

  /**
   * Log-end offsets (`next_offset`, the next offset to assign) by topic and partition: one
   * range per topic, all in flight together. A partition without the key has 0 (contract §1.1).
   */
  async nextOffsets (topics: Iterable<string>): Promise<Map<string, Map<number, bigint>>> {
    const names = [...new Set(topics)]
    const ranges = await Promise.all(names.map(async (topic) => {
      const prefix = topicPartitionsPrefix(topic)
      const offsets = new Map<number, bigint>()
      for (const { key, value } of await this.kv.range(prefix)) {
        const rest = key.slice(prefix.length).split('/')
        if (rest.length !== 2 || rest[1] !== 'next_offset') continue
        const partition = parsePartition(rest[0]!)
        if (partition === undefined) continue
        try {
          offsets.set(partition, decodeNextOffset(value.toString('utf8')))
        } catch (err) {
          throw new CorruptValueError(key, (err as Error).message)
        }
      }
      return [topic, offsets] as const
    }))
    return new Map(ranges)
  }

  /** Stored configs of the named topics: one transaction of exact reads. */
  async topicConfigs (names: readonly string[]): Promise<StoredTopicConfig[]> {
    const keys = names.map(topicConfigKey)
    const values = await this.kv.getMany(keys)
    return names.map((name, i) => {
      const value = values[i]
      if (value === undefined) return { name, stored: undefined }
      try {
        return { name, stored: decodeTopicConfig(value) }
      } catch (err) {
        throw new CorruptValueError(keys[i], (err as Error).message)
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
      // Split at the last "/", as KafScale's proxy does, so topics with "/" still parse.
      const rest = key.slice(PARTITION_LEASES_PREFIX.length)
      const cut = rest.lastIndexOf('/')
      if (cut > 0 && parsePartition(rest.slice(cut + 1)) !== undefined) partitions.set(rest, value.toString('utf8').trim())
    }
    const groups = new Map(groupPairs.map(({ key, value }) => [key.slice(GROUP_LEASES_PREFIX.length), value.toString('utf8').trim()]))
    return { partitions, groups }
  }

  private decodeGroup (key: string, value: Buffer): ConsumerGroup {
    try {
      return decodeConsumerGroup(value)
    } catch (err) {
      throw new CorruptValueError(key, (err as Error).message)
    }
  }
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

/** Offset records of a range read, by group; corrupt records fail with their key. */
function collectOffsets (pairs: readonly { key: string, value: Buffer }[]): Map<string, GroupOffsets> {
  const groups = new Map<string, GroupOffsets>()
  for (const { key, value } of pairs) {
    const parsed = parseConsumerKey(key)
    if (parsed?.kind !== 'offset') continue
    let record: OffsetRecord
    try {
      record = decodeOffsetRecord(value.toString('utf8'))
    } catch (err) {
      throw new CorruptValueError(key, (err as Error).message)
    }
    let group = groups.get(parsed.groupId)
    if (group === undefined) groups.set(parsed.groupId, group = { groupId: parsed.groupId, offsets: new Map() })
    group.offsets.set(`${parsed.topic}/${parsed.partition}`, { topic: parsed.topic, partition: parsed.partition, record })
  }
  return groups
}

export function compareStrings (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
