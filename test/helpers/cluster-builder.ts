import { decodeSnapshot, encodeSnapshot, topicIdFor, type ClusterSnapshot } from '../../lib/kafscale/snapshot.ts'
import type { Etcd3 } from 'etcd3'
import { SNAPSHOT_BYTES } from './kafscale-data.ts'

/** The operator fixture's cluster plus extra topics (partition i led by broker i % brokers). */
export function snapshotWith (extraTopics: Array<[string, number]>, brokerCount = 3): ClusterSnapshot {
  const base = decodeSnapshot(SNAPSHOT_BYTES.toString())
  const brokers = Array.from({ length: brokerCount }, (_, i) => base.brokers[i] ?? { nodeId: i, host: `kafscale-broker-${i}.kafscale-broker-headless.kafscale.svc.cluster.local`, port: 9092, rack: null })
  const ids = brokers.map((b) => b.nodeId)
  return {
    ...base,
    brokers,
    topics: [...base.topics, ...extraTopics.map(([name, n]) => ({
      name,
      topicId: topicIdFor(name),
      isInternal: false,
      errorCode: 0,
      authorizedOperations: 0,
      partitions: Array.from({ length: n }, (_, p) => ({ partition: p, leader: ids[p % ids.length]!, leaderEpoch: 0, replicas: ids, isr: ids, offlineReplicas: [], errorCode: 0 }))
    }))]
  }
}

export function encoded (snapshot: ClusterSnapshot): string {
  return encodeSnapshot(snapshot)
}

/** Many puts in transactions of 128 (etcd's default operation limit), all in flight together. */
export async function putMany (etcd: Etcd3, entries: Array<[string, string | Uint8Array]>): Promise<void> {
  const batches: Array<Array<[string, string | Uint8Array]>> = []
  for (let i = 0; i < entries.length; i += 128) batches.push(entries.slice(i, i + 128))
  await Promise.all(batches.map(async (batch) => {
    await etcd.kv.txn({ success: batch.map(([key, value]) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } })) })
  }))
}
