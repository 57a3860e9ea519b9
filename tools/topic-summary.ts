import type { SnapshotTopic } from '../lib/kafscale/snapshot.ts'

export function topicSummary (t: SnapshotTopic): { name: string, partition_count: number, error_code: number } {
  return { name: t.name, partition_count: t.partitions.length, error_code: t.errorCode }
}
