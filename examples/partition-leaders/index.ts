import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { ToolDefinition } from '../../lib/tool.ts'

// An example tool plugin, loaded with KAFSCALE_MCP_PLUGINS=./examples/partition-leaders/index.ts.
// A plugin is a module whose default export is a Fastify plugin that adds tools to app.tools;
// its handler reads data through ctx.store() (and ctx.metrics()), never etcd directly.

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

const partitionLeaders: ToolDefinition<typeof Input, typeof Output> = {
  name: 'partition_leaders',
  title: 'Partition leadership per broker',
  description: 'Count, for each broker, the partitions it leads according to the cluster metadata, and list ' +
    'partitions whose leader is not a known broker. Use it to spot leadership skew or a broker missing from the metadata.',
  input: Input,
  output: Output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler ({ topic_prefix: prefix = '' }, ctx) {
    const { snapshot, sortedTopics } = ctx.store().snapshotView()
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
}

export default async function partitionLeadersPlugin (app: FastifyInstance): Promise<void> {
  app.tools.add(partitionLeaders)
}
