import type { FastifyInstance } from 'fastify'
import { DescribeConfigsInput, DescribeConfigsOutput } from '../schemas/topics.ts'
import { defineTool } from '../lib/tool.ts'
import { rfc3339 } from '../lib/kafscale/offsets.ts'
import { pagedOutput, paginate, withPrefix } from '../lib/paging.ts'
import { READ_ONLY } from './read-only.ts'

const description = 'Describe topic configurations: partitions, replication factor, retention (ms and bytes), ' +
  'segment size, creation time and extra config entries. `source` says whether the config is stored in etcd or ' +
  'is KafScale\'s default for a topic without one (retention -1 = unlimited). Pass `topics` for specific topics; ' +
  'omit it for all (or narrow by `prefix`). An unknown topic comes back with exists: false. Long answers come in pages (truncated, next_cursor).'

// Configs are read in one round trip per page; a page never needs more than this many.
const MAX_CONFIGS_PER_READ = 1000

export default async function describeConfigsTool (app: FastifyInstance): Promise<void> {
  app.tools.add(defineTool({
    name: 'describe_configs',
    title: 'Describe topic configs',
    description,
    input: DescribeConfigsInput,
    output: DescribeConfigsOutput,
    annotations: READ_ONLY,
    async handler ({ topics, prefix, limit, cursor }, ctx) {
      const store = ctx.store()
      const { sortedTopics, topicsByName } = store.snapshotView()
      const all = topics === undefined || topics === null || topics.length === 0 ? sortedTopics.map((t) => t.name) : [...new Set(topics)].sort()
      // Read only what one page can hold: the names after the cursor, up to the limit.
      const window = paginate(withPrefix(all, prefix, (n) => n), (n) => n, (n) => n, { limit: limit ?? MAX_CONFIGS_PER_READ, cursor, maxChars: Number.MAX_SAFE_INTEGER })
      const configs = await store.topicConfigs(window.items)
      const now = rfc3339(new Date())
      const page = paginate(configs, ({ name }) => name, ({ name, stored }): DescribeConfigsOutput['configs'][number] => {
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
          const topic = topicsByName.get(name)
          if (topic === undefined || topic.errorCode !== 0) {
            return { name, exists: false, source: 'missing', partitions: 0, replication_factor: 0, retention_ms: 0, retention_bytes: 0, segment_bytes: 0, created_at: '', config: {} }
          }
          // KafScale's defaultTopicConfigFromTopic, including its quirk: the replication
          // factor is the partition count (contract §4).
          const count = topic.partitions.length
          return { name, exists: true, source: 'default', partitions: count, replication_factor: count, retention_ms: -1, retention_bytes: -1, segment_bytes: 0, created_at: now, config: {} }
        }, { maxChars: ctx.maxResponseChars })
      return pagedOutput({ configs: page.items, ...(page.more ?? window.more) }, 'configs', page)
    }
  }))
}
