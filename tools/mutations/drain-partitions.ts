import { Type } from 'typebox'
import type { MutationSpec } from '../../core/mutation.ts'
import type { DrainResult } from '../../lib/kafscale/control.ts'
import type { MutationDeps } from './deps.ts'
import { byLeader, controlOf, leaderFindings, onEachBroker, partitionsBefore, PartitionRefs, readLeaders, refList, type LeaderState } from './leaders.ts'

const DEFAULT_DEADLINE_SECONDS = 60

const properties = {
  partitions: PartitionRefs('the partitions to drain, each once; each is sent to the broker that leads it'),
  reason: Type.String({ minLength: 1, maxLength: 500, description: 'why they are drained (e.g. "rollout of broker 2"): sent to the broker and audited' }),
  deadline_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: `how long each broker may take to hand them off (default ${DEFAULT_DEADLINE_SECONDS}); the call waits that long at most` }))
}

const description = 'Ask the brokers, over their gRPC control plane (DrainPartitions), to stop serving partitions and hand them ' +
  'off, e.g. before a broker is restarted. Each partition goes to the broker the cluster snapshot names as its leader; that broker ' +
  'answers which it drained and which are still pending when the deadline passed. The dry run shows each partition with its leader ' +
  'and the state the leader reports ("unknown" where it reports none), and refuses unknown partitions and leaders that cannot be reached. ' +
  'Today\'s KafScale brokers do not implement DrainPartitions: the apply then fails with "broker N (…) does not implement DrainPartitions yet" ' +
  'and nothing changes. Use broker_status to see which broker leads what.'

const spec: MutationSpec<typeof properties, LeaderState, MutationDeps> = {
  name: 'drain_partitions',
  title: 'Drain partitions from their brokers',
  description,
  properties,
  destructive: true,
  idempotent: false,
  resource: ({ partitions }) => `drain:${refList(partitions)}`,
  async read ({ partitions }, deps) {
    return await readLeaders(partitions, deps)
  },
  plan ({ partitions, reason, deadline_seconds: deadline = DEFAULT_DEADLINE_SECONDS }, state) {
    const before = partitionsBefore(state)
    const brokers = byLeader(state)
    return {
      before: { partitions: before },
      // The control contract says only drained or pending: which broker leads a drained partition next is the cluster's choice.
      after: { partitions: Object.fromEntries(Object.entries(before).map(([key, entry]) => [key, { ...entry, state: 'drained' }])) },
      findings: [
        ...leaderFindings(state),
        { level: 'warning', code: 'DRAIN_NOT_IMPLEMENTED', message: 'today\'s KafScale broker answers DrainPartitions with UNIMPLEMENTED: unless these brokers run a release that drains, the apply fails and nothing changes' },
        { level: 'info', code: 'DRAIN_OUTCOME', message: `each broker answers which partitions it drained and which are still pending after ${deadline} s; which broker serves a drained partition next is not part of the answer: check cluster_status after` }
      ],
      impact: {
        summary: `asks ${brokers.map(({ target, refs }) => `broker ${target.nodeId} to drain ${refList(refs)}`).join('; ') || 'no broker'} within ${deadline} s (reason: ${JSON.stringify(reason)})`,
        partitions: partitions.length,
        brokers: brokers.map(({ target }) => target.nodeId),
        deadline_seconds: deadline
      }
    }
  },
  async apply ({ reason, deadline_seconds: deadline = DEFAULT_DEADLINE_SECONDS }, state, deps) {
    const brokers = await onEachBroker<DrainResult>(controlOf(deps), byLeader(state), 'DrainPartitions',
      async (client, refs) => await client.drainPartitions(refs, reason, deadline),
      ({ drained, pending }) => `drained ${refList(drained)}, pending ${refList(pending)}`)
    return { brokers }
  }
}

export default spec
