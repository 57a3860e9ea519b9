import { DescribeConfigsInput, DescribeConfigsOutput } from '../schemas/topics.ts'
import { rfc3339 } from '../lib/kafscale/offsets.ts'
import type { StoredTopicConfig } from '../lib/store/kafscale-store.ts'
import type { SnapshotTopic } from '../lib/kafscale/snapshot.ts'
import { keyErrors, keyErrorsChars } from './key-errors.ts'
import { defineTool, pagedOutput, paginate, READ_ONLY, toolPlugin, withPrefix } from '../index.ts'

const description = 'Describe topic configurations: partitions, replication factor, retention (ms and bytes), ' +
  'segment size, creation time and extra config entries. `source` says whether the config is stored in etcd or ' +
  'is KafScale\'s default for a topic without one (retention -1 = unlimited). Pass `topics` for specific topics (answered ' +
  'once per entry, sorted by name, as the reference does); omit it for all (or narrow by `prefix`). An unknown topic comes back with ' +
  'exists: false; a stored config that cannot be read is left out and its key listed in `errors`. Long answers come in pages (truncated, next_cursor).'

// Configs are read in one round trip per page; a page never needs more than this many.
const MAX_CONFIGS_PER_READ = 1000

type ConfigRow = DescribeConfigsOutput['configs'][number]

export default toolPlugin(defineTool({
  name: 'describe_configs',
  title: 'Describe topic configs',
  description,
  input: DescribeConfigsInput,
  output: DescribeConfigsOutput,
  annotations: READ_ONLY,
  async handler ({ topics, prefix, limit, cursor }, ctx) {
    const store = ctx.require('store')
    const { sortedTopics, topicsByName } = store.snapshotView()
    const names = topics === undefined || topics === null || topics.length === 0 ? sortedTopics.map((t) => t.name) : [...topics].sort()
    // Each entry keeps its place, so a repeated name is answered each time and pages stay exact.
    const entries = withPrefix(names, prefix, (n) => n).map((name, i) => ({ name, key: `${name}\u0000${String(i).padStart(6, '0')}` }))
    // Read only what one page can hold: the entries after the cursor, up to the limit.
    const window = paginate(entries, (e) => e.key, (e) => e, { limit: limit ?? MAX_CONFIGS_PER_READ, cursor, maxChars: Number.MAX_SAFE_INTEGER })
    const { configs, problems } = await store.topicConfigs([...new Set(window.items.map((e) => e.name))])
    const read = new Map(configs.map((c) => [c.name, c]))
    const now = rfc3339(new Date())
    const errors = keyErrors(problems)
    const page = paginate(window.items.filter((e) => read.has(e.name)), (e) => e.key, (e) => describeConfig(read.get(e.name)!, topicsByName.get(e.name), now),
      { maxChars: ctx.maxResponseChars, reservedChars: 200 + keyErrorsChars(errors) })
    return pagedOutput({ configs: page.items, ...errors, ...(page.more ?? window.more) }, 'configs', page)
  }
}))

function describeConfig ({ name, stored }: StoredTopicConfig, topic: SnapshotTopic | undefined, now: string): ConfigRow {
  if (stored !== undefined) {
    return {
      name: stored.name === '' ? name : stored.name,
      exists: true,
      source: 'stored',
      partitions: stored.partitions,
      replication_factor: stored.replicationFactor,
      retention_ms: Number(stored.retentionMs),
      retention_bytes: Number(stored.retentionBytes),
      segment_bytes: Number(stored.segmentBytes),
      created_at: stored.createdAt,
      config: stored.config
    }
  }
  if (topic === undefined || topic.errorCode !== 0) {
    return { name, exists: false, source: 'missing', partitions: 0, replication_factor: 0, retention_ms: 0, retention_bytes: 0, segment_bytes: 0, created_at: '', config: {} }
  }
  // KafScale's defaultTopicConfigFromTopic, including its quirk: the replication factor is
  // the partition count (contract §4).
  const count = topic.partitions.length
  return { name, exists: true, source: 'default', partitions: count, replication_factor: count, retention_ms: -1, retention_bytes: -1, segment_bytes: 0, created_at: now, config: {} }
}
