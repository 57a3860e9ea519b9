import { DescribeGroupInput, DescribeGroupOutput } from '../schemas/groups.ts'
import { compareStrings } from '../lib/store/kafscale-store.ts'
import { keyErrors } from './key-errors.ts'
import { defineTool, READ_ONLY, toolPlugin } from '../index.ts'

const description = 'Describe one consumer group: state, protocol, leader member, generation, rebalance timeout, ' +
  'and each member with its last heartbeat, session timeout, subscribed topics and assigned partitions. ' +
  'Use it to see who consumes what. A group whose members all left has no stored metadata, only committed offsets: ' +
  'it comes back with metadata "missing", state "empty", no members and a note (use fetch_offsets for its offsets). ' +
  'A group id with neither gives an error.'

const METADATA_MISSING_NOTE = 'The group has no metadata in etcd, only committed offsets: KafScale deletes a group\'s metadata when its last ' +
  'member leaves (or on DeleteGroups) and keeps its offsets. Protocol, leader and generation are unknown; fetch_offsets and consumer_lag show the offsets.'

export default toolPlugin(defineTool({
  name: 'describe_group',
  title: 'Describe a consumer group',
  description,
  input: DescribeGroupInput,
  output: DescribeGroupOutput,
  annotations: READ_ONLY,
  async handler ({ group_id: groupId }, ctx) {
    const described = await ctx.require('store').describeGroup(groupId)
    if (described.metadata === 'missing') {
      return {
        group_id: groupId,
        state: 'empty',
        metadata: 'missing' as const,
        note: METADATA_MISSING_NOTE,
        committed_partitions: described.committedPartitions,
        members: [],
        ...keyErrors(described.problems)
      }
    }
    const { group } = described
    return {
      group_id: group.groupId === '' ? groupId : group.groupId,
      state: group.state,
      metadata: 'stored' as const,
      protocol_type: group.protocolType,
      protocol: group.protocol,
      leader: group.leader,
      generation_id: group.generationId,
      rebalance_timeout_ms: group.rebalanceTimeoutMs,
      members: Object.entries(group.members)
        .sort(([a], [b]) => compareStrings(a, b))
        .map(([memberId, m]) => ({
          member_id: memberId,
          client_id: m.clientId,
          client_host: m.clientHost,
          heartbeat_at: m.heartbeatAt,
          assignments: m.assignments.map((a) => ({ topic: a.topic, partitions: a.partitions })),
          subscriptions: m.subscriptions,
          session_timeout_ms: m.sessionTimeoutMs
        }))
    }
  }
}))
