import { ListGroupsInput, ListGroupsOutput } from '../schemas/groups.ts'
import { keyErrors, keyErrorsChars } from './key-errors.ts'
import { defineTool, pagedOutput, paginate, READ_ONLY, toolPlugin, withPrefix } from '../index.ts'

const description = 'List consumer groups, sorted by id, with state, protocol type and member count. ' +
  'Groups whose members all left but whose committed offsets remain are listed with state "empty". ' +
  'Use describe_group for members and assignments, fetch_offsets for committed positions. `prefix` narrows by group id; ' +
  'long lists come in pages (truncated, next_cursor). A group whose stored metadata cannot be read is left out and its key listed in `errors`.'

export default toolPlugin(defineTool({
  name: 'list_groups',
  title: 'List consumer groups',
  description,
  input: ListGroupsInput,
  output: ListGroupsOutput,
  annotations: READ_ONLY,
  async handler ({ prefix, limit, cursor }, ctx) {
    const { groups, problems } = await ctx.require('store').listGroups()
    const errors = keyErrors(problems)
    const page = paginate(withPrefix(groups, prefix, (g) => g.groupId), (g) => g.groupId, (g) => ({ group_id: g.groupId, state: g.state, protocol_type: g.protocolType, member_count: g.memberCount }),
      { limit, cursor, maxChars: ctx.maxResponseChars, reservedChars: 200 + keyErrorsChars(errors) })
    return pagedOutput({ groups: page.items, ...errors, ...page.more }, 'groups', page)
  }
}))
