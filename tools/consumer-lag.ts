import { ConsumerLagInput, ConsumerLagOutput } from '../schemas/lag.ts'
import { computeLag, type GroupLag } from '../lib/lag.ts'
import { keyErrors, keyErrorsChars } from './key-errors.ts'
import { defineTool, observedAt, pagedOutput, paginate, READ_ONLY, toolPlugin } from '../index.ts'

const description = 'Compute consumer lag: per partition the committed offset, the log-end offset (next_offset) and ' +
  'their difference, with totals and maxima per topic, per group and overall, most lag first. Partitions a group never ' +
  'committed are listed with lag null and a reason; negative lag (commit ahead of the log end) is shown as is. Pass ' +
  '`group_id` for one group (omit it for all groups) and `topics` or `prefix` to narrow. Use it to answer "who is behind, and by how much?". ' +
  'Offset records or log ends that cannot be read are listed in `errors`; the rest of the answer still comes. ' +
  'Long answers come in pages (truncated, next_cursor).'

export default toolPlugin(defineTool({
  name: 'consumer_lag',
  title: 'Consumer lag',
  description,
  input: ConsumerLagInput,
  output: ConsumerLagOutput,
  annotations: READ_ONLY,
  async handler ({ group_id: groupId, topics, prefix, limit, cursor }, ctx) {
    const wanted = topics === undefined || topics === null || topics.length === 0 ? undefined : new Set(topics)
    const report = await computeLag(ctx.require('store'), {
      ...(groupId !== undefined ? { groupId } : {}),
      keepTopic: (topic) => (wanted === undefined || wanted.has(topic)) && (prefix === undefined || topic.startsWith(prefix))
    })
    const { shown, omitted } = boundedGroups(report.groups, ctx.maxResponseChars / 2)
    const errors = keyErrors(report.problems)
    const page = paginate(report.rows, (r) => r.key, (r) => r.row, {
      limit, cursor, maxChars: ctx.maxResponseChars, reservedChars: JSON.stringify(shown).length + 300 + keyErrorsChars(errors)
    })
    return pagedOutput({
      ...report.overall,
      groups: shown,
      ...(omitted > 0 ? { groups_omitted: omitted } : {}),
      partitions: page.items,
      ...errors,
      ...page.more,
      observed_at: observedAt()
    }, 'partitions', page)
  }
}))

/** The groups that fit in `maxChars`, most lag first, and how many did not. */
function boundedGroups (groups: GroupLag[], maxChars: number): { shown: GroupLag[], omitted: number } {
  let used = 0
  const shown: GroupLag[] = []
  for (const g of groups) {
    used += JSON.stringify(g).length + 1
    if (shown.length > 0 && used > maxChars) break
    shown.push(g)
  }
  return { shown, omitted: groups.length - shown.length }
}
