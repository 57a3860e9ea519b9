import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { defineTool, failureReply, READ_ONLY, requestCaller, toolPlugin } from 'kafscale-mcp'

// An example tool plugin, loaded with KAFSCALE_MCP_PLUGINS=./examples/partition-leaders/index.ts.
// Its handler reads the cluster through ctx (ctx.require('store')), never etcd directly.

const Input = Type.Object({
  topic_prefix: Type.Optional(Type.String({ maxLength: 249, description: 'Only count topics whose name starts with this' }))
}, { additionalProperties: false })

const Output = Type.Object({
  brokers: Type.Array(Type.Object({
    node_id: Type.Integer(),
    host: Type.String(),
    leader_partitions: Type.Integer({ description: 'partitions this broker leads (nominally: the snapshot leader)' })
  })),
  orphaned_partitions: Type.Array(Type.Object({ topic: Type.String(), partition: Type.Integer(), leader_id: Type.Integer() }), {
    description: 'partitions whose leader is not a broker of the cluster'
  })
})

const partitionLeaders = toolPlugin(defineTool({
  name: 'partition_leaders',
  title: 'Partition leadership per broker',
  description: 'Count, for each broker, the partitions it leads according to the cluster metadata, and list ' +
    'partitions whose leader is not a known broker. Use it to spot leadership skew or a broker missing from the metadata.',
  input: Input,
  output: Output,
  annotations: READ_ONLY,
  async handler ({ topic_prefix: prefix = '' }, ctx) {
    const { snapshot, sortedTopics } = ctx.require('store').snapshotView()
    const counts = new Map(snapshot.brokers.map((b) => [b.nodeId, 0]))
    const orphaned: Array<{ topic: string, partition: number, leader_id: number }> = []
    for (const topic of sortedTopics) {
      if (!topic.name.startsWith(prefix)) continue
      for (const p of topic.partitions) {
        const count = counts.get(p.leader)
        if (count === undefined) orphaned.push({ topic: topic.name, partition: p.partition, leader_id: p.leader })
        else counts.set(p.leader, count + 1)
      }
    }
    return {
      brokers: snapshot.brokers.map((b) => ({ node_id: b.nodeId, host: b.host, leader_partitions: counts.get(b.nodeId) ?? 0 })),
      orphaned_partitions: orphaned
    }
  }
}))

// A plugin may add routes of its own. The service registers plugins inside its gated scope, so
// this one needs a token like /mcp; it answers through app.tools, so the policy and audit apply.
export default async function partitionLeadersPlugin (app: FastifyInstance): Promise<void> {
  await app.register(partitionLeaders)
  app.get('/api/v1/partition-leaders', async (request, reply) => {
    const outcome = await app.tools.call('partition_leaders', {}, { caller: requestCaller(request, 'rest') })
    if (outcome.ok) return outcome.output
    const { statusCode, body, wwwAuthenticate } = failureReply(outcome.error, app.resourceMetadataUrl)
    if (wwwAuthenticate !== undefined) void reply.header('www-authenticate', wwwAuthenticate)
    return await reply.code(statusCode).send(body)
  })
}
