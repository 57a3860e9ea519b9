import type { FastifyInstance } from 'fastify'
import { DescribeGroupInput, DescribeGroupOutput } from '../schemas/groups.ts'
import { defineTool } from '../lib/tool.ts'
import { compareStrings } from '../lib/store/kafscale-store.ts'
import { READ_ONLY } from './read-only.ts'

const description = 'Describe one consumer group: state, protocol, leader member, generation, rebalance timeout, ' +
  'and each member with its last heartbeat, session timeout, subscribed topics and assigned partitions. ' +
  'Use it to see who consumes what; a group id that does not exist gives an error.'

export default async function describeGroupTool (app: FastifyInstance): Promise<void> {
  app.tools.add(defineTool({
    name: 'describe_group',
    title: 'Describe a consumer group',
    description,
    input: DescribeGroupInput,
    output: DescribeGroupOutput,
    annotations: READ_ONLY,
    async handler ({ group_id: groupId }, ctx) {
      const group = await ctx.store().describeGroup(groupId)
      return {
        group_id: group.groupId === '' ? groupId : group.groupId,
        state: group.state,
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
}
