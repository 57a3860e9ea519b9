import Fastify from 'fastify'
import { Etcd3 } from 'etcd3'
import { noop } from 'cockatiel'
import { CONSUMERS_PREFIX, groupMetadataKey, groupOffsetKey, nextOffsetKey, SNAPSHOT_KEY, topicConfigKey } from '../lib/kafscale/keys.ts'
import { decodeConsumerGroup, decodeTopicConfig } from '../lib/kafscale/messages.ts'
import { decodeNextOffset, decodeOffsetRecord } from '../lib/kafscale/offsets.ts'
import { decodeSnapshot, type SnapshotTopic } from '../lib/kafscale/snapshot.ts'

// The reference Go server's etcd access pattern per tool (contract §8.1, §8.2, §8.4), decoded
// with our own decoders and served on a bare Fastify route (POST /reference/<tool>, the
// arguments as body). It skips the go-sdk's MCP framing and its output round trip, so it is a
// lower bound of what the reference costs: beating it is beating the reference.
//   - the snapshot is read once and cached (the Go store watches it): cluster_status,
//     list_topics and describe_topics touch no etcd;
//   - list_groups: one Get of the whole /kafscale/consumers/ prefix, values included, every
//     group's metadata decoded;
//   - describe_group: one Get of the metadata key;
//   - fetch_offsets: one Get per snapshot partition of the named topics, one after another;
//   - describe_configs: one Get per topic, one after another;
//   - consumer_lag (the reference has none): what a client of it would do, fetch_offsets' loop
//     plus one Get of next_offset per partition.

const [port, endpoint] = process.argv.slice(2) as [string, string]
const etcd = new Etcd3({ hosts: endpoint, faultHandling: { host: () => noop, global: noop }, grpcOptions: { 'grpc.max_receive_message_length': 256 << 20 } })
const snapshot = decodeSnapshot((await etcd.get(SNAPSHOT_KEY).string()) ?? '{}')
const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
const summary = (t: SnapshotTopic): object => ({ name: t.name, partition_count: t.partitions.length, error_code: t.errorCode })
/** The Go store's cloneTopics: a sorted copy per call. */
const topics = (names: string[] | null | undefined): SnapshotTopic[] => {
  const all = [...snapshot.topics].sort(byName)
  if (names === null || names === undefined || names.length === 0) return all
  const wanted = new Set(names)
  return all.filter((t) => wanted.has(t.name))
}

type Args = Record<string, any>
const tools: Record<string, (args: Args) => Promise<object>> = {
  cluster_status: async () => ({
    ...(snapshot.clusterName !== null ? { cluster_name: snapshot.clusterName } : {}),
    ...(snapshot.clusterId !== null ? { cluster_id: snapshot.clusterId } : {}),
    controller_id: snapshot.controllerId,
    brokers: snapshot.brokers.map((b) => ({ node_id: b.nodeId, host: b.host, port: b.port })),
    topics: topics(null).map(summary),
    s3: { state: '', latency_ms: 0 },
    etcd: { state: 'connected' },
    observed_at: new Date().toISOString().slice(0, 19) + 'Z'
  }),
  list_topics: async () => ({ topics: topics(null).map(summary) }),
  describe_topics: async ({ names }) => ({
    topics: topics(names).map((t) => ({
      name: t.name,
      error_code: t.errorCode,
      partitions: t.partitions.map((p) => ({ partition: p.partition, leader_id: p.leader, leader_epoch: p.leaderEpoch, replica_nodes: [...p.replicas], isr_nodes: [...p.isr], offline_replicas: [...p.offlineReplicas], error_code: p.errorCode }))
    }))
  }),
  list_groups: async () => {
    const groups = []
    for (const [key, value] of Object.entries(await etcd.getAll().prefix(CONSUMERS_PREFIX).buffers())) {
      const id = key.slice(CONSUMERS_PREFIX.length, -'/metadata'.length)
      if (!key.endsWith('/metadata') || id.includes('/')) continue
      const g = decodeConsumerGroup(value)
      groups.push({ group_id: id, state: g.state, protocol_type: g.protocolType, member_count: Object.keys(g.members).length })
    }
    return { groups: groups.sort((a, b) => byName({ name: a.group_id }, { name: b.group_id })) }
  },
  describe_group: async ({ group_id: id }) => {
    const value = await etcd.get(groupMetadataKey(id)).buffer()
    if (value === null) throw new Error(`consumer group ${JSON.stringify(id)} not found`)
    const g = decodeConsumerGroup(value)
    return {
      group_id: g.groupId,
      state: g.state,
      protocol_type: g.protocolType,
      protocol: g.protocol,
      leader: g.leader,
      generation_id: g.generationId,
      rebalance_timeout_ms: g.rebalanceTimeoutMs,
      members: Object.entries(g.members).sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, m]) => ({
        member_id: id, client_id: m.clientId, client_host: m.clientHost, heartbeat_at: m.heartbeatAt, assignments: m.assignments, subscriptions: m.subscriptions, session_timeout_ms: m.sessionTimeoutMs
      }))
    }
  },
  fetch_offsets: async ({ group_id: id, topics: names }) => {
    const offsets = []
    for (const t of topics(names)) {
      for (const p of t.partitions) {
        const text = await etcd.get(groupOffsetKey(id, t.name, p.partition)).string()
        const record = text === null ? { offset: 0n, metadata: '' } : decodeOffsetRecord(text)
        offsets.push({ topic: t.name, partition: p.partition, offset: Number(record.offset), metadata: record.metadata })
      }
    }
    return { group_id: id, offsets: offsets.length > 0 ? offsets : null }
  },
  describe_configs: async ({ topics: names }) => {
    const configs = []
    for (const t of topics(names)) {
      const value = await etcd.get(topicConfigKey(t.name)).buffer()
      const c = value === null ? undefined : decodeTopicConfig(value)
      configs.push(c === undefined
        ? { name: t.name, exists: true, partitions: t.partitions.length, replication_factor: t.partitions.length, retention_ms: -1, retention_bytes: -1, segment_bytes: 0, created_at: new Date().toISOString(), config: {} }
        : { name: c.name, exists: true, partitions: c.partitions, replication_factor: c.replicationFactor, retention_ms: Number(c.retentionMs), retention_bytes: Number(c.retentionBytes), segment_bytes: Number(c.segmentBytes), created_at: c.createdAt, config: c.config })
    }
    return { configs }
  },
  consumer_lag: async ({ group_id: id, topics: names }) => {
    const partitions = []
    for (const t of topics(names)) {
      for (const p of t.partitions) {
        const committed = await etcd.get(groupOffsetKey(id, t.name, p.partition)).string()
        const end = decodeNextOffset((await etcd.get(nextOffsetKey(t.name, p.partition)).string()) ?? '')
        const offset = committed === null ? 0n : decodeOffsetRecord(committed).offset
        partitions.push({ topic: t.name, partition: p.partition, committed_offset: Number(offset), log_end_offset: Number(end), lag: Number(end > offset ? end - offset : 0n) })
      }
    }
    return { group_id: id, partitions }
  }
}

/** The least raw etcd work of fetch_offsets and describe_configs, in a process under the service's Node flags. */
const raw: Record<string, (args: Args) => Promise<object>> = {
  offsets_range: async ({ prefix }) => ({ keys: Object.keys(await etcd.getAll().prefix(prefix).strings()).length }),
  configs_txn: async ({ keys }) => {
    const batches: Buffer[][] = []
    for (let i = 0; i < keys.length; i += 128) batches.push(keys.slice(i, i + 128).map((k: string) => Buffer.from(k)))
    await Promise.all(batches.map(async (b) => await etcd.kv.txn({ success: b.map((key) => ({ request_range: { key } })) })))
    return { keys: keys.length }
  }
}

const app = Fastify({ logger: false, bodyLimit: 64 << 20 })
for (const [name, run] of [...Object.entries(tools).map(([n, r]) => [`reference/${n}`, r] as const), ...Object.entries(raw).map(([n, r]) => [`raw/${n}`, r] as const)]) {
  app.post(`/${name}`, async (req, reply) => {
    const start = performance.now()
    const answer = await run((req.body ?? {}) as Args)
    // The pattern's own time (etcd reads, decoding, building the answer), without HTTP and serialisation.
    void reply.header('server-timing', `pattern;dur=${(performance.now() - start).toFixed(3)}`)
    return answer
  })
}
await app.listen({ host: '127.0.0.1', port: Number(port) })
process.stdout.write('ready\n')
