import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { encodeConsumerGroup, encodeTopicConfig, type GroupMember } from '../lib/kafscale/messages.ts'
import { encodeOffsetRecord, rfc3339Nano } from '../lib/kafscale/offsets.ts'
import { encodeSnapshot, topicIdFor, type ClusterSnapshot, type SnapshotTopic } from '../lib/kafscale/snapshot.ts'
import { GROUP_LEASES_PREFIX, groupMetadataKey, groupOffsetKey, nextOffsetKey, PARTITION_LEASES_PREFIX, SNAPSHOT_KEY, topicConfigKey } from '../lib/kafscale/keys.ts'
import { MemoryBackend } from '../lib/store/memory-backend.ts'

// A realistic KafScale cluster in KafScale's own encodings, for `npm run demo`: the operator's
// 3-broker layout, topics of several sizes, groups in several states, committed offsets,
// log-end offsets and stored topic configs.

const BROKERS = [0, 1, 2]
const TOPICS: Array<[string, number]> = [['orders', 3], ['payments', 2], ['events', 1], ['clickstream', 12], ['inventory', 6], ['audit-log', 1]]

function topic (name: string, partitions: number): SnapshotTopic {
  return {
    name,
    topicId: topicIdFor(name),
    isInternal: false,
    errorCode: 0,
    authorizedOperations: 0,
    partitions: Array.from({ length: partitions }, (_, i) => ({
      partition: i, leader: i % BROKERS.length, leaderEpoch: 0, replicas: BROKERS, isr: BROKERS, offlineReplicas: [], errorCode: 0
    }))
  }
}

export const DEMO_SNAPSHOT: ClusterSnapshot = {
  brokers: BROKERS.map((i) => ({ nodeId: i, host: `kafscale-broker-${i}.kafscale-broker-headless.kafscale.svc.cluster.local`, port: 9092, rack: null })),
  controllerId: 0,
  topics: TOPICS.map(([name, n]) => topic(name, n)),
  clusterName: 'kafscale-demo',
  clusterId: '3f2a9c4e-6b1d-4e8a-9f0c-2d7b5e1a8c34'
}

function member (topicName: string, partitions: number[], heartbeatAt: string): GroupMember {
  return { clientId: '', clientHost: '', heartbeatAt, assignments: [{ topic: topicName, partitions }], subscriptions: [topicName], sessionTimeoutMs: 45000 }
}

export function demoBackend (now = new Date()): MemoryBackend {
  const kv = new MemoryBackend()
  const at = (secondsAgo: number): string => rfc3339Nano(new Date(now.getTime() - secondsAgo * 1000))
  kv.put(SNAPSHOT_KEY, encodeSnapshot(DEMO_SNAPSHOT))

  // Log-end offsets: every partition has data, and its leader holds its lease.
  for (const t of DEMO_SNAPSHOT.topics) {
    for (const p of t.partitions) {
      kv.put(nextOffsetKey(t.name, p.partition), String(1000 * (p.partition + 1) + t.name.length * 137))
      kv.put(`${PARTITION_LEASES_PREFIX}${t.name}/${p.partition}`, String(p.leader))
    }
  }
  for (const [group, coordinator] of [['billing', 0], ['analytics', 1], ['fraud-detector', 2]] as const) kv.put(`${GROUP_LEASES_PREFIX}${group}`, String(coordinator))

  const commit = (group: string, topicName: string, partition: number, offset: number): void => {
    kv.put(groupOffsetKey(group, topicName, partition), encodeOffsetRecord({ offset: BigInt(offset), metadata: '', committedAt: at(30 + partition) }))
  }
  // billing: stable, one member, fully caught up on orders but one partition behind.
  kv.put(groupMetadataKey('billing'), encodeConsumerGroup({
    groupId: 'billing',
    state: 'stable',
    protocolType: 'consumer',
    protocol: 'range',
    leader: 'billing-5577006791947779410',
    generationId: 3,
    rebalanceTimeoutMs: 300000,
    members: { 'billing-5577006791947779410': member('orders', [0, 1, 2], at(1)) }
  }))
  commit('billing', 'orders', 0, 1822)
  commit('billing', 'orders', 1, 2822)
  commit('billing', 'orders', 2, 2410)
  // analytics: two members splitting clickstream; partition 11 never committed.
  kv.put(groupMetadataKey('analytics'), encodeConsumerGroup({
    groupId: 'analytics',
    state: 'stable',
    protocolType: 'consumer',
    protocol: 'cooperative-sticky',
    leader: 'analytics-8674665223082153551',
    generationId: 12,
    rebalanceTimeoutMs: 60000,
    members: {
      'analytics-8674665223082153551': member('clickstream', [0, 1, 2, 3, 4, 5], at(2)),
      'analytics-6129484611666145821': member('clickstream', [6, 7, 8, 9, 10, 11], at(4))
    }
  }))
  for (let p = 0; p < 11; p++) commit('analytics', 'clickstream', p, 1000 * (p + 1) + 1507 - p * 40)
  // fraud-detector: mid-rebalance.
  kv.put(groupMetadataKey('fraud-detector'), encodeConsumerGroup({
    groupId: 'fraud-detector',
    state: 'preparing_rebalance',
    protocolType: 'consumer',
    protocol: 'range',
    leader: 'fraud-detector-4037200794235010051',
    generationId: 7,
    rebalanceTimeoutMs: 30000,
    members: { 'fraud-detector-4037200794235010051': member('payments', [0, 1], at(20)) }
  }))
  commit('fraud-detector', 'payments', 0, 1900)
  commit('fraud-detector', 'payments', 1, 2100)
  // archiver: all members gone, offsets remain (KafScale deleted its metadata key).
  commit('archiver', 'audit-log', 0, 400)

  // Stored configs: orders after `AlterConfigs retention.ms=86400000` (contract §3.3), payments with an extra entry.
  kv.put(topicConfigKey('orders'), encodeTopicConfig({ name: 'orders', partitions: 3, replicationFactor: 3, retentionMs: 86400000n, retentionBytes: -1n, segmentBytes: 0n, createdAt: '2026-03-01T12:00:00Z', config: {} }))
  kv.put(topicConfigKey('payments'), encodeTopicConfig({ name: 'payments', partitions: 2, replicationFactor: 2, retentionMs: 604800000n, retentionBytes: 10737418240n, segmentBytes: 67108864n, createdAt: '2026-03-01T12:00:00Z', config: { 'cleanup.policy': 'delete' } }))
  return kv
}

const FIXTURE_METRICS = readFileSync(new URL('./broker-metrics.txt', import.meta.url), 'utf8')

/** A broker metrics endpoint serving KafScale's exposition (by default the contract's fixture). */
export async function startDemoMetricsServer (host = '127.0.0.1', text = FIXTURE_METRICS): Promise<{ url: string, server: Server }> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text)
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://${host}:${port}/metrics`, server }
}

/** One simulated metrics endpoint per demo broker, each with its own load figures. */
export async function startDemoBrokerMetrics (): Promise<{ urls: Record<number, string>, close: () => void }> {
  const servers = await Promise.all(BROKERS.map(async (id) => await startDemoMetricsServer('127.0.0.1', FIXTURE_METRICS
    .replace('kafscale_produce_rps 1520.500000', `kafscale_produce_rps ${(1520.5 - id * 310.25).toFixed(6)}`)
    .replace('kafscale_fetch_rps 980.250000', `kafscale_fetch_rps ${(980.25 + id * 120.5).toFixed(6)}`)
    .replace('kafscale_s3_latency_ms_avg 37.250000', `kafscale_s3_latency_ms_avg ${(37.25 + id * 6.5).toFixed(6)}`)
    .replace('kafscale_broker_cpu_percent 4.213000', `kafscale_broker_cpu_percent ${(4.213 + id * 7.9).toFixed(6)}`))))
  return {
    urls: Object.fromEntries(servers.map((s, id) => [id, s.url])),
    close: () => { for (const s of servers) s.server.close() }
  }
}
