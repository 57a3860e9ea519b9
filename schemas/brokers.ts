import { Type, type Static } from 'typebox'
import { brokerOutcomeFields, ObservedAt } from './common.ts'

/** Node ids are int32 in the snapshot; a cluster has far fewer brokers than this list allows. */
const MAX_NODE_IDS = 1000

export const BrokerStatusInput = Type.Object({
  node_ids: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }), {
    maxItems: MAX_NODE_IDS,
    description: 'ask only these brokers (node ids as cluster_status lists them); default: every broker of the cluster'
  }))
}, { additionalProperties: false })

export const BrokerStatusOutput = Type.Object({
  brokers: Type.Array(Type.Object({
    ...brokerOutcomeFields('why this broker\'s control plane could not be read: unreachable, no answer in time, no address, or a failed call'),
    address: Type.Optional(Type.String({ description: 'the host:port dialled' })),
    broker_id: Type.Optional(Type.String({ description: 'the id the broker reports for itself' })),
    version: Type.Optional(Type.String()),
    ready: Type.Optional(Type.Boolean({ description: 'the broker says it is ready to serve (today\'s brokers: S3 is healthy)' })),
    s3: Type.Optional(Type.Object({
      state: Type.String({ description: 'healthy, degraded or unavailable' }),
      avg_latency_ms: Type.Integer(),
      error_rate: Type.Number({ description: '0 to 1, to a resolution of 0.001' })
    })),
    partitions: Type.Optional(Type.Array(Type.Object({
      topic: Type.String(),
      partition: Type.Integer(),
      leader: Type.Boolean({ description: 'this broker leads the partition' }),
      state: Type.String(),
      log_start_offset: Type.Integer(),
      log_end_offset: Type.Integer(),
      high_watermark: Type.Integer()
    }), { description: 'the partitions the broker reports; today\'s brokers report none' }))
  })),
  observed_at: ObservedAt
})
export type BrokerStatusOutput = Static<typeof BrokerStatusOutput>
