import type { FastifyInstance } from 'fastify'
import { ListTopicsInput, ListTopicsOutput } from '../schemas/topics.ts'
import { defineTool } from '../lib/tool.ts'
import { READ_ONLY } from './read-only.ts'
import { topicSummary } from './topic-summary.ts'

const description = 'List every topic of the cluster, sorted by name, with its partition count and error code. ' +
  'Use it to find topic names; use describe_topics for partition leaders and replicas.'

export default async function listTopicsTool (app: FastifyInstance): Promise<void> {
  app.tools.add(defineTool({
    name: 'list_topics',
    title: 'List topics',
    description,
    input: ListTopicsInput,
    output: ListTopicsOutput,
    annotations: READ_ONLY,
    async handler (_input, ctx) {
      return { topics: ctx.store().snapshotView().sortedTopics.map(topicSummary) }
    }
  }))
}
