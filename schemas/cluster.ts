import { Type, type Static } from 'typebox'
import { brokerOutcomeFields, ObservedAt, TopicSummary } from './common.ts'

export const ClusterStatusInput = Type.Object({}, { additionalProperties: false })

export const ClusterStatusOutput = Type.Object({
  cluster_name: Type.Optional(Type.String()),
  cluster_id: Type.Optional(Type.String()),
  controller_id: Type.Integer(),
  brokers: Type.Array(Type.Object({ node_id: Type.Integer(), host: Type.String(), port: Type.Integer() })),
  topics: Type.Array(TopicSummary, { description: 'by name; as many as fit under the size cap (topics_omitted says how many more)' }),
  topics_omitted: Type.Optional(Type.Integer({ description: 'topics left out of `topics` to keep the answer small; list_topics pages through all of them' })),
  s3: Type.Object({
    state: Type.String({ description: 'healthy, degraded or unavailable; "" when broker metrics are not configured or unreachable' }),
    latency_ms: Type.Integer()
  }),
  etcd: Type.Object({
    state: Type.Union([Type.Literal('connected'), Type.Literal('disconnected'), Type.Literal('not_configured')], {
      description: 'connected: the last etcd exchange succeeded; the metadata above may be a cached copy when disconnected'
    }),
    since: Type.Optional(Type.String({ description: 'when etcd entered this state (RFC 3339)' })),
    snapshot_loaded_at: Type.Optional(Type.String()),
    error: Type.Optional(Type.String({ description: 'why etcd is disconnected, or why its latest snapshot was not applied' }))
  }),
  observed_at: ObservedAt
})
export type ClusterStatusOutput = Static<typeof ClusterStatusOutput>

export const ClusterMetricsInput = Type.Object({}, { additionalProperties: false })

export const ClusterMetricsOutput = Type.Object({
  s3_state: Type.String(),
  s3_latency_ms: Type.Integer(),
  s3_error_rate: Type.Number(),
  produce_rps: Type.Number({ description: 'records produced per second over the broker window' }),
  fetch_rps: Type.Number({ description: 'records fetched per second over the broker window' }),
  admin_requests_total: Type.Number(),
  admin_request_errors_total: Type.Number(),
  admin_request_latency_ms: Type.Number(),
  source: Type.Union([Type.Literal('per-broker'), Type.Literal('single-url')], {
    description: 'per-broker: aggregated over the brokers that answered (worst S3 state, mean latency, summed rates); single-url: the configured URL alone'
  }),
  brokers: Type.Array(Type.Object({
    ...brokerOutcomeFields('why this broker\'s metrics could not be read'),
    s3_state: Type.Optional(Type.String()),
    s3_latency_ms: Type.Optional(Type.Integer()),
    s3_error_rate: Type.Optional(Type.Number()),
    produce_rps: Type.Optional(Type.Number()),
    fetch_rps: Type.Optional(Type.Number()),
    admin_requests_total: Type.Optional(Type.Number()),
    admin_request_errors_total: Type.Optional(Type.Number()),
    cpu_percent: Type.Optional(Type.Number()),
    mem_bytes: Type.Optional(Type.Number()),
    scraped_at: Type.Optional(Type.String())
  })),
  observed_at: ObservedAt
})
export type ClusterMetricsOutput = Static<typeof ClusterMetricsOutput>
