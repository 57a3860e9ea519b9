import { assertGroupId, assertTopicName } from './names.ts'

// The etcd key layout of KafScale (contract §1.1). Every builder validates its names first,
// and every prefix ends in "/" so that "orders" never matches "orders2" (contract §1.4).
export const SNAPSHOT_KEY = '/kafscale/metadata/snapshot'
export const CONSUMERS_PREFIX = '/kafscale/consumers/'
export const TOPICS_PREFIX = '/kafscale/topics/'
export const PARTITION_LEASES_PREFIX = '/kafscale/partition-leases/'
export const GROUP_LEASES_PREFIX = '/kafscale/group-leases/'

export function topicConfigKey (topic: string): string {
  assertTopicName(topic)
  return `${TOPICS_PREFIX}${topic}/config`
}

export function topicPartitionsPrefix (topic: string): string {
  assertTopicName(topic)
  return `${TOPICS_PREFIX}${topic}/partitions/`
}

export function nextOffsetKey (topic: string, partition: number): string {
  return `${topicPartitionsPrefix(topic)}${partition}/next_offset`
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

/** What a key under /kafscale/consumers/ names, or undefined for keys KafScale would not parse. */
export type ConsumerKey =
  | { kind: 'metadata', groupId: string }
  | { kind: 'offset', groupId: string, topic: string, partition: number }

export function parseConsumerKey (key: string): ConsumerKey | undefined {
  if (!key.startsWith(CONSUMERS_PREFIX)) return undefined
  const parts = key.slice(CONSUMERS_PREFIX.length).split('/')
  // KafScale's ParseConsumerGroupID and ParseConsumerOffsetKey reject ids and topics with "/".
  if (parts.length === 2 && parts[1] === 'metadata' && parts[0] !== '') {
    return { kind: 'metadata', groupId: parts[0]! }
  }
  if (parts.length === 4 && parts[1] === 'offsets' && parts[0] !== '' && parts[2] !== '') {
    const partition = parsePartition(parts[3]!)
    if (partition === undefined) return undefined
    return { kind: 'offset', groupId: parts[0]!, topic: parts[2]!, partition }
  }
  return undefined
}

export function parsePartition (text: string): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined
  const n = Number(text)
  return n <= 0x7fffffff ? n : undefined
}
