import { CorruptValueError, GroupNotFoundError } from '../errors.ts'
import { CONSUMERS_PREFIX, parseConsumerKey, type ConsumerKey } from '../kafscale/keys.ts'
import { decodeConsumerGroup, type ConsumerGroup } from '../kafscale/messages.ts'
import { decodeOffsetRecord, type OffsetRecord } from '../kafscale/offsets.ts'
import type { KvPair } from './kv.ts'
import { ambiguousKey, compareStrings, corruptValue, decodeOrReport, sortProblems, type KeyProblem } from './key-problems.ts'

// The keys under /kafscale/consumers/, indexed by group, and every group answer the store gives,
// read from them. The group mirror keeps one such state current from an etcd watch; a read the
// mirror cannot serve builds one from a range read and asks it the same question, so both
// sources answer alike.

export interface GroupSummary {
  groupId: string
  state: string
  protocolType: string
  memberCount: number
}

export interface CommittedOffset {
  topic: string
  partition: number
  record: OffsetRecord
}

export interface GroupOffsets {
  groupId: string
  /** Committed offsets keyed by `${topic}/${partition}`. */
  offsets: Map<string, CommittedOffset>
}

export type GroupDescription =
  | { metadata: 'stored', group: ConsumerGroup }
  | { metadata: 'missing', groupId: string, committedPartitions: number, problems: KeyProblem[] }

/** Whether the cluster has the topic: what decides between the readings of an offsets key (keys.ts). */
export type IsTopic = (name: string) => boolean

interface StoredMetadata {
  key: string
  value: Buffer
  /** Decoded on first use: KafScale rewrites a group's metadata far more often than it is listed. */
  summary?: { group: GroupSummary } | { problem: KeyProblem }
}

interface StoredGroup {
  metadata?: StoredMetadata
  /** Offset records by etcd key, as text: decoding 2,000 of them takes well under a millisecond. */
  offsets: Map<string, { topic: string, partition: number, text: string }>
}

type Reading = Extract<ConsumerKey, { kind: 'offset' | 'ambiguous' }>

// Without the snapshot a key of several readings parses as ambiguous: such keys are read per answer.
const NO_TOPICS: IsTopic = () => false

export class GroupState {
  private readonly groups = new Map<string, StoredGroup>()
  /**
   * Offsets keys whose group the key alone does not tell (they read several ways: the snapshot
   * of the moment decides) or whose partition is not written as KafScale writes it ("07", which
   * a range read meets beside "7"): read on each answer, in etcd's key order. Rare.
   */
  private readonly irregular = new Map<string, string>()
  private irregularInKeyOrder: Array<[string, string]> | undefined
  /** Keys held, of the shapes the answers read. */
  keyCount = 0

  static of (pairs: Iterable<KvPair>): GroupState {
    const state = new GroupState()
    for (const { key, value } of pairs) state.put(key, value)
    return state
  }

  get groupCount (): number {
    return this.groups.size
  }

  put (key: string, value: Buffer): void {
    const place = placeOf(key)
    if (place === undefined) return
    if (place.kind === 'irregular') {
      if (!this.irregular.has(key)) this.keyCount++
      this.irregular.set(key, value.toString('utf8'))
      this.irregularInKeyOrder = undefined
      return
    }
    let group = this.groups.get(place.groupId)
    if (group === undefined) this.groups.set(place.groupId, group = { offsets: new Map() })
    if (place.kind === 'metadata') {
      if (group.metadata === undefined) this.keyCount++
      // A copy: the value is a view into the whole etcd response, which it would keep alive.
      group.metadata = { key, value: Buffer.from(value) }
    } else {
      if (!group.offsets.has(key)) this.keyCount++
      group.offsets.set(key, { topic: place.topic, partition: place.partition, text: value.toString('utf8') })
    }
  }

  delete (key: string): void {
    const place = placeOf(key)
    if (place === undefined) return
    if (place.kind === 'irregular') {
      if (this.irregular.delete(key)) this.keyCount--
      this.irregularInKeyOrder = undefined
      return
    }
    const group = this.groups.get(place.groupId)
    if (group === undefined) return
    if (place.kind === 'metadata') {
      if (group.metadata !== undefined) this.keyCount--
      group.metadata = undefined
    } else if (group.offsets.delete(key)) this.keyCount--
    if (group.metadata === undefined && group.offsets.size === 0) this.groups.delete(place.groupId)
  }

  /** The metadata keys held, for a caller that read keys only and fetches these values. */
  metadataKeys (): string[] {
    return [...this.groups.values()].flatMap((g) => (g.metadata !== undefined ? [g.metadata.key] : []))
  }

  /**
   * Every group. Groups that only have committed offsets (KafScale deletes the metadata key when
   * the last member leaves) are listed as "empty", as Kafka lists them. A blob that does not
   * decode leaves its group out and is reported; so is an offsets key that reads as several groups.
   */
  listGroups (isTopic: IsTopic): { groups: GroupSummary[], problems: KeyProblem[] } {
    const groups: GroupSummary[] = []
    const problems: KeyProblem[] = []
    for (const [groupId, group] of this.groups) {
      if (group.metadata === undefined) {
        groups.push(emptyGroup(groupId))
        continue
      }
      const summary = summaryOf(groupId, group.metadata)
      if ('group' in summary) groups.push(summary.group)
      else problems.push(summary.problem)
    }
    const offsetsOnly = new Set<string>()
    for (const { key, reading } of this.irregularReadings(isTopic)) {
      if (reading.kind === 'ambiguous') problems.push(ambiguousKey(key, reading.readings))
      else if (!this.groups.has(reading.groupId)) offsetsOnly.add(reading.groupId)
    }
    for (const groupId of offsetsOnly) groups.push(emptyGroup(groupId))
    return { groups: groups.sort((a, b) => compareStrings(a.groupId, b.groupId)), problems: sortProblems(problems) }
  }

  /** Whether describeGroup finds the group: it has metadata, committed offsets, or a key that may be its. */
  has (groupId: string, isTopic: IsTopic): boolean {
    return this.groups.has(groupId) || this.irregularReadings(isTopic).some(({ reading }) =>
      reading.kind === 'offset' ? reading.groupId === groupId : reading.readings.some((r) => r.groupId === groupId))
  }

  /**
   * A group's metadata, or, for a group whose members all left (KafScale deleted its metadata
   * key and kept its offsets), how many partitions it has committed: nothing is made up.
   */
  describeGroup (groupId: string, isTopic: IsTopic): GroupDescription {
    const group = this.groups.get(groupId)
    if (group?.metadata !== undefined) {
      try {
        return { metadata: 'stored', group: decodeConsumerGroup(group.metadata.value) }
      } catch (err) {
        throw new CorruptValueError(group.metadata.key, (err as Error).message)
      }
    }
    let committedPartitions = group?.offsets.size ?? 0
    const problems: KeyProblem[] = []
    for (const { key, reading } of this.irregularReadings(isTopic)) {
      if (reading.kind === 'offset') {
        if (reading.groupId === groupId) committedPartitions++
      } else if (reading.readings.some((r) => r.groupId === groupId)) problems.push(ambiguousKey(key, reading.readings))
    }
    if (committedPartitions === 0 && problems.length === 0) throw new GroupNotFoundError(JSON.stringify(groupId))
    return { metadata: 'missing', groupId, committedPartitions, problems }
  }

  /** A group's committed offsets; a group with metadata and no offsets has none, an unknown group is an error. */
  groupOffsets (groupId: string, isTopic: IsTopic): { group: GroupOffsets, problems: KeyProblem[] } {
    const { groups, problems } = this.committed(isTopic, groupId)
    const group = groups.get(groupId)
    if (group === undefined && problems.length === 0 && this.groups.get(groupId)?.metadata === undefined) throw new GroupNotFoundError(JSON.stringify(groupId))
    return { group: group ?? { groupId, offsets: new Map() }, problems }
  }

  /** Every group's committed offsets (groups in no particular order). */
  allGroupOffsets (isTopic: IsTopic): { groups: GroupOffsets[], problems: KeyProblem[] } {
    const { groups, problems } = this.committed(isTopic)
    return { groups: [...groups.values()], problems }
  }

  /**
   * Offset records by group; with `onlyGroup`, just that group's. Records that do not decode
   * and keys that read as several groups are reported, not fatal.
   */
  private committed (isTopic: IsTopic, onlyGroup?: string): { groups: Map<string, GroupOffsets>, problems: KeyProblem[] } {
    const groups = new Map<string, GroupOffsets>()
    const problems: KeyProblem[] = []
    const stored = onlyGroup === undefined ? this.groups : new Map(this.groups.has(onlyGroup) ? [[onlyGroup, this.groups.get(onlyGroup)!]] : [])
    for (const [groupId, group] of stored) {
      const offsets = new Map<string, CommittedOffset>()
      for (const [key, { topic, partition, text }] of group.offsets) {
        const record = decodeOrReport(key, () => decodeOffsetRecord(text), problems)
        if (record !== undefined) offsets.set(`${topic}/${partition}`, { topic, partition, record })
      }
      if (offsets.size > 0) groups.set(groupId, { groupId, offsets })
    }
    // A range read meets the keys of one partition ("7", "07") in key order, and the last
    // readable one is what it keeps: the same here, whichever the keys are.
    const keyOf = new Map<CommittedOffset, string>()
    for (const { key, text, reading } of this.irregularReadings(isTopic)) {
      if (reading.kind === 'ambiguous') {
        if (onlyGroup === undefined || reading.readings.some((r) => r.groupId === onlyGroup)) problems.push(ambiguousKey(key, reading.readings))
        continue
      }
      const { groupId, topic, partition } = reading
      if (onlyGroup !== undefined && groupId !== onlyGroup) continue
      const record = decodeOrReport(key, () => decodeOffsetRecord(text), problems)
      if (record === undefined) continue
      let group = groups.get(groupId)
      if (group === undefined) groups.set(groupId, group = { groupId, offsets: new Map() })
      const current = group.offsets.get(`${topic}/${partition}`)
      if (current !== undefined && compareKeyBytes(keyOf.get(current) ?? `${CONSUMERS_PREFIX}${groupId}/offsets/${topic}/${partition}`, key) > 0) continue
      const offset = { topic, partition, record }
      keyOf.set(offset, key)
      group.offsets.set(`${topic}/${partition}`, offset)
    }
    return { groups, problems: sortProblems(problems) }
  }

  /** The irregular keys in etcd's key order (bytes, not UTF-16), each read against the snapshot of now. */
  private irregularReadings (isTopic: IsTopic): Array<{ key: string, text: string, reading: Reading }> {
    if (this.irregular.size === 0) return []
    this.irregularInKeyOrder ??= [...this.irregular].sort(([a], [b]) => compareKeyBytes(a, b))
    return this.irregularInKeyOrder.map(([key, text]) => ({ key, text, reading: parseConsumerKey(key, isTopic) as Reading }))
  }
}

export type Place =
  | { kind: 'metadata', groupId: string }
  | { kind: 'offset', groupId: string, topic: string, partition: number }
  | { kind: 'irregular' }

/** Where a key goes; undefined for a key no answer reads. */
export function placeOf (key: string): Place | undefined {
  const parsed = parseConsumerKey(key, NO_TOPICS)
  if (parsed === undefined || parsed.kind === 'metadata') return parsed
  if (parsed.kind === 'offset' && key.endsWith(`/${parsed.partition}`)) return parsed
  return { kind: 'irregular' }
}

function summaryOf (groupId: string, metadata: StoredMetadata): { group: GroupSummary } | { problem: KeyProblem } {
  if (metadata.summary === undefined) {
    try {
      const group = decodeConsumerGroup(metadata.value)
      metadata.summary = { group: { groupId, state: group.state, protocolType: group.protocolType, memberCount: Object.keys(group.members).length } }
    } catch (err) {
      metadata.summary = { problem: corruptValue(metadata.key, (err as Error).message) }
    }
  }
  return metadata.summary
}

function emptyGroup (groupId: string): GroupSummary {
  return { groupId, state: 'empty', protocolType: '', memberCount: 0 }
}

function compareKeyBytes (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}
