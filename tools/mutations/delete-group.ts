import { Type } from 'typebox'
import type { Finding, MutationSpec } from '../../core/mutation.ts'
import { GroupId } from '../../schemas/common.ts'
import type { GroupDescription } from '../../lib/kafscale/admin.ts'
import { knownGroup, type MutationDeps } from './deps.ts'

const properties = {
  group_id: GroupId,
  allow_live_members: Type.Optional(Type.Boolean({ description: 'delete the group although consumers are still in it (KafScale allows it; the human confirmation names them)' }))
}

const description = 'Delete a consumer group through the brokers\' Kafka admin API. The dry run shows its state, its live members ' +
  'and its committed offsets. On KafScale the broker deletes a group even while members are in it, and deletes only the group\'s ' +
  'metadata: its committed offsets stay (the group then lists as empty), and a group that has only offsets cannot be deleted. A group ' +
  'with live members is refused unless allow_live_members is true. Apache Kafka refuses groups with members and deletes the offsets too.'

interface State {
  flavor: 'kafscale' | 'kafka'
  group: GroupDescription | undefined
  committed: number
  /** Whether etcd holds the group's metadata key (KafScale), when etcd is configured. */
  storedMetadata: boolean | undefined
}

/** KafScale's etcd says it exactly; the admin API answers a group it does not know as Dead (or not at all). */
function hasMetadata ({ group, storedMetadata }: State): boolean {
  return storedMetadata ?? (group !== undefined && group.state.toLowerCase() !== 'dead')
}

const spec: MutationSpec<typeof properties, State, MutationDeps> = {
  name: 'delete_group',
  title: 'Delete a consumer group',
  description,
  properties,
  destructive: true,
  idempotent: false,
  resource: ({ group_id: id }) => `group:${id}`,
  async read ({ group_id: id }, { admin, store }) {
    const [flavor, group, offsets, stored] = await Promise.all([admin.flavor(), knownGroup(admin, id), admin.groupOffsets(id), storedMetadata(id, store)])
    return { flavor, group, committed: offsets.length, storedMetadata: stored }
  },
  plan ({ group_id: id, allow_live_members: allowLive }, state) {
    const { flavor, group, committed } = state
    const findings: Finding[] = []
    const members = group?.members ?? []
    const kafscale = flavor === 'kafscale'
    if (!hasMetadata(state)) {
      const onlyOffsets = committed > 0
      if (kafscale || !onlyOffsets) {
        findings.push({ level: 'error', code: 'GROUP_NOT_FOUND', message: onlyOffsets ? `group ${JSON.stringify(id)} has only committed offsets (${committed}) and no metadata: KafScale's DeleteGroups deletes only metadata and answers GROUP_ID_NOT_FOUND` : `group ${JSON.stringify(id)} does not exist` })
      }
    }
    if (members.length > 0) {
      const who = members.slice(0, 10).map((m) => `${m.clientId}@${m.clientHost}`).join(', ')
      if (!kafscale) findings.push({ level: 'error', code: 'NON_EMPTY_GROUP', message: `group ${JSON.stringify(id)} has ${members.length} live member(s) (${who}); Apache Kafka refuses to delete it until they leave` })
      else if (allowLive !== true) findings.push({ level: 'error', code: 'LIVE_MEMBERS', message: `group ${JSON.stringify(id)} has ${members.length} live member(s) (${who}); KafScale would delete it under them: stop the consumers first, or plan again with allow_live_members: true` })
      else findings.push({ level: 'warning', code: 'LIVE_MEMBERS_DELETED', message: `${members.length} live member(s) lose their group (${who}); they will rejoin and recreate it` })
    }
    if (kafscale && committed > 0) findings.push({ level: 'warning', code: 'OFFSETS_REMAIN', message: `the committed offsets of ${committed} partition(s) stay in etcd: KafScale deletes only the group's metadata, and the group then lists as empty` })
    const offsetsAfter = kafscale ? committed : 0
    return {
      before: { group_id: id, exists: hasMetadata(state), state: group?.state ?? 'none', members: members.map((m) => m.clientId).sort(), committed_partitions: committed },
      after: { group_id: id, exists: false, state: offsetsAfter > 0 ? 'empty (offsets only)' : 'none', members: [], committed_partitions: offsetsAfter },
      findings,
      impact: {
        summary: `deletes consumer group ${JSON.stringify(id)}${members.length > 0 ? ` and drops its ${members.length} live member(s)` : ''}; ${kafscale ? `its ${committed} committed offset(s) remain` : `its ${committed} committed offset(s) are deleted`}`,
        live_members: members.length,
        committed_partitions: committed,
        offsets_deleted: kafscale ? 0 : committed
      }
    }
  },
  async apply ({ group_id: id }, _state, { admin }) {
    await admin.deleteGroup(id)
    return { error_code: 0 }
  },
  visible: (_args, state) => !hasMetadata(state)
}

async function storedMetadata (groupId: string, store: MutationDeps['store']): Promise<boolean | undefined> {
  if (store === undefined) return undefined
  try {
    return (await store.describeGroup(groupId)).metadata === 'stored'
  } catch (err) {
    if ((err as { code?: string }).code === 'KSMCP_ERR_GROUP_NOT_FOUND') return false
    throw err
  }
}

export default spec
