import { DescribeTopicsInput, DescribeTopicsOutput } from '../schemas/topics.ts'
import type { SnapshotTopic } from '../lib/kafscale/snapshot.ts'
import { defineTool, pagedOutput, paginate, READ_ONLY, snapshotAnswer, toolPlugin, withPrefix } from '../index.ts'

const description = 'Describe topics and their partitions: for each partition the leader broker, leader epoch, ' +
  'replica and in-sync replica broker ids, offline replicas and error code. Pass `names` to describe only ' +
  'those topics (a name not in the cluster comes back with error_code 3 and no partitions); omit it for all topics. ' +
  'Long answers come in pages: when the answer says truncated, call again with its next_cursor.'

const UNKNOWN_TOPIC_OR_PARTITION = 3

export default toolPlugin(defineTool({
  name: 'describe_topics',
  title: 'Describe topics',
  description,
  input: DescribeTopicsInput,
  output: DescribeTopicsOutput,
  annotations: READ_ONLY,
  async handler ({ names, prefix, limit, cursor }, ctx) {
    const view = ctx.require('store').snapshotView()
    return snapshotAnswer(view, `describe_topics ${JSON.stringify([names, prefix, limit, cursor, ctx.maxResponseChars])}`, () => {
      const { sortedTopics, topicsByName } = view
      const request = { limit, cursor, maxChars: ctx.maxResponseChars }
      if (names === undefined || names === null || names.length === 0) {
        const page = paginate(withPrefix(sortedTopics, prefix, (t) => t.name), (t) => t.name, describeTopic, request)
        return pagedOutput({ topics: page.items, ...page.more }, 'topics', page)
      }
      // Requested names, duplicates kept as the reference keeps them; the index keeps keys unique.
      const requested = withPrefix([...names].sort(), prefix, (n) => n).map((name, i) => ({ name, key: `${name}\u0000${String(i).padStart(6, '0')}` }))
      const page = paginate(requested, (r) => r.key, ({ name }) => {
        const topic = topicsByName.get(name)
        return topic === undefined ? { name, error_code: UNKNOWN_TOPIC_OR_PARTITION, partitions: [] } : describeTopic(topic)
      }, request)
      return pagedOutput({ topics: page.items, ...page.more }, 'topics', page)
    })
  }
}))

function describeTopic (t: SnapshotTopic): DescribeTopicsOutput['topics'][number] {
  return {
    name: t.name,
    error_code: t.errorCode,
    partitions: t.partitions.map((p) => ({
      partition: p.partition,
      leader_id: p.leader,
      leader_epoch: p.leaderEpoch,
      replica_nodes: p.replicas,
      isr_nodes: p.isr,
      offline_replicas: p.offlineReplicas,
      error_code: p.errorCode
    }))
  }
}
