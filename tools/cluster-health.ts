import { ClusterHealthInput, ClusterHealthOutput } from '../schemas/health.ts'
import { computeLag, judgeLag, type LagReport } from '../lib/lag.ts'
import type { LagStatus } from '../lib/lag-status.ts'
import type { ClusterMetrics } from '../lib/metrics/cluster-metrics.ts'
import { SNAPSHOT_KEY } from '../lib/kafscale/keys.ts'
import { isEtcdUnreachable, type KeyProblem, type SnapshotView, type StoreHealth } from '../lib/store/kafscale-store.ts'
import { defineTool, observedAt, READ_ONLY, toolPlugin, type ToolContext } from '../index.ts'

const description = 'Diagnose the cluster: a plain-language diagnosis and structured findings with severity. It checks ' +
  'etcd reachability and the metadata snapshot (partition leaders that are not brokers, duplicate topic ids), each ' +
  'broker\'s S3 health and metrics reachability, partitions holding records or committed offsets without a live lease holder ' +
  '(idle partitions need none: KafScale takes leases on first use), groups with members but no live coordinator lease, groups ' +
  'with committed offsets but no members, consumers judged stopped, stalled, falling behind or rewound from their recent commits (consumer_lag\'s status; lag over a threshold only when `lag_threshold` is given), etcd keys whose values cannot be read, and the ' +
  'operator\'s etcd backup staleness when its metrics are configured. Use it first when asked whether the cluster is healthy.'

type Finding = ClusterHealthOutput['findings'][number]
const MAX_SUBJECTS = 20
const RANK = { critical: 0, warning: 1, info: 2 }

function finding (severity: Finding['severity'], code: string, summary: string, subjects: string[]): Finding {
  return { severity, code, summary, subjects: subjects.slice(0, MAX_SUBJECTS), count: subjects.length }
}

export default toolPlugin(defineTool({
  name: 'cluster_health',
  title: 'Cluster health',
  description,
  input: ClusterHealthInput,
  output: ClusterHealthOutput,
  annotations: { ...READ_ONLY, openWorldHint: true },
  async handler ({ lag_threshold: lagThreshold }, ctx) {
    const store = ctx.require('store')
    // etcd down since the start leaves no snapshot to check: that is the diagnosis.
    if (store.loadedView() === undefined) await store.reload()
    const view = store.loadedView()
    if (view === undefined) return withoutSnapshot(store.health())
    const findings: Finding[] = []
    const checked: string[] = ['etcd', 'snapshot']
    findings.push(...snapshotFindings(view))

    const [groups, leases, lag, metrics, operator, topicKeys] = await Promise.allSettled([
      store.listGroups(),
      store.leases(),
      computeLag(store, {}),
      ctx.brokerMetrics?.collect(view.snapshot.brokers),
      ctx.operatorMetrics?.scrape(),
      store.topicKeys()
    ])
    // The reads above just tried etcd, so its state is the present one. Checks that could not
    // reach etcd belong to one ETCD_DISCONNECTED finding; any other failure is its own.
    const cutOff: string[] = []
    const unavailable = (check: string, result: PromiseRejectedResult): Finding[] => {
      if (isEtcdUnreachable(result.reason)) {
        cutOff.push(check)
        return []
      }
      return [finding('warning', 'CHECK_UNAVAILABLE', `the ${check} check could not read its data: ${(result.reason as Error).message}`, [check])]
    }

    if (metrics.status === 'fulfilled' && metrics.value !== undefined) {
      checked.push('broker-metrics')
      findings.push(...metricsFindings(metrics.value))
    } else if (metrics.status === 'rejected') {
      checked.push('broker-metrics')
      findings.push(finding('warning', 'BROKER_METRICS_UNREACHABLE', `no broker metrics could be read: ${(metrics.reason as Error).message}`, ['brokers']))
    }
    if (leases.status === 'fulfilled' && topicKeys.status === 'fulfilled') {
      checked.push('partition-leases')
      const committed = lag.status === 'fulfilled' ? committedPartitions(lag.value.rows.map((r) => r.row)) : new Map<string, string[]>()
      findings.push(...partitionLeaseFindings(view, leases.value.partitions, topicKeys.value.logEnds, committed))
    } else findings.push(...unavailable('partition-leases', leases.status === 'rejected' ? leases : topicKeys as PromiseRejectedResult))
    if (groups.status === 'fulfilled') {
      checked.push('consumer-groups')
      if (leases.status === 'fulfilled') {
        checked.push('group-leases')
        const orphaned = groups.value.groups.filter((g) => g.memberCount > 0 && !leases.value.groups.has(g.groupId)).map((g) => g.groupId)
        if (orphaned.length > 0) findings.push(finding('warning', 'GROUP_WITHOUT_COORDINATOR', `${orphaned.length} group(s) have members but no live coordinator lease: no broker is coordinating them`, orphaned))
      }
      const memberless = groups.value.groups.filter((g) => g.memberCount === 0).map((g) => g.groupId)
      if (memberless.length > 0) findings.push(finding('warning', 'GROUP_WITHOUT_MEMBERS', `${memberless.length} group(s) have committed offsets but no members: stopped or abandoned consumers`, memberless))
    } else findings.push(...unavailable('consumer-groups', groups))
    if (lag.status === 'fulfilled') {
      checked.push('consumer-lag')
      findings.push(...lagFindings(lag.value, lagThreshold))
    } else findings.push(...unavailable('consumer-lag', lag))
    if (groups.status === 'fulfilled' && lag.status === 'fulfilled' && topicKeys.status === 'fulfilled') {
      checked.push('stored-values')
      findings.push(...keyFindings([...groups.value.problems, ...lag.value.problems, ...topicKeys.value.problems]))
    }
    if (ctx.operatorMetrics !== undefined) {
      checked.push('etcd-backups')
      findings.push(...operatorFindings(operator))
    }

    findings.push(...etcdFindings(store.health(), cutOff))

    findings.sort((a, b) => RANK[a.severity] - RANK[b.severity])
    const status = statusOf(findings)
    const groupCount = groups.status === 'fulfilled' ? groups.value.groups.length : undefined
    return { status, diagnosis: diagnose(status, findings, view, ctx, groupCount, metrics), findings, checked, observed_at: observedAt() }
  }
}))

function statusOf (findings: Finding[]): ClusterHealthOutput['status'] {
  return findings.some((f) => f.severity === 'critical') ? 'critical' : findings.some((f) => f.severity === 'warning') ? 'degraded' : 'healthy'
}

/** No snapshot has been read since the start: only etcd's own state can be reported. */
function withoutSnapshot (health: StoreHealth): ClusterHealthOutput {
  const findings = health.connected
    ? [finding('critical', 'SNAPSHOT_UNREADABLE', `${health.snapshotError ?? 'the metadata snapshot could not be read'}; no other check can run without it`, [SNAPSHOT_KEY])]
    : [finding('critical', 'ETCD_DISCONNECTED', `etcd does not answer (${health.connectionError ?? 'no answer yet'}); no metadata snapshot has been read since the start, so no other check can run`, ['etcd'])]
  return { status: 'critical', diagnosis: describeProblems('critical', findings), findings, checked: ['etcd', 'snapshot'], observed_at: observedAt() }
}

function etcdFindings (health: StoreHealth, cutOff: string[]): Finding[] {
  if (!health.connected || cutOff.length > 0) {
    const since = health.since !== undefined && !health.connected ? ` since ${health.since}` : ''
    const skipped = cutOff.length > 0 ? `; the ${cutOff.join(', ')} check(s) could not run` : ''
    return [finding('critical', 'ETCD_DISCONNECTED', `etcd does not answer${since} (${health.connectionError ?? 'reads failed during this check'}): answers use the snapshot cached at ${health.snapshotLoadedAt ?? 'start'}${skipped}`, ['etcd', ...cutOff])]
  }
  if (health.snapshotError !== undefined) return [finding('warning', 'SNAPSHOT_UNREADABLE', `${health.snapshotError}; answers use the previous snapshot`, [SNAPSHOT_KEY])]
  return []
}

function snapshotFindings ({ snapshot }: SnapshotView): Finding[] {
  const out: Finding[] = []
  const brokerIds = new Set(snapshot.brokers.map((b) => b.nodeId))
  if (snapshot.brokers.length === 0) out.push(finding('critical', 'NO_BROKERS', 'the cluster metadata lists no brokers', ['/kafscale/metadata/snapshot']))
  const strayLeaders = snapshot.topics.flatMap((t) => t.partitions.filter((p) => !brokerIds.has(p.leader)).map((p) => `${t.name}/${p.partition} (leader ${p.leader})`))
  if (snapshot.brokers.length > 0 && strayLeaders.length > 0) out.push(finding('critical', 'LEADER_NOT_A_BROKER', `${strayLeaders.length} partition(s) name a leader that is not a broker of the cluster`, strayLeaders))
  const byId = new Map<string, string[]>()
  for (const t of snapshot.topics) {
    const id = Buffer.from(t.topicId).toString('hex')
    byId.set(id, [...(byId.get(id) ?? []), t.name])
  }
  const duplicates = [...byId.values()].filter((names) => names.length > 1).map((names) => names.join(' = '))
  if (duplicates.length > 0) out.push(finding('warning', 'DUPLICATE_TOPIC_ID', `${duplicates.length} topic id(s) are shared by several topics`, duplicates))
  const errored = snapshot.topics.filter((t) => t.errorCode !== 0).map((t) => `${t.name} (error ${t.errorCode})`)
  if (errored.length > 0) out.push(finding('warning', 'TOPIC_ERROR', `${errored.length} topic(s) carry an error code in the metadata`, errored))
  return out
}

function metricsFindings (metrics: ClusterMetrics): Finding[] {
  const out: Finding[] = []
  const label = (nodeId: number, host: string): string => `broker ${nodeId} (${host})`
  const failed = metrics.brokers.filter((b) => b.error !== undefined)
  if (failed.length > 0) out.push(finding('warning', 'BROKER_METRICS_UNREACHABLE', `${failed.length} broker(s) did not serve metrics`, failed.map((b) => `${label(b.target.nodeId, b.target.host)}: ${b.error!.message}`)))
  const perBroker = metrics.brokers.filter((b) => b.scrape !== undefined)
  const inState = (state: string): string[] => metrics.source === 'per-broker'
    ? perBroker.filter((b) => b.scrape!.summary.s3State === state).map((b) => label(b.target.nodeId, b.target.host))
    : metrics.aggregate.s3State === state ? ['brokers (one metrics URL)'] : []
  const unavailable = inState('unavailable')
  if (unavailable.length > 0) out.push(finding('critical', 'S3_UNAVAILABLE', `${unavailable.length} broker(s) see S3 as unavailable: produce and fetch fail`, unavailable))
  const degraded = inState('degraded')
  if (degraded.length > 0) out.push(finding('warning', 'S3_DEGRADED', `${degraded.length} broker(s) see S3 as degraded: slow or failing requests`, degraded))
  return out
}

/** The groups that committed an offset, by `topic/partition`. */
function committedPartitions (rows: ReadonlyArray<{ group_id: string, topic: string, partition: number, committed_offset: number | null }>): Map<string, string[]> {
  const byPartition = new Map<string, string[]>()
  for (const row of rows) {
    if (row.committed_offset === null) continue
    const key = `${row.topic}/${row.partition}`
    byPartition.set(key, [...(byPartition.get(key) ?? []), row.group_id])
  }
  return byPartition
}

// KafScale takes a partition's lease on its first produce and keeps it while the broker lives, so
// an idle partition without one is normal. A missing lease matters where the partition is in
// use: it holds records (next_offset > 0) or a group committed offsets on it.
function partitionLeaseFindings ({ snapshot }: SnapshotView, leases: Map<string, string>, logEnds: Map<string, bigint>, committed: Map<string, string[]>): Finding[] {
  const out: Finding[] = []
  const brokerIds = new Set(snapshot.brokers.map((b) => String(b.nodeId)))
  const unowned: string[] = []
  for (const t of snapshot.topics) {
    for (const p of t.partitions) {
      const key = `${t.name}/${p.partition}`
      if (leases.has(key)) continue
      const end = logEnds.get(key) ?? 0n
      const groups = committed.get(key) ?? []
      const uses = [...(end > 0n ? [`next_offset ${end}`] : []), ...(groups.length > 0 ? [`committed by ${groups.join(', ')}`] : [])]
      if (uses.length > 0) unowned.push(`${key} (${uses.join('; ')})`)
    }
  }
  if (unowned.length > 0) out.push(finding('warning', 'PARTITIONS_WITHOUT_LEASE', `${unowned.length} partition(s) holding records or committed offsets have no live lease holder: no broker owns them now (the owner stopped or restarted; the next produce takes the lease)`, unowned))
  const stranger = [...leases].filter(([, holder]) => !brokerIds.has(holder)).map(([partition, holder]) => `${partition} (held by ${holder})`)
  if (stranger.length > 0) out.push(finding('warning', 'LEASE_HOLDER_UNKNOWN', `${stranger.length} partition lease(s) are held by a broker id the metadata does not list`, stranger))
  return out
}

// Statuses worth a finding, and what each means for an operator; rewinds are often deliberate (an offset reset).
const LAG_FINDINGS: Array<[LagStatus, Finding['severity'], string, string]> = [
  ['stopped', 'warning', 'CONSUMER_STOPPED', 'have not committed for longer than their recent commits span while messages wait: the consumer stopped'],
  ['stalled', 'warning', 'CONSUMER_STALLED', 'keep committing one offset while messages wait: the consumer is stuck'],
  ['falling_behind', 'warning', 'CONSUMER_FALLING_BEHIND', 'lag more at every commit while consuming: the topic is produced faster than it is consumed'],
  ['rewind', 'info', 'CONSUMER_REWIND', 'had a committed offset go back (an offset reset or a restart from older offsets): messages are read again']
]

/** Consumers judged by their behaviour (lib/lag-status.ts); a lag threshold only when the caller asks for one. */
function lagFindings (report: LagReport, lagThreshold: number | undefined): Finding[] {
  const out: Finding[] = []
  const judged = judgeLag(report)
  for (const [status, severity, code, meaning] of LAG_FINDINGS) {
    const partitions = [...judged.rows].filter(([, j]) => j.judgement.status === status).map(([row]) => `${row.group_id}: ${row.topic}/${row.partition}`)
    const groups = new Set([...judged.groups].filter(([, g]) => g.status_counts[status] !== undefined).map(([id]) => id))
    if (partitions.length > 0) out.push(finding(severity, code, `${partitions.length} partition(s) of ${groups.size} group(s) ${meaning}; consumer_lag shows the evidence`, partitions))
  }
  if (lagThreshold !== undefined) {
    const behind = report.groups.filter((g) => g.max_lag > lagThreshold)
    if (behind.length > 0) out.push(finding('warning', 'CONSUMER_LAG_HIGH', `${behind.length} group(s) lag more than ${lagThreshold} records on a partition`, behind.map((g) => `${g.group_id} (max lag ${g.max_lag})`)))
  }
  return out
}

function keyFindings (problems: KeyProblem[]): Finding[] {
  const seen = new Map(problems.map((p) => [p.key, p]))
  const out: Finding[] = []
  const corrupt = [...seen.values()].filter((p) => p.code === 'KSMCP_ERR_CORRUPT_VALUE').map((p) => p.reason)
  if (corrupt.length > 0) out.push(finding('warning', 'CORRUPT_KEYS', `${corrupt.length} etcd key(s) hold values that do not decode: the groups, offsets, log ends or configs they store are left out of answers`, corrupt))
  const ambiguous = [...seen.values()].filter((p) => p.code === 'KSMCP_ERR_AMBIGUOUS_KEY').map((p) => p.reason)
  if (ambiguous.length > 0) out.push(finding('warning', 'AMBIGUOUS_KEYS', `${ambiguous.length} consumer offset key(s) read as more than one group or topic (names containing "/offsets/"): they are left out of answers`, ambiguous))
  return out
}

function operatorFindings (operator: PromiseSettledResult<Awaited<ReturnType<NonNullable<ToolContext['operatorMetrics']>['scrape']>> | undefined>): Finding[] {
  if (operator.status === 'rejected') return [finding('warning', 'OPERATOR_METRICS_UNREACHABLE', `the operator's metrics could not be read: ${(operator.reason as Error).message}`, ['operator'])]
  const summary = operator.value?.summary
  if (summary === undefined) return []
  const out: Finding[] = []
  if (summary.stale >= 1) out.push(finding('warning', 'ETCD_BACKUP_STALE', `the operator reports a stale etcd backup (oldest ${Math.round(summary.snapshotAgeSeconds)} s old)`, ['etcd backup']))
  if (summary.accessOk < 1) out.push(finding('warning', 'ETCD_BACKUP_BUCKET_INACCESSIBLE', 'the operator cannot reach the etcd backup bucket', ['etcd backup']))
  return out
}

function describeProblems (status: string, findings: Finding[]): string {
  return `${status === 'critical' ? 'Critical' : 'Degraded'}: ${findings.filter((f) => f.severity !== 'info').map((f) => f.summary).join('; ')}.`
}

function diagnose (status: string, findings: Finding[], { snapshot }: SnapshotView, ctx: ToolContext, groupCount: number | undefined, metrics: PromiseSettledResult<{ aggregate: { s3State: string } } | undefined>): string {
  if (status !== 'healthy') return describeProblems(status, findings)
  const partitions = snapshot.topics.reduce((n, t) => n + t.partitions.length, 0)
  const groups = groupCount !== undefined ? `${groupCount} consumer group(s)` : 'consumer groups unknown'
  const s3 = ctx.brokerMetrics !== undefined && metrics.status === 'fulfilled' && metrics.value !== undefined ? `S3 ${metrics.value.aggregate.s3State}` : 'S3 not checked (no broker metrics configured)'
  return `Healthy: ${snapshot.brokers.length} broker(s), ${snapshot.topics.length} topic(s) with ${partitions} partition(s), ${groups}; ${s3}; etcd connected; every partition in use has a live owner.`
}
