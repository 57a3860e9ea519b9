import { Type } from 'typebox'
import type { Finding, MutationSpec } from '../../core/mutation.ts'
import { TopicName } from '../../schemas/common.ts'
import type { TopicConfigEntry } from '../../lib/kafscale/admin.ts'
import type { MutationDeps } from './deps.ts'

const ConfigKey = Type.String({ minLength: 1, maxLength: 249, pattern: '^[a-z0-9._-]+$', description: 'a topic config key, e.g. retention.ms' })

const properties = {
  topic: TopicName,
  set: Type.Optional(Type.Record(ConfigKey, Type.String({ maxLength: 1000 }), { maxProperties: 50, description: 'config keys to set, with their new values as strings, e.g. {"retention.ms": "86400000"}' })),
  reset: Type.Optional(Type.Array(ConfigKey, { maxItems: 50, description: 'config keys to return to their defaults' }))
}

const description = 'Change a topic\'s configuration through the brokers\' Kafka admin API (AlterConfigs). Only the keys named in ' +
  '`set` and `reset` change: the plan reads the topic\'s current settings and sends the full merged set, so no other setting is reset. ' +
  'KafScale brokers accept only retention.ms, retention.bytes and segment.bytes; the dry run refuses other keys there. Values are strings; ' +
  'retention.ms and retention.bytes take -1 for unlimited.'

/** The topic configs KafScale's AlterConfigs stores; it answers INVALID_CONFIG for any other. */
export const KAFSCALE_CONFIG_KEYS = ['retention.ms', 'retention.bytes', 'segment.bytes']
const NUMERIC = new Set(KAFSCALE_CONFIG_KEYS)

interface State {
  flavor: 'kafscale' | 'kafka'
  exists: boolean
  entries: TopicConfigEntry[]
}

/** The topic's own settings: what a full AlterConfigs must send back to keep them. */
function ownSettings ({ flavor, entries }: State): Record<string, string> {
  const own: Record<string, string> = {}
  for (const entry of entries) {
    if (entry.value === null || entry.readOnly) continue
    // KafScale stores these three for every topic and answers them as they are.
    if (flavor === 'kafscale' ? NUMERIC.has(entry.name) : entry.source === 'topic') own[entry.name] = entry.value
  }
  return own
}

function merged (state: State, set: Record<string, string>, reset: string[]): Record<string, string> {
  const next = { ...ownSettings(state), ...set }
  for (const key of reset) delete next[key]
  return Object.fromEntries(Object.keys(next).sort().map((k) => [k, next[k]!]))
}

const spec: MutationSpec<typeof properties, State, MutationDeps> = {
  name: 'update_topic_config',
  title: 'Change topic configuration',
  description,
  properties,
  destructive: false,
  idempotent: true,
  resource: ({ topic }) => `topic:${topic}`,
  async read ({ topic }, { admin }) {
    const [flavor, topics] = await Promise.all([admin.flavor(), admin.listTopics()])
    // DescribeConfigs only for a topic known to exist: nothing here may name an unchecked topic.
    const exists = topics.has(topic)
    return { flavor, exists, entries: exists ? await admin.describeTopicConfig(topic) : [] }
  },
  plan ({ topic, set = {}, reset = [] }, state) {
    const findings: Finding[] = []
    const known = new Map(state.entries.map((e) => [e.name, e]))
    if (!state.exists) findings.push({ level: 'error', code: 'TOPIC_NOT_FOUND', message: `topic ${JSON.stringify(topic)} does not exist` })
    const keys = [...Object.keys(set), ...reset]
    if (keys.length === 0) findings.push({ level: 'error', code: 'NOTHING_TO_CHANGE', message: 'name at least one key in set or reset' })
    for (const key of reset) if (Object.hasOwn(set, key)) findings.push({ level: 'error', code: 'SET_AND_RESET', message: `${key} is both set and reset` })
    for (const key of keys) {
      if (state.flavor === 'kafscale' && !NUMERIC.has(key)) findings.push({ level: 'error', code: 'UNSUPPORTED_CONFIG', message: `KafScale accepts only ${KAFSCALE_CONFIG_KEYS.join(', ')}; ${key} cannot be set` })
      else if (state.exists && known.get(key)?.readOnly === true) findings.push({ level: 'error', code: 'READ_ONLY_CONFIG', message: `${key} is read-only on this broker` })
    }
    if (state.flavor === 'kafscale' && reset.length > 0) findings.push({ level: 'error', code: 'RESET_UNSUPPORTED', message: 'KafScale keeps a value for each of its three keys and has no reset: set the value wanted instead' })
    for (const [key, value] of Object.entries(set)) {
      if (NUMERIC.has(key) && !/^-?\d+$/.test(value)) findings.push({ level: 'error', code: 'INVALID_CONFIG_VALUE', message: `${key} takes a whole number (-1 for unlimited), not ${JSON.stringify(value)}` })
    }
    const before = ownSettings(state)
    const after = merged(state, set, reset)
    return {
      before: { topic, exists: state.exists, config: before },
      after: { topic, exists: state.exists, config: after },
      findings,
      impact: { summary: `changes ${keys.length} setting(s) of topic ${JSON.stringify(topic)}; ${Object.keys(after).length} setting(s) are sent in all so that none is reset`, keys_changed: keys.length }
    }
  },
  async apply ({ set = {}, reset = [], topic }, state, { admin }) {
    const sent = merged(state, set, reset)
    await admin.alterTopicConfig(topic, sent)
    return { error_code: 0, sent }
  },
  visible: ({ set = {}, reset = [] }, state) => {
    const now = ownSettings(state)
    return Object.entries(set).every(([k, v]) => now[k] === v) && reset.every((k) => !Object.hasOwn(now, k))
  }
}

export default spec
