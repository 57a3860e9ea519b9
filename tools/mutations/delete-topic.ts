import { Type } from 'typebox'
import type { Finding, MutationSpec } from '../../core/mutation.ts'
import { GroupId, TopicName } from '../../schemas/common.ts'
import type { MutationDeps } from './deps.ts'
import { nestedTopics } from './names.ts'

const properties = {
  topic: TopicName,
  also_delete: Type.Optional(Type.Array(Type.Union([TopicName, GroupId]), {
    maxItems: 1000,
    description: 'every other topic and group the plan says this delete takes with it, by name: required when there are any (the broker will not warn)'
  }))
}

const description = 'Delete a topic and its data through the brokers\' Kafka admin API. The dry run shows the partitions that go, ' +
  'the consumer groups whose committed offsets for it are lost, and — on KafScale — what the broker deletes besides: it deletes the whole ' +
  'etcd prefix of the topic (so topic "a" takes every topic "a/…" with it) and every offset key containing "/offsets/<topic>/" (so a group ' +
  'whose id contains that loses its offsets). When there is such collateral, the apply is refused unless `also_delete` names each of those ' +
  'topics and groups.'

const SHOWN_GROUPS = 100

interface State {
  flavor: 'kafscale' | 'kafka'
  partitions: number | undefined
  nested: Array<{ name: string, partitions: number }>
  /** Groups with committed offsets on the topic (or a nested one), from etcd. */
  committedGroups: string[]
  /** Groups whose id makes the broker's offset cleanup take their keys. */
  collateralGroups: string[]
  etcd: boolean
}

const spec: MutationSpec<typeof properties, State, MutationDeps> = {
  name: 'delete_topic',
  title: 'Delete a topic',
  description,
  properties,
  destructive: true,
  idempotent: false,
  resource: ({ topic }) => `topic:${topic}`,
  async read ({ topic }, { admin, store }) {
    const [flavor, topics] = await Promise.all([admin.flavor(), admin.listTopics()])
    const partitionsOf = new Map([...topics].map(([name, t]) => [name, t.partitions]))
    for (const t of store?.snapshotView().sortedTopics ?? []) if (!partitionsOf.has(t.name)) partitionsOf.set(t.name, t.partitions.length)
    const nested = flavor === 'kafscale' ? nestedTopics(topic, partitionsOf.keys()).map((name) => ({ name, partitions: partitionsOf.get(name)! })) : []
    const committedGroups = new Set<string>()
    const collateralGroups = new Set<string>()
    if (store !== undefined) {
      const fragment = `/offsets/${topic}/`
      const doomed = new Set([topic, ...nested.map((n) => n.name)])
      const [{ groups: offsets, problems }, { groups }] = await Promise.all([store.allGroupOffsets(), store.listGroups()])
      for (const group of offsets) {
        if ([...group.offsets.values()].some((o) => doomed.has(o.topic))) committedGroups.add(group.groupId)
      }
      // Keys that read several ways are left out of the group lists; the broker's substring match takes them all the same.
      const readings = problems.filter((p) => p.key.includes(fragment)).flatMap((p) => groupReadings(p.key))
      for (const id of [...groups.map((g) => g.groupId), ...offsets.map((g) => g.groupId), ...readings]) if (`/${id}/`.includes(fragment)) collateralGroups.add(id)
    }
    return { flavor, partitions: topics.get(topic)?.partitions, nested, committedGroups: [...committedGroups].sort(), collateralGroups: [...collateralGroups].sort(), etcd: store !== undefined }
  },
  plan ({ topic, also_delete: acknowledged }, state) {
    const findings: Finding[] = []
    if (state.partitions === undefined) findings.push({ level: 'error', code: 'TOPIC_NOT_FOUND', message: `topic ${JSON.stringify(topic)} does not exist` })
    const collateral = [...state.nested.map((n) => n.name), ...state.collateralGroups].sort()
    const given = [...new Set(acknowledged ?? [])].sort()
    if (collateral.length > 0 && given.join('\u0000') !== collateral.join('\u0000')) {
      findings.push({ level: 'error', code: 'COLLATERAL_NOT_ACKNOWLEDGED', message: `on KafScale deleting ${JSON.stringify(topic)} also deletes ${collateral.map((n) => JSON.stringify(n)).join(', ')}; if that is intended, plan again with also_delete: ${JSON.stringify(collateral)}` })
    } else if (collateral.length === 0 && given.length > 0) {
      findings.push({ level: 'error', code: 'NOTHING_ELSE_DELETED', message: `also_delete names ${given.map((n) => JSON.stringify(n)).join(', ')}, but this delete takes nothing else with it: leave also_delete out` })
    }
    if (state.committedGroups.length > 0) findings.push({ level: 'warning', code: 'COMMITTED_OFFSETS_LOST', message: `${state.committedGroups.length} consumer group(s) lose their committed offsets for it: ${state.committedGroups.slice(0, 10).join(', ')}${state.committedGroups.length > 10 ? ', …' : ''}` })
    if (!state.etcd) findings.push({ level: 'warning', code: 'ETCD_NOT_CHECKED', message: 'no etcd configured: committed offsets and KafScale\'s prefix deletes were not checked' })
    const partitions = (state.partitions ?? 0) + state.nested.reduce((sum, n) => sum + n.partitions, 0)
    return {
      before: {
        topic: { name: topic, exists: state.partitions !== undefined, partitions: state.partitions ?? 0 },
        nested_topics: state.nested,
        groups_with_offsets: state.committedGroups.slice(0, SHOWN_GROUPS),
        groups_with_offsets_count: state.committedGroups.length,
        collateral_groups: state.collateralGroups
      },
      after: {
        topic: { name: topic, exists: false, partitions: 0 },
        nested_topics: [],
        groups_with_offsets: [],
        groups_with_offsets_count: 0,
        collateral_groups: []
      },
      findings,
      impact: {
        summary: `deletes topic ${JSON.stringify(topic)} (${state.partitions ?? 0} partitions) and its data${state.nested.length > 0 ? `, and ${state.nested.length} nested topic(s)` : ''}; ${state.committedGroups.length} group(s) lose committed offsets`,
        partitions_deleted: partitions,
        topics_deleted: 1 + state.nested.length,
        groups_losing_offsets: state.committedGroups.length
      }
    }
  },
  async apply ({ topic }, _state, { admin }) {
    await admin.deleteTopic(topic)
    return { error_code: 0 }
  },
  visible: (_args, state) => state.partitions === undefined
}

const CONSUMERS = '/kafscale/consumers/'
const OFFSETS = '/offsets/'

/** Every group id an offset key `/kafscale/consumers/<g>/offsets/<t>/<p>` can be read as. */
function groupReadings (key: string): string[] {
  if (!key.startsWith(CONSUMERS)) return []
  const rest = key.slice(CONSUMERS.length, key.lastIndexOf('/'))
  const groups: string[] = []
  for (let at = rest.indexOf(OFFSETS); at !== -1; at = rest.indexOf(OFFSETS, at + 1)) groups.push(rest.slice(0, at))
  return groups
}

export default spec
