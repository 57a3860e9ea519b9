import { splitPartitionKey, type LagHistory } from '../lag-history.ts'
import { decodeConsumerGroup } from '../kafscale/messages.ts'
import { decodeOffsetRecord } from '../kafscale/offsets.ts'
import type { GroupOffsets } from './group-state.ts'
import { placeOf } from './group-state.ts'

// The lag history fed from what the store reads, and from nothing else (tools get a read-only
// view): each key under /kafscale/consumers/ the group mirror scans or its watch delivers
// (every commit as KafScale writes it), and the committed offsets, group states and log ends
// the store's reads from etcd return (a lag read's, a sample's, any tool's). A value that does
// not decode is left out here; the reads that answer report it.

/** One key of /kafscale/consumers/ as written (value) or deleted (undefined). */
export function feedConsumerKey (history: LagHistory, key: string, value: Buffer | undefined): void {
  const place = placeOf(key)
  // Irregular keys (several readings, "07" partitions) are rare and need the snapshot to read: not tracked.
  if (place === undefined || place.kind === 'irregular') return
  if (place.kind === 'metadata') {
    history.setGroupState(place.groupId, value === undefined ? undefined : stateOf(value))
    return
  }
  if (value === undefined) {
    history.forgetCommits(place.groupId, place.topic, place.partition)
    return
  }
  try {
    const record = decodeOffsetRecord(value.toString('utf8'))
    history.recordCommit(place.groupId, place.topic, place.partition, record.offset, record.committedAt)
  } catch {}
}

export function feedCommits (history: LagHistory, groups: readonly GroupOffsets[]): void {
  for (const group of groups) {
    for (const { topic, partition, record } of group.offsets.values()) history.recordCommit(group.groupId, topic, partition, record.offset, record.committedAt)
  }
}

export function feedLogEnds (history: LagHistory, logEnds: ReadonlyMap<string, ReadonlyMap<number, bigint>>): void {
  for (const [topic, ends] of logEnds) {
    for (const [partition, offset] of ends) history.observeLogEnd(topic, partition, offset)
  }
}

/** Log ends keyed `${topic}/${partition}` (KafscaleStore.topicKeys) by topic and partition (KafscaleStore.nextOffsets). */
export function logEndsByTopic (logEnds: ReadonlyMap<string, bigint>): Map<string, Map<number, bigint>> {
  const out = new Map<string, Map<number, bigint>>()
  for (const [key, offset] of logEnds) {
    const { topic, partition } = splitPartitionKey(key)
    let ends = out.get(topic)
    if (ends === undefined) out.set(topic, ends = new Map())
    ends.set(partition, offset)
  }
  return out
}

function stateOf (value: Buffer): string | undefined {
  try {
    return decodeConsumerGroup(value).state
  } catch {
    return undefined
  }
}
