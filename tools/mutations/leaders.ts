import { createHash } from 'node:crypto'
import { Type } from 'typebox'
import type { Finding } from '../../core/mutation.ts'
import { BrokerControlNotConfiguredError, ControlPartlyAppliedError, StoreNotConfiguredError } from '../../lib/errors.ts'
import type { BrokerControlClient, BrokerControlPool, BrokerStatusResult, ControlTarget, PartitionRef } from '../../lib/kafscale/control.ts'
import type { SnapshotView } from '../../lib/store/kafscale-store.ts'
import { TopicName } from '../../schemas/common.ts'
import type { MutationDeps } from './deps.ts'

// The partitions a control-plane change names: which broker leads each (from the etcd snapshot,
// so no request names a topic before it is known to exist) and what that broker says of it
// (GetStatus). A plan's before-state holds only what stays put on an idle cluster — leader and
// state, never log offsets, which move with every produce and would make every plan stale.

const INT32_MAX = 2 ** 31 - 1
const MAX_PARTITIONS = 1000
/** Longer partition lists are cut in resource names and messages (a digest keeps them apart). */
const MAX_LISTED_CHARS = 200
/** What a partition's state is when its leader could not say: absent from its status, or not asked. */
const UNKNOWN_STATE = 'unknown'

export const PartitionRefs = (description: string) => Type.Array(Type.Object({
  topic: TopicName,
  partition: Type.Integer({ minimum: 0, maximum: INT32_MAX })
}, { additionalProperties: false }), { minItems: 1, maxItems: MAX_PARTITIONS, uniqueItems: true, description })

interface NamedPartition extends PartitionRef {
  /** Its leader's node id in the snapshot; undefined when the snapshot has no such partition. */
  leader: number | undefined
  problem?: 'no_topic' | 'no_partition' | 'no_leader'
}

export interface LeaderState {
  partitions: NamedPartition[]
  /** GetStatus of each leader named, by node id. */
  leaders: Map<number, BrokerStatusResult>
}

/** The control plane and the snapshot, or the "not configured" error of whichever is missing. */
export function controlSources (deps: MutationDeps): { control: BrokerControlPool, view: SnapshotView } {
  if (deps.store === undefined) throw new StoreNotConfiguredError()
  return { control: controlOf(deps), view: deps.store.snapshotView() }
}

export function controlOf (deps: MutationDeps): BrokerControlPool {
  if (deps.control === undefined) throw new BrokerControlNotConfiguredError()
  return deps.control
}

/** Each partition's leader from the snapshot, and what those leaders report, asked all at once. */
export async function readLeaders (refs: readonly PartitionRef[], deps: MutationDeps): Promise<LeaderState> {
  const { control, view } = controlSources(deps)
  const brokers = new Map(view.snapshot.brokers.map((b) => [b.nodeId, b]))
  const partitions = refs.map(({ topic, partition }): NamedPartition => {
    const known = view.topicsByName.get(topic)
    const leader = known?.partitions.find((p) => p.partition === partition)?.leader
    if (known === undefined) return { topic, partition, leader: undefined, problem: 'no_topic' }
    if (leader === undefined) return { topic, partition, leader: undefined, problem: 'no_partition' }
    return { topic, partition, leader, ...(brokers.has(leader) ? {} : { problem: 'no_leader' as const }) }
  })
  const asked = [...new Set(partitions.filter((p) => p.problem === undefined).map((p) => p.leader!))].sort((a, b) => a - b).map((id) => brokers.get(id)!)
  const statuses = await control.statuses(asked)
  return { partitions, leaders: new Map(statuses.map((s) => [s.target.nodeId, s])) }
}

interface PartitionEntry extends PartitionRef {
  leader: number | null
  state: string
}

/** Each partition as its leader reports it, by `topic/partition`, so a diff names the partition. */
export function partitionsBefore ({ partitions, leaders }: LeaderState): Record<string, PartitionEntry> {
  return Object.fromEntries(partitions.map((p) => {
    const reported = reportedBy(leaders, p)
    return [refKey(p), { topic: p.topic, partition: p.partition, leader: p.leader ?? null, state: reported?.state ?? UNKNOWN_STATE }]
  }))
}

/** What keeps the change from being sent (errors) and what the before-state cannot show (warnings). */
export function leaderFindings ({ partitions, leaders }: LeaderState): Finding[] {
  const findings: Finding[] = []
  const having = (problem: NamedPartition['problem']): NamedPartition[] => partitions.filter((p) => p.problem === problem)
  const add = (level: Finding['level'], code: string, refs: readonly PartitionRef[], message: (list: string) => string): void => {
    if (refs.length > 0) findings.push({ level, code, message: message(refList(refs)) })
  }
  add('error', 'TOPIC_NOT_FOUND', having('no_topic'), (list) => `not in the cluster snapshot, no such topic: ${list}`)
  add('error', 'PARTITION_NOT_FOUND', having('no_partition'), (list) => `no such partition in the cluster snapshot: ${list}`)
  add('error', 'NO_LEADER', having('no_leader'), (list) => `no leader among the snapshot's brokers: ${list}`)
  for (const [nodeId, result] of leaders) {
    const led = partitions.filter((p) => p.problem === undefined && p.leader === nodeId)
    if (result.status === undefined) {
      add('error', 'LEADER_UNREACHABLE', led, (list) => `${result.error?.message ?? `broker ${nodeId} did not answer`}; it leads ${list}`)
      continue
    }
    const reported = led.map((p) => [p, reportedBy(leaders, p)] as const)
    add('warning', 'STATE_NOT_REPORTED', reported.filter(([, r]) => r === undefined).map(([p]) => p),
      (list) => `broker ${nodeId} reports no status for ${list} (today's KafScale brokers report only S3 health): the plan shows their state as ${UNKNOWN_STATE}`)
    add('warning', 'LEADER_DISAGREES', reported.filter(([, r]) => r !== undefined && !r.leader).map(([p]) => p),
      (list) => `the snapshot names broker ${nodeId} as leader of ${list}, but the broker reports that it does not lead them`)
  }
  return findings
}

function reportedBy (leaders: LeaderState['leaders'], { topic, partition, leader }: NamedPartition): { state: string, leader: boolean } | undefined {
  if (leader === undefined) return undefined
  return leaders.get(leader)?.status?.partitions.find((p) => p.topic === topic && p.partition === partition)
}

/** The partitions of a plan without errors, grouped by the broker that leads them. */
export function byLeader ({ partitions, leaders }: LeaderState): Array<{ target: ControlTarget, refs: PartitionRef[] }> {
  return [...leaders.values()].map(({ target }) => ({
    target,
    refs: partitions.filter((p) => p.leader === target.nodeId).map(({ topic, partition }) => ({ topic, partition }))
  }))
}

/**
 * One call per broker, all at once. When every broker fails, the first failure is the answer (a
 * single broker's own error, e.g. "does not implement DrainPartitions yet"); when only some do,
 * the error says what the others did, since their change was made.
 */
export async function onEachBroker<R> (control: BrokerControlPool, targets: ReadonlyArray<{ target: ControlTarget, refs: PartitionRef[] }>, method: string,
  call: (client: BrokerControlClient, refs: PartitionRef[]) => Promise<R>, describe: (answer: R) => string): Promise<Array<{ node_id: number, address: string } & R>> {
  const settled = await Promise.allSettled(targets.map(async ({ target, refs }) => {
    const client = control.client(target)
    return { node_id: target.nodeId, address: client.target.address, ...await call(client, refs) }
  }))
  const failed = settled.filter((s) => s.status === 'rejected')
  if (failed.length === 0) return settled.map((s) => (s as PromiseFulfilledResult<{ node_id: number, address: string } & R>).value)
  if (failed.length === settled.length) throw failed[0]!.reason
  throw new ControlPartlyAppliedError(method, settled.map((s) => s.status === 'fulfilled'
    ? `broker ${s.value.node_id} (${s.value.address}) ${describe(s.value)}`
    // Each control error names its broker and address already.
    : (s.reason as Error).message).join('; '))
}

function refKey ({ topic, partition }: PartitionRef): string {
  return `${topic}/${partition}`
}

/** `orders[0-2,5], payments[3]`: partitions by topic, runs as ranges; cut with a digest beyond MAX_LISTED_CHARS. */
export function refList (refs: readonly PartitionRef[]): string {
  if (refs.length === 0) return 'none'
  const byTopic = new Map<string, number[]>()
  for (const { topic, partition } of refs) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition])
  const text = [...byTopic].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([topic, numbers]) => `${topic}[${ranges(numbers)}]`).join(', ')
  if (text.length <= MAX_LISTED_CHARS) return text
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 12)
  return `${text.slice(0, MAX_LISTED_CHARS - 50)}… (${refs.length} partitions, sha256 ${digest})`
}

function ranges (numbers: number[]): string {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b)
  const runs: string[] = []
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i]!
    while (i + 1 < sorted.length && sorted[i + 1] === sorted[i]! + 1) i++
    runs.push(start === sorted[i] ? String(start) : `${start}-${sorted[i]}`)
  }
  return runs.join(',')
}
