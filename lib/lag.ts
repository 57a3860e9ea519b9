import { groupOffsetKey, nextOffsetKey } from './kafscale/keys.ts'
import type { GroupOffsets, LagObservation, MetadataReader, SnapshotView } from './store/kafscale-store.ts'
import { compareStrings, type KeyProblem } from './store/key-problems.ts'
import { evidenceOf, groupEstimates, judgePartition, summarizeStatuses, type Estimates, type Evidence, type PartitionFacts, type PartitionJudgement, type StatusSummary } from './lag-status.ts'

// Consumer lag as the broker's lag sampler defines it (contract §3.4), but not clamped and
// with partitions the group never committed kept apart.

export interface LagRow {
  group_id: string
  topic: string
  partition: number
  committed_offset: number | null
  log_end_offset: number
  lag: number | null
  reason?: string
}

export interface LagTotals {
  total_lag: number
  max_lag: number
  partition_count: number
  uncommitted_partitions: number
}

export interface GroupLag extends LagTotals {
  group_id: string
  topics: Array<LagTotals & { topic: string }>
}

export interface LagReport {
  /** Most lag first, never-committed last; `key` orders the same way as plain strings. */
  rows: Array<{ row: LagRow, key: string }>
  overall: LagTotals
  /** Most total lag first. */
  groups: GroupLag[]
  /** Offset records and log ends that could not be read: their partitions are left out or marked. */
  problems: KeyProblem[]
  /** The lag history this read was recorded into, to judge the rows by (judgeLag). */
  observation: LagObservation
}

const INT64_MAX = (1n << 63n) - 1n

/** Lag of one group or all: one range for the offsets, one range per topic for the log ends. */
export async function computeLag (store: MetadataReader, options: { groupId?: string, keepTopic?: (topic: string) => boolean }): Promise<LagReport> {
  const { topicsByName } = store.snapshotView()
  const committed = options.groupId !== undefined ? await oneGroup(store, options.groupId) : await store.allGroupOffsets()
  const groupTopics = committed.groups.map((group) => ({ group, topics: committedTopics(group, options.keepTopic) }))
  const { offsets: logEnds, problems: logEndProblems } = await store.nextOffsets(groupTopics.flatMap((g) => g.topics))
  return lagReport({ groupTopics, logEnds, problems: [...committed.problems, ...logEndProblems], topicsByName, observation: store.lagObservation(options.groupId !== undefined ? [options.groupId] : undefined) })
}

/** The topics a group committed on, in the order of its offsets, those kept. */
export function committedTopics (group: GroupOffsets, keep: (topic: string) => boolean = () => true): string[] {
  return [...new Set([...group.offsets.values()].map((o) => o.topic))].filter(keep)
}

export interface LagInputs {
  groupTopics: ReadonlyArray<{ group: GroupOffsets, topics: readonly string[] }>
  logEnds: ReadonlyMap<string, ReadonlyMap<number, bigint>>
  /** Offset records and log ends that could not be read. */
  problems: readonly KeyProblem[]
  topicsByName: SnapshotView['topicsByName']
  observation: LagObservation
  /**
   * Why a partition missing from `logEnds` has no lag; undefined: it has no next_offset in etcd,
   * which means 0 (nothing flushed to S3 yet).
   */
  logEndMissing?: string
}

/** The lag report of offsets and log ends in hand: no request. */
export function lagReport ({ groupTopics, logEnds, problems, topicsByName, observation, logEndMissing }: LagInputs): LagReport {
  const unreadable = new Set(problems.map((p) => p.key))
  const rows: LagReport['rows'] = []
  for (const { group, topics } of groupTopics) {
    const committedByTopic = partitionsByTopic(group)
    for (const topic of topics) {
      const ends = logEnds.get(topic) ?? new Map<number, bigint>()
      const known = topicsByName.get(topic)
      const committedHere = committedByTopic.get(topic) ?? []
      for (const partition of new Set([...(known?.partitions.map((p) => p.partition) ?? []), ...committedHere])) {
        const committedOffset = group.offsets.get(`${topic}/${partition}`)?.record.offset
        const end = ends.get(partition)
        const logEnd = end ?? 0n
        const commitUnreadable = committedOffset === undefined && unreadable.has(groupOffsetKey(group.groupId, topic, partition))
        const endUnreadable = end === undefined && unreadable.has(nextOffsetKey(topic, partition))
        const endUnknown = endUnreadable || (end === undefined && logEndMissing !== undefined)
        const lag = committedOffset === undefined || endUnknown ? null : logEnd - committedOffset
        const reason = commitUnreadable
          ? 'committed offset unreadable (see errors)'
          : committedOffset === undefined
            ? 'never committed'
            : endUnreadable
              ? 'next_offset unreadable (see errors)'
              : endUnknown
                ? logEndMissing
                : known === undefined
                  ? 'topic not in the cluster metadata (deleted?)'
                  : end === undefined
                    ? 'no next_offset in etcd: nothing flushed to S3 yet'
                    : lag! < 0n ? 'committed offset is ahead of the log end' : undefined
        const row: LagRow = {
          group_id: group.groupId,
          topic,
          partition,
          committed_offset: committedOffset === undefined ? null : Number(committedOffset),
          log_end_offset: Number(logEnd),
          lag: lag === null ? null : Number(lag),
          ...(reason !== undefined ? { reason } : {})
        }
        const rank = lag === null ? '2' : `1${(INT64_MAX - lag).toString().padStart(20, '0')}`
        rows.push({ row, key: `${rank}\u0000${group.groupId}\u0000${topic}\u0000${String(partition).padStart(10, '0')}` })
      }
    }
  }
  rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  return { rows, ...summarize(rows.map((r) => r.row)), problems: [...problems].sort((a, b) => compareStrings(a.key, b.key)), observation }
}

/** A group's committed partitions by topic, in the order of its offsets: one pass, not one per topic. */
function partitionsByTopic (group: GroupOffsets): Map<string, number[]> {
  const out = new Map<string, number[]>()
  for (const { topic, partition } of group.offsets.values()) {
    const partitions = out.get(topic)
    if (partitions === undefined) out.set(topic, [partition])
    else partitions.push(partition)
  }
  return out
}

async function oneGroup (store: MetadataReader, groupId: string): Promise<{ groups: GroupOffsets[], problems: KeyProblem[] }> {
  const { group, problems } = await store.groupOffsets(groupId)
  return { groups: [group], problems }
}

function emptyTotals (): LagTotals {
  return { total_lag: 0, max_lag: 0, partition_count: 0, uncommitted_partitions: 0 }
}

function add (t: LagTotals, row: LagRow): void {
  t.partition_count++
  if (row.committed_offset === null) t.uncommitted_partitions++
  if (row.lag === null) return
  t.total_lag += row.lag
  t.max_lag = Math.max(t.max_lag, row.lag)
}

function summarize (rows: LagRow[]): { overall: LagTotals, groups: GroupLag[] } {
  const overall = emptyTotals()
  const groups = new Map<string, { totals: LagTotals, topics: Map<string, LagTotals> }>()
  for (const row of rows) {
    add(overall, row)
    let g = groups.get(row.group_id)
    if (g === undefined) groups.set(row.group_id, g = { totals: emptyTotals(), topics: new Map() })
    add(g.totals, row)
    let t = g.topics.get(row.topic)
    if (t === undefined) g.topics.set(row.topic, t = emptyTotals())
    add(t, row)
  }
  const byLag = <T extends { total_lag: number }>(a: T, b: T): number => b.total_lag - a.total_lag
  return {
    overall,
    groups: [...groups].map(([id, g]) => ({ group_id: id, ...g.totals, topics: [...g.topics].map(([topic, t]) => ({ topic, ...t })).sort(byLag) })).sort(byLag)
  }
}

export interface JudgedRow {
  judgement: PartitionJudgement
  /** The window and log ends the judgement read, rendered on demand: only a page's rows show them. */
  evidence: () => Evidence
}

export type GroupJudgement = StatusSummary & Estimates & { topics: Map<string, StatusSummary> }

export interface LagJudgement {
  rows: Map<LagRow, JudgedRow>
  groups: Map<string, GroupJudgement>
  overall: StatusSummary
}

/** Every row of a lag report judged by the history it was recorded into (lib/lag-status.ts). */
export function judgeLag (report: LagReport): LagJudgement {
  const { now, history } = report.observation
  const settings = { commits: history.commits, spanMs: history.spanMs, since: history.since, full: history.full() }
  const rows = new Map<LagRow, JudgedRow>()
  const byGroup = new Map<string, Map<string, Array<{ row: LagRow, lag: number | null, judgement: PartitionJudgement }>>>()
  const labelOf = ({ row }: { row: LagRow }): string => `${row.topic}/${row.partition}`
  for (const { row } of report.rows) {
    const facts: PartitionFacts = {
      committedOffset: row.committed_offset,
      lag: row.lag,
      ...(row.reason !== undefined && row.lag === null ? { lagReason: row.reason } : {}),
      commits: history.commitWindow(row.group_id, row.topic, row.partition),
      logEnds: history.logEndObservations(row.topic, row.partition),
      groupState: history.groupState(row.group_id)
    }
    const judgement = judgePartition(facts, settings, now)
    rows.set(row, { judgement, evidence: () => evidenceOf(facts, judgement) })
    let topics = byGroup.get(row.group_id)
    if (topics === undefined) byGroup.set(row.group_id, topics = new Map())
    let parts = topics.get(row.topic)
    if (parts === undefined) topics.set(row.topic, parts = [])
    parts.push({ row, lag: row.lag, judgement })
  }
  const groups = new Map<string, GroupJudgement>()
  for (const [groupId, topics] of byGroup) {
    const all = [...topics.values()].flat()
    groups.set(groupId, { ...summarizeStatuses(all, labelOf), ...groupEstimates(all, labelOf), topics: new Map([...topics].map(([topic, parts]) => [topic, summarizeStatuses(parts, labelOf)])) })
  }
  const everyRow = [...rows].map(([row, { judgement }]) => ({ row, judgement }))
  return { rows, groups, overall: summarizeStatuses(everyRow, ({ row }) => `${row.group_id}: ${row.topic}/${row.partition}`) }
}
