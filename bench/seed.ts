import type { Etcd3 } from 'etcd3'
import { encodeConsumerGroup, encodeTopicConfig } from '../lib/kafscale/messages.ts'
import { encodeOffsetRecord } from '../lib/kafscale/offsets.ts'
import { encodeSnapshot, topicIdFor, type ClusterSnapshot } from '../lib/kafscale/snapshot.ts'

// A large, realistic KafScale cluster in KafScale's own encodings.

export interface ClusterShape {
  topics: number
  partitionsPerTopic: number
  brokers: number
  groups: number
  /** Partitions the one big group has committed (over whole topics). */
  bigGroupPartitions: number
  storedConfigs: number
}

export const topicName = (i: number): string => `topic-${String(i).padStart(5, '0')}`
export const groupName = (i: number): string => `group-${String(i).padStart(4, '0')}`

/** The full cluster: 100,000 partitions. */
export const FULL: ClusterShape = { topics: 2000, partitionsPerTopic: 50, brokers: 30, groups: 500, bigGroupPartitions: 2000, storedConfigs: 1000 }
/** The smallest cluster there is, for the fixed cost of a call. */
export const ONE_PARTITION: ClusterShape = { topics: 1, partitionsPerTopic: 1, brokers: 1, groups: 1, bigGroupPartitions: 1, storedConfigs: 1 }

/** The full cluster `factor` times smaller: fewer topics, groups, configs and big-group partitions. */
export function scaledDown (factor: number): ClusterShape {
  return {
    topics: Math.max(1, FULL.topics / factor),
    partitionsPerTopic: FULL.partitionsPerTopic,
    brokers: factor === 1 ? FULL.brokers : 3,
    groups: Math.max(1, FULL.groups / factor),
    bigGroupPartitions: Math.max(FULL.partitionsPerTopic, FULL.bigGroupPartitions / factor),
    storedConfigs: Math.max(1, FULL.storedConfigs / factor)
  }
}

export const partitionsOf = (shape: ClusterShape): number => shape.topics * shape.partitionsPerTopic
/** The topics the big group committed to. */
export const bigGroupTopics = (shape: ClusterShape): string[] => Array.from({ length: Math.ceil(shape.bigGroupPartitions / shape.partitionsPerTopic) }, (_, i) => topicName(i))

export function buildSnapshot (shape: ClusterShape): ClusterSnapshot {
  const ids = Array.from({ length: shape.brokers }, (_, i) => i)
  const rf = ids.slice(0, Math.min(3, ids.length))
  return {
    brokers: ids.map((i) => ({ nodeId: i, host: `kafscale-broker-${i}.kafscale-broker-headless.kafscale.svc.cluster.local`, port: 9092, rack: null })),
    controllerId: 0,
    topics: Array.from({ length: shape.topics }, (_, t) => ({
      name: topicName(t),
      topicId: topicIdFor(topicName(t)),
      isInternal: false,
      errorCode: 0,
      authorizedOperations: 0,
      partitions: Array.from({ length: shape.partitionsPerTopic }, (_, p) => ({ partition: p, leader: (t + p) % shape.brokers, leaderEpoch: 0, replicas: rf, isr: rf, offlineReplicas: [], errorCode: 0 }))
    })),
    clusterName: 'bench',
    clusterId: 'bench-cluster'
  }
}

async function putAll (etcd: Etcd3, entries: Array<[string, string | Uint8Array]>): Promise<void> {
  const batches: Array<Array<[string, string | Uint8Array]>> = []
  for (let i = 0; i < entries.length; i += 128) batches.push(entries.slice(i, i + 128))
  // 16 transactions in flight at a time keeps etcd busy without flooding it.
  for (let i = 0; i < batches.length; i += 16) {
    await Promise.all(batches.slice(i, i + 16).map(async (batch) => {
      await etcd.kv.txn({ success: batch.map(([key, value]) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } })) })
    }))
  }
}

export async function seed (etcd: Etcd3, shape: ClusterShape): Promise<{ snapshotBytes: number, keys: number }> {
  const snapshot = encodeSnapshot(buildSnapshot(shape))
  await etcd.put('/kafscale/metadata/snapshot').value(snapshot)
  const entries: Array<[string, string | Uint8Array]> = []
  const at = '2026-11-29T12:00:00.123Z'
  for (let t = 0; t < shape.topics; t++) {
    for (let p = 0; p < shape.partitionsPerTopic; p++) entries.push([`/kafscale/topics/${topicName(t)}/partitions/${p}/next_offset`, String(100_000 + t * 7 + p)])
  }
  for (let t = 0; t < shape.storedConfigs; t++) {
    entries.push([`/kafscale/topics/${topicName(t)}/config`, encodeTopicConfig({ name: topicName(t), partitions: shape.partitionsPerTopic, replicationFactor: 3, retentionMs: 86_400_000n, retentionBytes: -1n, segmentBytes: 67_108_864n, createdAt: '2026-03-01T12:00:00Z', config: { 'cleanup.policy': 'delete' } })])
  }
  for (let g = 0; g < shape.groups; g++) {
    const id = groupName(g)
    const topic = topicName(g % shape.topics)
    const member = `${id}-5577006791947779410`
    entries.push([`/kafscale/consumers/${id}/metadata`, encodeConsumerGroup({
      groupId: id,
      state: 'stable',
      protocolType: 'consumer',
      protocol: 'range',
      leader: member,
      generationId: 3,
      rebalanceTimeoutMs: 300000,
      members: { [member]: { clientId: '', clientHost: '', heartbeatAt: at, assignments: [{ topic, partitions: Array.from({ length: shape.partitionsPerTopic }, (_, p) => p) }], subscriptions: [topic], sessionTimeoutMs: 45000 } }
    })])
    for (let p = 0; p < Math.min(10, shape.partitionsPerTopic); p++) entries.push([`/kafscale/consumers/${id}/offsets/${topic}/${p}`, encodeOffsetRecord({ offset: BigInt(99_000 + p), metadata: '', committedAt: at })])
  }
  for (let i = 0; i < shape.bigGroupPartitions; i++) {
    const t = Math.floor(i / shape.partitionsPerTopic)
    const p = i % shape.partitionsPerTopic
    entries.push([`/kafscale/consumers/big-group/offsets/${topicName(t)}/${p}`, encodeOffsetRecord({ offset: BigInt(99_000 + p), metadata: '', committedAt: at })])
  }
  await putAll(etcd, entries)
  return { snapshotBytes: Buffer.byteLength(snapshot), keys: entries.length + 1 }
}
