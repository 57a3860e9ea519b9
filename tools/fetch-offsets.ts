import { FetchOffsetsInput, FetchOffsetsOutput } from '../schemas/groups.ts'
import { compareStrings } from '../lib/store/kafscale-store.ts'
import { keyErrors, keyErrorsChars } from './key-errors.ts'
import { defineTool, pagedOutput, paginate, READ_ONLY, toolPlugin, withPrefix } from '../index.ts'

const description = 'Fetch a consumer group\'s committed offsets, per topic partition, sorted by topic and partition. ' +
  'Every partition of the group\'s topics is listed; `committed: false` (with offset 0) marks a partition the group ' +
  'never committed. Pass `topics` (or a topic `prefix`) to limit the answer; a topic named twice is answered once. ' +
  'A group id that does not exist gives an error. An offset record that cannot be read is left out and its key listed in `errors`. ' +
  'Long answers come in pages (truncated, next_cursor).'

export default toolPlugin(defineTool({
  name: 'fetch_offsets',
  title: 'Fetch committed offsets',
  description,
  input: FetchOffsetsInput,
  output: FetchOffsetsOutput,
  annotations: READ_ONLY,
  async handler ({ group_id: groupId, topics, prefix, limit, cursor }, ctx) {
    const store = ctx.require('store')
    const { topicsByName } = store.snapshotView()
    const { group: { offsets: committed }, problems } = await store.groupOffsets(groupId)
    const wanted = topics === undefined || topics === null || topics.length === 0 ? undefined : new Set(topics)
    const rows = new Map<string, FetchOffsetsOutput['offsets'][number]>()
    // Every partition of every topic the group committed to (or was asked about), so that
    // partitions it never committed show up too, as the reference lists them.
    const topicNames = wanted ?? new Set([...committed.values()].map((c) => c.topic))
    for (const name of topicNames) {
      for (const p of topicsByName.get(name)?.partitions ?? []) {
        rows.set(`${name}/${p.partition}`, { topic: name, partition: p.partition, offset: 0, metadata: '', committed: false })
      }
    }
    for (const [key, { topic, partition, record }] of committed) {
      if (wanted !== undefined && !wanted.has(topic)) continue
      rows.set(key, { topic, partition, offset: Number(record.offset), metadata: record.metadata, committed: true, committed_at: record.committedAt })
    }
    const sorted = withPrefix([...rows.values()], prefix, (r) => r.topic).map((row) => ({ row, key: `${row.topic}\u0000${String(row.partition).padStart(10, '0')}` }))
      .sort((a, b) => compareStrings(a.key, b.key))
    const errors = keyErrors(problems)
    const page = paginate(sorted, (r) => r.key, (r) => r.row, { limit, cursor, maxChars: ctx.maxResponseChars, reservedChars: 200 + keyErrorsChars(errors) })
    return pagedOutput({ group_id: groupId, offsets: page.items, ...errors, ...page.more }, 'offsets', page)
  }
}))
