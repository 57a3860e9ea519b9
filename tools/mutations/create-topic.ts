import { Type } from 'typebox'
import type { Finding, MutationSpec } from '../../core/mutation.ts'
import { TopicName } from '../../schemas/common.ts'
import type { MutationDeps } from './deps.ts'
import { enclosingTopics, nestedTopics, topicNameFindings } from './names.ts'

const properties = {
  topic: TopicName,
  partitions: Type.Integer({ minimum: 1, maximum: 100_000, description: 'number of partitions' }),
  replication_factor: Type.Optional(Type.Integer({ minimum: 1, maximum: 32, description: 'replicas per partition (default: the broker\'s default; KafScale keeps data in S3 and ignores it)' }))
}

const description = 'Create a topic through the brokers\' Kafka admin API. The dry run checks the name against what the broker ' +
  'accepts, that the topic does not exist yet, and that the replication factor is possible with the brokers there are; it names topics ' +
  'whose etcd keys nest with this one ("a" and "a/b": deleting "a" on KafScale deletes "a/b" too). Topic configs are not set here ' +
  '(KafScale ignores configs sent with CreateTopics): use update_topic_config after.'

interface State {
  flavor: 'kafscale' | 'kafka'
  brokers: number
  existing: { partitions: number, replicationFactor: number } | undefined
  names: string[]
}

const spec: MutationSpec<typeof properties, State, MutationDeps> = {
  name: 'create_topic',
  title: 'Create a topic',
  description,
  properties,
  destructive: false,
  idempotent: false,
  resource: ({ topic }) => `topic:${topic}`,
  async read (_args, { admin, store }) {
    const [flavor, topics, brokers] = await Promise.all([admin.flavor(), admin.listTopics(), admin.brokers()])
    const names = new Set(topics.keys())
    for (const t of store?.snapshotView().sortedTopics ?? []) names.add(t.name)
    return { flavor, brokers: brokers.length, existing: topics.get(_args.topic), names: [...names].sort() }
  },
  plan ({ topic, partitions, replication_factor: rf }, state) {
    const findings: Finding[] = topicNameFindings(topic, state.flavor, state.names)
    if (state.existing !== undefined) findings.push({ level: 'error', code: 'TOPIC_EXISTS', message: `topic ${JSON.stringify(topic)} exists already (${state.existing.partitions} partitions): use create_partitions to add partitions` })
    if (rf !== undefined && state.flavor === 'kafka' && rf > state.brokers) findings.push({ level: 'error', code: 'REPLICATION_FACTOR_TOO_HIGH', message: `replication factor ${rf} needs ${rf} brokers; the cluster has ${state.brokers}` })
    if (rf !== undefined && state.flavor === 'kafscale') findings.push({ level: 'info', code: 'REPLICATION_IN_S3', message: 'KafScale keeps partition data in S3; the replication factor is recorded but does not add copies' })
    const nested = nestedTopics(topic, state.names)
    const enclosing = enclosingTopics(topic, state.names)
    if (state.flavor === 'kafscale' && nested.length > 0) findings.push({ level: 'warning', code: 'NESTED_TOPICS', message: `deleting ${JSON.stringify(topic)} later would delete these topics too (their etcd keys lie under its prefix): ${nested.join(', ')}` })
    if (state.flavor === 'kafscale' && enclosing.length > 0) findings.push({ level: 'warning', code: 'ENCLOSED_BY_TOPIC', message: `deleting ${enclosing.map((n) => JSON.stringify(n)).join(' or ')} would delete this topic too (its etcd keys lie under that prefix)` })
    return {
      before: { topic, exists: state.existing !== undefined, ...(state.existing !== undefined ? { partitions: state.existing.partitions } : {}) },
      after: { topic, exists: true, partitions: state.existing?.partitions ?? partitions, ...(rf !== undefined ? { replication_factor: rf } : {}) },
      findings,
      impact: { summary: `creates topic ${JSON.stringify(topic)} with ${partitions} partition(s)`, partitions }
    }
  },
  async apply ({ topic, partitions, replication_factor: rf }, _state, { admin }) {
    await admin.createTopic({ topic, partitions, replicationFactor: rf ?? -1 })
    return { error_code: 0 }
  },
  visible: ({ topic, partitions }, state) => state.existing?.partitions === partitions
}

export default spec
