import type { Exposition } from './exposition.ts'

/** The KafScale operator's view of its etcd backups, aggregated as the console does (contract §6.6). */
export interface OperatorSummary {
  clusters: number
  /** 1 when any cluster's etcd snapshot backup is stale (maximum over clusters). */
  stale: number
  /** 0 when any cluster's backup bucket is not accessible (minimum; 0 when absent). */
  accessOk: number
  /** Age of the oldest cluster's last backup, seconds (maximum). */
  snapshotAgeSeconds: number
}

export function summarizeOperator (exposition: Exposition): OperatorSummary {
  const values = (name: string): number[] => exposition.samples.filter((s) => s.name === name).map((s) => s.value)
  const accessOk = values('kafscale_operator_etcd_snapshot_access_ok')
  return {
    clusters: values('kafscale_operator_clusters').at(-1) ?? 0,
    stale: Math.max(0, ...values('kafscale_operator_etcd_snapshot_stale')),
    accessOk: accessOk.length === 0 ? 0 : Math.min(...accessOk),
    snapshotAgeSeconds: Math.max(0, ...values('kafscale_operator_etcd_snapshot_age_seconds'))
  }
}
