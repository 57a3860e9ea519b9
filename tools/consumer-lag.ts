import { ConsumerLagInput, ConsumerLagOutput } from '../schemas/lag.ts'
import { computeLag, judgeLag, type GroupJudgement, type GroupLag, type JudgedRow, type LagRow } from '../lib/lag.ts'
import { rfc3339Nano } from '../lib/kafscale/offsets.ts'
import type { Evidence, LagStatus, PartitionJudgement, StatusSummary } from '../lib/lag-status.ts'
import { keyErrors, keyErrorsChars } from './key-errors.ts'
import { defineTool, observedAt, pagedOutput, paginate, READ_ONLY, toolPlugin } from '../index.ts'

const description = 'Compute consumer lag: per partition the committed offset, the log-end offset (next_offset) and ' +
  'their difference, with totals and maxima per topic, per group and overall, most lag first. Partitions a group never ' +
  'committed are listed with lag null and a reason; negative lag (commit ahead of the log end) is shown as is. Pass ' +
  '`group_id` for one group (omit it for all groups) and `topics` or `prefix` to narrow. Use it to answer "who is behind, and by how much?". ' +
  'Offset records or log ends that cannot be read are listed in `errors`; the rest of the answer still comes. ' +
  'Each partition, topic and group also has a `status` judged from the window of its recent commits, not from a threshold ' +
  '(ok, falling_behind, stalled, stopped, rewind, not_committed, no_data), a `status_reason` in words, and for partitions the ' +
  '`evidence` (the commits with their lag, the log ends read, false alarms held back as `guards`; by default on the first 20 alarms of an answer, `evidence: "all"` for every partition); consumption and production ' +
  'rates in messages/s and `catch_up_seconds` (null with a reason when the consumer is not faster or the window is too short). ' +
  'The history is this replica\'s memory (`lag_window`): after a restart it is empty and says no_data rather than guess. ' +
  'Long answers come in pages (truncated, next_cursor).'

export default toolPlugin(defineTool({
  name: 'consumer_lag',
  title: 'Consumer lag',
  description,
  input: ConsumerLagInput,
  output: ConsumerLagOutput,
  annotations: READ_ONLY,
  async handler ({ group_id: groupId, topics, prefix, limit, cursor, evidence = 'alarms' }, ctx) {
    const wanted = topics === undefined || topics === null || topics.length === 0 ? undefined : new Set(topics)
    const report = await computeLag(ctx.require('store'), {
      ...(groupId !== undefined ? { groupId } : {}),
      keepTopic: (topic) => (wanted === undefined || wanted.has(topic)) && (prefix === undefined || topic.startsWith(prefix))
    })
    const judged = judgeLag(report)
    const groups = report.groups.map((g) => withGroupStatus(g, judged.groups.get(g.group_id)!))
    const { shown, omitted } = boundedGroups(groups, ctx.maxResponseChars / 2)
    const errors = keyErrors(report.problems)
    let evidenceLeft = evidence === 'alarms' ? EVIDENCE_PER_ANSWER : Infinity
    const render = (row: LagRow): ReturnType<typeof withPartitionStatus> => {
      const j = judged.rows.get(row)!
      const show = evidence === 'all' || (evidence === 'alarms' && ALARMS.has(j.judgement.status) && evidenceLeft-- > 0)
      return withPartitionStatus(row, j, show)
    }
    const page = paginate(report.rows, (r) => r.key, (r) => render(r.row), {
      limit, cursor, maxChars: ctx.maxResponseChars, reservedChars: JSON.stringify(shown).length + 300 + keyErrorsChars(errors)
    })
    return pagedOutput({
      ...report.overall,
      groups: shown,
      ...(omitted > 0 ? { groups_omitted: omitted } : {}),
      partitions: page.items,
      ...evidenceOmitted(page.items, evidence),
      status_counts: judged.overall.status_counts,
      lag_window: {
        commits: report.observation.history.commits,
        span_seconds: report.observation.history.spanMs / 1000,
        history_since: rfc3339Nano(new Date(report.observation.history.since)),
        commits_from: report.observation.commitsFrom
      },
      ...errors,
      ...page.more,
      observed_at: observedAt()
    }, 'partitions', page)
  }
}))

type JudgedGroup = Omit<GroupLag, 'topics'> & Omit<GroupJudgement, 'topics'> & { topics: Array<GroupLag['topics'][number] & StatusSummary> }

function withGroupStatus (group: GroupLag, judged: GroupJudgement): JudgedGroup {
  const { topics, ...status } = judged
  return { ...group, topics: group.topics.map((t) => ({ ...t, ...topics.get(t.topic)! })), ...status }
}

// Evidence is most of a partition's answer (about a kilobyte): by default it comes where an
// agent has something to check, an alarm (an alarm held back is said in status_reason), and for
// the first alarms of an answer only: a whole group stopped needs a few examples, not thousands.
const ALARMS = new Set<LagStatus>(['stopped', 'stalled', 'falling_behind', 'rewind'])
const EVIDENCE_PER_ANSWER = 20

function evidenceOmitted (items: ReadonlyArray<{ status: LagStatus, evidence?: Evidence }>, mode: 'alarms' | 'all' | 'none'): { evidence_omitted?: number } {
  if (mode !== 'alarms') return {}
  const omitted = items.filter((p) => ALARMS.has(p.status) && p.evidence === undefined).length
  return omitted > 0 ? { evidence_omitted: omitted } : {}
}

function withPartitionStatus (row: LagRow, { judgement, evidence }: JudgedRow, show: boolean): LagRow & Omit<PartitionJudgement, 'guards'> & { evidence?: Evidence } {
  const { status, status_reason: reason, consumption_rate: consumption, production_rate: production, rate_reason: rateReason, catch_up_seconds: catchUp, catch_up_reason: catchUpReason } = judgement
  return {
    ...row,
    status,
    status_reason: reason,
    consumption_rate: consumption,
    production_rate: production,
    ...(rateReason !== undefined ? { rate_reason: rateReason } : {}),
    catch_up_seconds: catchUp,
    ...(catchUpReason !== undefined ? { catch_up_reason: catchUpReason } : {}),
    ...(show ? { evidence: evidence() } : {})
  }
}

/** The groups that fit in `maxChars`, most lag first, and how many did not. */
function boundedGroups<G> (groups: G[], maxChars: number): { shown: G[], omitted: number } {
  let used = 0
  const shown: G[] = []
  for (const g of groups) {
    used += JSON.stringify(g).length + 1
    if (shown.length > 0 && used > maxChars) break
    shown.push(g)
  }
  return { shown, omitted: groups.length - shown.length }
}
