import { BrokerStatusInput, BrokerStatusOutput } from '../schemas/brokers.ts'
import { UnknownBrokerError } from '../lib/errors.ts'
import type { BrokerStatusResult } from '../lib/kafscale/control.ts'
import type { SnapshotBroker } from '../lib/kafscale/snapshot.ts'
import { defineTool, observedAt, READ_ONLY, toolPlugin } from '../index.ts'

const description = 'Ask each broker of the cluster, over its gRPC control plane, for its own status: the id and ' +
  'version it reports, whether it is ready, its S3 health (state, average latency in ms, error rate 0 to 1), and ' +
  'the partitions it reports with leadership, state and log offsets (today\'s KafScale brokers report no partitions, ' +
  'only S3 health). All brokers are asked at once; a broker that cannot be reached, answers too late or fails is ' +
  'listed with ok: false and its error, the others still answer. Use it to check that brokers are up and healthy, ' +
  'and to see which broker leads a partition before draining or flushing. node_ids narrows the question to some brokers. ' +
  'A "not configured" error means the service has no control-plane port or addresses; cluster_metrics gives S3 health from metrics instead.'

export default toolPlugin(defineTool({
  name: 'broker_status',
  title: 'Broker status',
  description,
  input: BrokerStatusInput,
  output: BrokerStatusOutput,
  annotations: { ...READ_ONLY, openWorldHint: true },
  async handler ({ node_ids: nodeIds }, ctx) {
    const control = ctx.require('brokerControl')
    const brokers = selected(ctx.require('store').snapshotView().snapshot.brokers, nodeIds)
    const results = await control.statuses(brokers)
    return { brokers: results.map(brokerEntry), observed_at: observedAt() }
  }
}))

function selected (brokers: readonly SnapshotBroker[], nodeIds: number[] | undefined): readonly SnapshotBroker[] {
  if (nodeIds === undefined) return brokers
  const unknown = nodeIds.filter((id) => !brokers.some((b) => b.nodeId === id))
  if (unknown.length > 0) {
    throw new UnknownBrokerError(`node_ids: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a broker' : 'are not brokers'} of the cluster (brokers: ${brokers.map((b) => b.nodeId).join(', ')})`)
  }
  return brokers.filter((b) => nodeIds.includes(b.nodeId))
}

function brokerEntry ({ target, status, error }: BrokerStatusResult): BrokerStatusOutput['brokers'][number] {
  const where = { node_id: target.nodeId, host: target.host, ...(target.address !== undefined ? { address: target.address } : {}) }
  if (status === undefined) return { ...where, ok: false, error: error?.message ?? 'unknown error' }
  return {
    ...where,
    ok: true,
    broker_id: status.brokerId,
    version: status.version,
    ready: status.ready,
    ...(status.s3 !== undefined ? { s3: { state: status.s3.state, avg_latency_ms: status.s3.avgLatencyMs, error_rate: status.s3.errorRate } } : {}),
    partitions: status.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      leader: p.leader,
      state: p.state,
      log_start_offset: p.logStartOffset,
      log_end_offset: p.logEndOffset,
      high_watermark: p.highWatermark
    }))
  }
}
