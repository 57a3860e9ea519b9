import { readFileSync } from 'node:fs'
import type { Etcd3 } from 'etcd3'

// KafScale-format data as KafScale's own encoders wrote it (contract §2.4, §3.3, §3.4): the
// operator's snapshot byte for byte, the broker's protobuf group and config, offset JSON.

export const SNAPSHOT_BYTES = readFileSync(new URL('../fixtures/snapshot-operator.json', import.meta.url))
export const BILLING_GROUP = Buffer.from('0a0762696c6c696e671206737461626c651a08636f6e73756d6572220572616e67652a036d2d3130033a3a0a036d2d3112331a16323032362d30332d30315431323a30303a30302e355a220d0a066f726465727312030001022a066f726465727330c8df0240e0a712', 'hex')
export const ORDERS_CONFIG = Buffer.from('0a066f7264657273100318032080b8992928ffffffffffffffffff013a14323032362d30332d30315431323a30303a30305a', 'hex')

export async function seedCluster (etcd: Etcd3): Promise<void> {
  await etcd.put('/kafscale/metadata/snapshot').value(SNAPSHOT_BYTES)
  await etcd.put('/kafscale/consumers/billing/metadata').value(BILLING_GROUP)
  await etcd.put('/kafscale/consumers/billing/offsets/orders/0').value('{"offset":42,"metadata":"","committed_at":"2026-03-01T12:30:45.123456Z"}')
  await etcd.put('/kafscale/consumers/billing/offsets/orders/2').value('{"offset":-1,"metadata":"\\u003ca\\u0026b\\u003e\\u2028é\\u0000","committed_at":"2026-03-01T12:30:45Z"}')
  // A group whose members all left: the broker deleted its metadata, its offsets stay.
  await etcd.put('/kafscale/consumers/archiver/offsets/payments/1').value('{"offset":7,"metadata":"m","committed_at":"2026-03-01T12:00:00Z"}')
  // A group id with "/": the broker creates such groups, and they are listed.
  await etcd.put('/kafscale/consumers/team/a/metadata').value(BILLING_GROUP)
  await etcd.put('/kafscale/topics/orders/config').value(ORDERS_CONFIG)
  for (const [topic, partitions] of [['orders', 3], ['payments', 2]] as const) {
    for (let p = 0; p < partitions; p++) await etcd.put(`/kafscale/topics/${topic}/partitions/${p}/next_offset`).value(String(100 * (p + 1)))
  }
  await etcd.put('/kafscale/partition-leases/orders/0').value('0')
}

const host = (i: number): string => `kafscale-broker-${i}.kafscale-broker-headless.kafscale.svc.cluster.local`
const fullPartition = (partition: number) => ({ partition, leader_id: partition % 3, leader_epoch: 0, replica_nodes: [0, 1, 2], isr_nodes: [0, 1, 2], offline_replicas: [], error_code: 0 })

/** What each tool must answer for the seeded cluster, fields that vary by time left out. */
export const EXPECTED = {
  cluster_status: {
    cluster_name: 'kafscale',
    cluster_id: '3f2a9c4e-6b1d-4e8a-9f0c-2d7b5e1a8c34',
    controller_id: 0,
    brokers: [0, 1, 2].map((i) => ({ node_id: i, host: host(i), port: 9092 })),
    topics: [{ name: 'orders', partition_count: 3, error_code: 0 }, { name: 'payments', partition_count: 2, error_code: 0 }],
    s3: { state: 'healthy', latency_ms: 37 }
  },
  // Two brokers serve the fixture, one is down: the console's rules over the two that answer.
  cluster_metrics: {
    s3_state: 'healthy',
    s3_latency_ms: 37,
    s3_error_rate: 0,
    produce_rps: 2 * 1520.5,
    fetch_rps: 2 * 980.25,
    admin_requests_total: 2 * 16,
    admin_request_errors_total: 2 * 1,
    admin_request_latency_ms: (1.25 + 0.667 + 4) / 3,
    source: 'per-broker'
  },
  cluster_metrics_broker: {
    ok: true,
    s3_state: 'healthy',
    s3_latency_ms: 37,
    s3_error_rate: 0,
    produce_rps: 1520.5,
    fetch_rps: 980.25,
    admin_requests_total: 16,
    admin_request_errors_total: 1,
    cpu_percent: 4.213,
    mem_bytes: 27541504
  },
  list_topics: { topics: [{ name: 'orders', partition_count: 3, error_code: 0 }, { name: 'payments', partition_count: 2, error_code: 0 }] },
  describe_topics: {
    topics: [
      { name: 'orders', error_code: 0, partitions: [0, 1, 2].map(fullPartition) },
      { name: 'payments', error_code: 0, partitions: [0, 1].map(fullPartition) }
    ]
  },
  describe_topics_filtered: {
    topics: [
      { name: 'nope', error_code: 3, partitions: [] },
      { name: 'payments', error_code: 0, partitions: [0, 1].map(fullPartition) },
      { name: 'payments', error_code: 0, partitions: [0, 1].map(fullPartition) }
    ]
  },
  list_groups: {
    groups: [
      { group_id: 'archiver', state: 'empty', protocol_type: '', member_count: 0 },
      { group_id: 'billing', state: 'stable', protocol_type: 'consumer', member_count: 1 },
      { group_id: 'team/a', state: 'stable', protocol_type: 'consumer', member_count: 1 }
    ]
  },
  describe_group: {
    group_id: 'billing',
    state: 'stable',
    metadata: 'stored',
    protocol_type: 'consumer',
    protocol: 'range',
    leader: 'm-1',
    generation_id: 3,
    rebalance_timeout_ms: 300000,
    members: [{
      member_id: 'm-1',
      client_id: '',
      client_host: '',
      heartbeat_at: '2026-03-01T12:00:00.5Z',
      assignments: [{ topic: 'orders', partitions: [0, 1, 2] }],
      subscriptions: ['orders'],
      session_timeout_ms: 45000
    }]
  },
  fetch_offsets: {
    group_id: 'billing',
    offsets: [
      { topic: 'orders', partition: 0, offset: 42, metadata: '', committed: true, committed_at: '2026-03-01T12:30:45.123456Z' },
      { topic: 'orders', partition: 1, offset: 0, metadata: '', committed: false },
      { topic: 'orders', partition: 2, offset: -1, metadata: '<a&b>\u2028é\u0000', committed: true, committed_at: '2026-03-01T12:30:45Z' }
    ]
  },
  describe_configs_orders: {
    name: 'orders', exists: true, source: 'stored', partitions: 3, replication_factor: 3, retention_ms: 86400000, retention_bytes: -1, segment_bytes: 0, created_at: '2026-03-01T12:00:00Z', config: {}
  },
  describe_configs_payments: {
    name: 'payments', exists: true, source: 'default', partitions: 2, replication_factor: 2, retention_ms: -1, retention_bytes: -1, segment_bytes: 0, config: {}
  }
}
