import { Type, type Static } from 'typebox'
import { ObservedAt } from './common.ts'

export const ClusterHealthInput = Type.Object({
  lag_threshold: Type.Optional(Type.Integer({ minimum: 0, description: 'Also report groups whose largest partition lag exceeds this many records. Without it lag is judged by behaviour only (stopped, stalled, falling behind, rewind), as consumer_lag\'s status' }))
}, { additionalProperties: false })
export type ClusterHealthInput = Static<typeof ClusterHealthInput>

export const ClusterHealthOutput = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('critical')]),
  diagnosis: Type.String({ description: 'the findings in plain language, most severe first' }),
  findings: Type.Array(Type.Object({
    severity: Type.Union([Type.Literal('critical'), Type.Literal('warning'), Type.Literal('info')]),
    code: Type.String({ description: 'stable identifier of the kind of problem, e.g. S3_DEGRADED' }),
    summary: Type.String(),
    subjects: Type.Array(Type.String(), { description: 'what it concerns: brokers, topic/partition, groups (at most 20 listed)' }),
    count: Type.Integer({ description: 'how many subjects in all' })
  })),
  checked: Type.Array(Type.String(), { description: 'the checks that ran; a check whose data was unavailable is reported as a finding' }),
  observed_at: ObservedAt
})
export type ClusterHealthOutput = Static<typeof ClusterHealthOutput>
