import type { FastifyInstance } from 'fastify'
import { ListGroupsInput, ListGroupsOutput } from '../schemas/groups.ts'
import { defineTool } from '../lib/tool.ts'
import { READ_ONLY } from './read-only.ts'

const description = 'List consumer groups, sorted by id, with state, protocol type and member count. ' +
  'Groups whose members all left but whose committed offsets remain are listed with state "empty". ' +
  'Use describe_group for members and assignments, fetch_offsets for committed positions.'

export default async function listGroupsTool (app: FastifyInstance): Promise<void> {
  app.tools.add(defineTool({
    name: 'list_groups',
    title: 'List consumer groups',
    description,
    input: ListGroupsInput,
    output: ListGroupsOutput,
    annotations: READ_ONLY,
    async handler (_input, ctx) {
      const groups = await ctx.store().listGroups()
      return {
        groups: groups.map((g) => ({ group_id: g.groupId, state: g.state, protocol_type: g.protocolType, member_count: g.memberCount }))
      }
    }
  }))
}
