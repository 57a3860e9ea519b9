import { ListTopicsInput, ListTopicsOutput } from '../schemas/topics.ts'
import { topicSummary } from './topic-summary.ts'
import { defineTool, pagedOutput, paginate, READ_ONLY, snapshotAnswer, toolPlugin, withPrefix } from '../index.ts'

const description = 'List every topic of the cluster, sorted by name, with its partition count and error code. ' +
  'Use it to find topic names; use describe_topics for partition leaders and replicas. Long lists come in pages: ' +
  'when the answer says truncated, call again with its next_cursor. `prefix` narrows by name.'

export default toolPlugin(defineTool({
  name: 'list_topics',
  title: 'List topics',
  description,
  input: ListTopicsInput,
  output: ListTopicsOutput,
  annotations: READ_ONLY,
  async handler ({ prefix, limit, cursor }, ctx) {
    const view = ctx.require('store').snapshotView()
    return snapshotAnswer(view, `list_topics ${JSON.stringify([prefix, limit, cursor, ctx.maxResponseChars])}`, () => {
      const page = paginate(withPrefix(view.sortedTopics, prefix, (t) => t.name), (t) => t.name, topicSummary, { limit, cursor, maxChars: ctx.maxResponseChars })
      return pagedOutput({ topics: page.items, ...page.more }, 'topics', page)
    })
  }
}))
