import { Type } from 'typebox'
import type { Finding, MutationArgs, MutationSpec, Plan } from '../../core/mutation.ts'
import { InvalidInputError } from '../../lib/errors.ts'
import type { BrokerStatusResult, FlushResult, PartitionRef } from '../../lib/kafscale/control.ts'
import type { MutationDeps } from './deps.ts'
import { byLeader, controlOf, controlSources, leaderFindings, onEachBroker, partitionsBefore, PartitionRefs, readLeaders, refList, type LeaderState } from './leaders.ts'

const properties = {
  partitions: Type.Optional(PartitionRefs('the partitions to flush, each once; each is flushed by the broker that leads it. Leave out with all_assigned')),
  all_assigned: Type.Optional(Type.Boolean({ description: 'true: flush every partition assigned to broker_id instead of naming partitions' })),
  broker_id: Type.Optional(Type.Integer({ minimum: 0, description: 'the broker whose partitions are all flushed; only with all_assigned: true' }))
}

const description = 'Ask brokers, over their gRPC control plane (TriggerFlush), to write the segments they buffer to S3 now rather than ' +
  'when their buffers fill, e.g. before a restart; it deletes and moves nothing. Name either `partitions` (each flushed by the broker ' +
  'the cluster snapshot names as its leader) or `all_assigned: true` with a `broker_id`. The dry run shows each partition with its ' +
  'leader and the state the leader reports ("unknown" where it reports none), or the broker and how many partitions it leads, and ' +
  'refuses unknown partitions or brokers and brokers that cannot be reached. The broker answers which partitions it flushed. Today\'s ' +
  'KafScale brokers do not implement TriggerFlush: the apply then fails with "broker N (…) does not implement TriggerFlush yet".'

type State =
  | { kind: 'partitions', leaders: LeaderState }
  | { kind: 'broker', brokerId: number, brokers: number[], led: number, status: BrokerStatusResult | undefined }

const NOT_IMPLEMENTED: Finding = { level: 'warning', code: 'FLUSH_NOT_IMPLEMENTED', message: 'today\'s KafScale broker answers TriggerFlush with UNIMPLEMENTED: unless the brokers run a release that flushes on request, the apply fails and nothing changes' }

/** Exactly one of the two ways to say what is flushed. */
function target ({ partitions, all_assigned: all, broker_id: brokerId }: MutationArgs<typeof properties>): { partitions: PartitionRef[] } | { brokerId: number } {
  if (all === true) {
    if (partitions !== undefined) throw new InvalidInputError('name either partitions or all_assigned: true, not both')
    if (brokerId === undefined) throw new InvalidInputError('all_assigned: true needs broker_id, the broker whose partitions are flushed')
    return { brokerId }
  }
  if (partitions === undefined) throw new InvalidInputError('name the partitions to flush, or all_assigned: true with a broker_id')
  if (brokerId !== undefined) throw new InvalidInputError('broker_id goes with all_assigned: true; named partitions are flushed by the brokers that lead them')
  return { partitions }
}

const spec: MutationSpec<typeof properties, State, MutationDeps> = {
  name: 'trigger_flush',
  title: 'Flush buffered segments to S3',
  description,
  properties,
  destructive: false,
  idempotent: true,
  resource: (args) => `flush:${args.all_assigned === true ? `broker ${args.broker_id ?? '?'}` : refList(args.partitions ?? [])}`,
  async read (args, deps) {
    const what = target(args)
    if ('partitions' in what) return { kind: 'partitions', leaders: await readLeaders(what.partitions, deps) }
    const { control, view } = controlSources(deps)
    const broker = view.snapshot.brokers.find((b) => b.nodeId === what.brokerId)
    const led = view.sortedTopics.reduce((n, t) => n + t.partitions.filter((p) => p.leader === what.brokerId).length, 0)
    const [status] = broker === undefined ? [] : await control.statuses([broker])
    return { kind: 'broker', brokerId: what.brokerId, brokers: view.snapshot.brokers.map((b) => b.nodeId), led, status }
  },
  plan: (_args, state) => state.kind === 'partitions' ? partitionsPlan(state.leaders) : brokerPlan(state),
  async apply (_args, state, deps) {
    const targets = state.kind === 'partitions' ? byLeader(state.leaders) : [{ target: state.status!.target, refs: [] }]
    const brokers = await onEachBroker<FlushResult>(controlOf(deps), targets, 'TriggerFlush',
      async (client, refs) => await client.triggerFlush(state.kind === 'partitions' ? refs : 'all'),
      ({ flushed }) => `flushed ${refList(flushed)}`)
    return { brokers }
  }
}

function partitionsPlan (leaders: LeaderState): Plan {
  const before = partitionsBefore(leaders)
  const brokers = byLeader(leaders)
  return {
    before: { partitions: before },
    after: { partitions: Object.fromEntries(Object.entries(before).map(([key, entry]) => [key, { ...entry, flushed: true }])) },
    findings: [...leaderFindings(leaders), NOT_IMPLEMENTED],
    impact: {
      summary: `asks ${brokers.map(({ target, refs }) => `broker ${target.nodeId} to flush ${refList(refs)}`).join('; ') || 'no broker'} to S3`,
      partitions: leaders.partitions.length,
      brokers: brokers.map(({ target }) => target.nodeId)
    }
  }
}

function brokerPlan ({ brokerId, brokers, led, status }: Extract<State, { kind: 'broker' }>): Plan {
  const findings: Finding[] = []
  if (status === undefined) findings.push({ level: 'error', code: 'BROKER_NOT_FOUND', message: `broker ${brokerId} is not in the cluster snapshot (brokers: ${brokers.join(', ') || 'none'})` })
  else if (status.error !== undefined) findings.push({ level: 'error', code: 'BROKER_UNREACHABLE', message: status.error.message })
  findings.push(NOT_IMPLEMENTED)
  const before = { node_id: brokerId, in_snapshot: status !== undefined, partitions_led: led }
  return {
    before: { broker: before },
    after: { broker: { ...before, flushed: 'every assigned partition' } },
    findings,
    impact: { summary: `asks broker ${brokerId} to flush every partition assigned to it to S3 (it leads ${led} in the snapshot)`, partitions: led, brokers: [brokerId] }
  }
}

export default spec
