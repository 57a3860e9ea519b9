import { assertGroupId, assertTopicName } from './names.ts'

// The etcd key layout of KafScale (contract §1.1). Names go into keys verbatim, "/" included,
// so every builder checks its names first and every parser reads a key by its known shape:
// the fixed segments ("config", "partitions", "next_offset", "metadata", "offsets") and the
// partition number are found from the right, and what lies between them is the name. Exact
// keys built this way never alias another name's key; range reads over a prefix also return
// keys of names that extend the prefix ("a" and "a/partitions/0"), which the parsers sort out.
export const SNAPSHOT_KEY = '/kafscale/metadata/snapshot'
export const CONSUMERS_PREFIX = '/kafscale/consumers/'
export const TOPICS_PREFIX = '/kafscale/topics/'
export const PARTITION_LEASES_PREFIX = '/kafscale/partition-leases/'
export const GROUP_LEASES_PREFIX = '/kafscale/group-leases/'

const CONFIG_SUFFIX = '/config'
const NEXT_OFFSET_SUFFIX = '/next_offset'
const PARTITIONS_SEGMENT = '/partitions'
const METADATA_SUFFIX = '/metadata'
const OFFSETS_SEGMENT = '/offsets/'

export function topicConfigKey (topic: string): string {
  assertTopicName(topic)
  return `${TOPICS_PREFIX}${topic}${CONFIG_SUFFIX}`
}

export function topicPartitionsPrefix (topic: string): string {
  assertTopicName(topic)
  return `${TOPICS_PREFIX}${topic}${PARTITIONS_SEGMENT}/`
}

export function nextOffsetKey (topic: string, partition: number): string {
  return `${topicPartitionsPrefix(topic)}${partition}${NEXT_OFFSET_SUFFIX}`
}

export function groupPrefix (groupId: string): string {
  assertGroupId(groupId)
  return `${CONSUMERS_PREFIX}${groupId}/`
}

export function groupMetadataKey (groupId: string): string {
  return `${groupPrefix(groupId)}metadata`
}

export function groupOffsetsPrefix (groupId: string): string {
  return `${groupPrefix(groupId)}offsets/`
}

export function groupOffsetKey (groupId: string, topic: string, partition: number): string {
  assertTopicName(topic)
  return `${groupOffsetsPrefix(groupId)}${topic}/${partition}`
}

/** What a key under /kafscale/topics/ names, or undefined for a key of no known shape. */
export type TopicKey =
  | { kind: 'config', topic: string }
  | { kind: 'next_offset' | 'partition_state', topic: string, partition: number }

export function parseTopicKey (key: string): TopicKey | undefined {
  if (!key.startsWith(TOPICS_PREFIX)) return undefined
  const rest = key.slice(TOPICS_PREFIX.length)
  // No other shape ends in "/config" (the others end in a number or "/next_offset").
  if (rest.endsWith(CONFIG_SUFFIX)) {
    const topic = rest.slice(0, -CONFIG_SUFFIX.length)
    return topic === '' ? undefined : { kind: 'config', topic }
  }
  const nextOffset = rest.endsWith(NEXT_OFFSET_SUFFIX)
  const body = nextOffset ? rest.slice(0, -NEXT_OFFSET_SUFFIX.length) : rest
  const cut = body.lastIndexOf('/')
  const partition = parsePartition(body.slice(cut + 1))
  const head = body.slice(0, Math.max(cut, 0))
  if (cut < 0 || partition === undefined || !head.endsWith(PARTITIONS_SEGMENT)) return undefined
  const topic = head.slice(0, -PARTITIONS_SEGMENT.length)
  return topic === '' ? undefined : { kind: nextOffset ? 'next_offset' : 'partition_state', topic, partition }
}

export interface OffsetKeyReading {
  groupId: string
  topic: string
  partition: number
}

/**
 * What a key under /kafscale/consumers/ names. An offsets key whose remainder holds
 * "/offsets/" more than once reads several ways (group "a" with topic "b/offsets/c", or group
 * "a/offsets/b" with topic "c"): the reading whose topic the cluster has wins, and when that
 * does not single one out the key is "ambiguous", with every reading, for the caller to report.
 */
export type ConsumerKey =
  | { kind: 'metadata', groupId: string }
  | ({ kind: 'offset' } & OffsetKeyReading)
  | { kind: 'ambiguous', readings: OffsetKeyReading[] }

export function parseConsumerKey (key: string, isTopic: (name: string) => boolean): ConsumerKey | undefined {
  if (!key.startsWith(CONSUMERS_PREFIX)) return undefined
  const rest = key.slice(CONSUMERS_PREFIX.length)
  // An offsets key ends in a partition number, so "/metadata" always means a group's metadata.
  if (rest.endsWith(METADATA_SUFFIX)) {
    const groupId = rest.slice(0, -METADATA_SUFFIX.length)
    return groupId === '' ? undefined : { kind: 'metadata', groupId }
  }
  const cut = rest.lastIndexOf('/')
  const partition = parsePartition(rest.slice(cut + 1))
  if (cut < 0 || partition === undefined) return undefined
  const body = rest.slice(0, cut)
  const readings: OffsetKeyReading[] = []
  for (let at = body.indexOf(OFFSETS_SEGMENT, 1); at > 0; at = body.indexOf(OFFSETS_SEGMENT, at + 1)) {
    const topic = body.slice(at + OFFSETS_SEGMENT.length)
    if (topic !== '') readings.push({ groupId: body.slice(0, at), topic, partition })
  }
  if (readings.length <= 1) return readings.length === 0 ? undefined : { kind: 'offset', ...readings[0]! }
  const known = readings.filter((r) => isTopic(r.topic))
  if (known.length === 1) return { kind: 'offset', ...known[0]! }
  return { kind: 'ambiguous', readings: known.length > 1 ? known : readings }
}

/** Partition lease keys split at the last "/", as KafScale's proxy splits them. */
export function parsePartitionLeaseKey (key: string): { topic: string, partition: number } | undefined {
  if (!key.startsWith(PARTITION_LEASES_PREFIX)) return undefined
  const rest = key.slice(PARTITION_LEASES_PREFIX.length)
  const cut = rest.lastIndexOf('/')
  const partition = parsePartition(rest.slice(cut + 1))
  return cut > 0 && partition !== undefined ? { topic: rest.slice(0, cut), partition } : undefined
}

export function parsePartition (text: string): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined
  const n = Number(text)
  return n <= 0x7fffffff ? n : undefined
}
