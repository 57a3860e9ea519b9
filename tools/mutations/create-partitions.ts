import { Type } from 'typebox'
import type { Finding, MutationSpec } from '../../core/mutation.ts'
import { TopicName } from '../../schemas/common.ts'
import type { MutationDeps } from './deps.ts'

const properties = {
  topic: TopicName,
  count: Type.Integer({ minimum: 1, maximum: 100_000, description: 'the topic\'s new total number of partitions (partitions only grow)' })
}

const description = 'Grow a topic to `count` partitions in all, through the brokers\' Kafka admin API. The dry run shows the ' +
  'partition count now and after; partitions can only be added, never removed. Keyed messages map to other partitions once the count changes.'

interface State {
  partitions: number | undefined
}

const spec: MutationSpec<typeof properties, State, MutationDeps> = {
  name: 'create_partitions',
  title: 'Add partitions to a topic',
  description,
  properties,
  destructive: false,
  idempotent: true,
  resource: ({ topic }) => `topic:${topic}`,
  async read ({ topic }, { admin }) {
    return { partitions: (await admin.listTopics()).get(topic)?.partitions }
  },
  plan ({ topic, count }, { partitions }) {
    const findings: Finding[] = []
    if (partitions === undefined) findings.push({ level: 'error', code: 'TOPIC_NOT_FOUND', message: `topic ${JSON.stringify(topic)} does not exist: use create_topic` })
    else if (count <= partitions) findings.push({ level: 'error', code: 'PARTITIONS_ONLY_GROW', message: `topic ${JSON.stringify(topic)} has ${partitions} partitions; the new count must be larger (partitions cannot be removed)` })
    else findings.push({ level: 'warning', code: 'KEYS_REMAP', message: 'messages with a key will go to other partitions than before: ordering per key holds only for messages produced after the change' })
    return {
      before: { topic, exists: partitions !== undefined, partition_count: partitions ?? 0 },
      after: { topic, exists: partitions !== undefined, partition_count: Math.max(count, partitions ?? 0) },
      findings,
      impact: { summary: `grows topic ${JSON.stringify(topic)} from ${partitions ?? 0} to ${count} partitions`, partitions_added: Math.max(count - (partitions ?? 0), 0) }
    }
  },
  async apply ({ topic, count }, _state, { admin }) {
    await admin.createPartitions(topic, count)
    return { error_code: 0 }
  },
  visible: ({ count }, { partitions }) => partitions === count
}

export default spec
