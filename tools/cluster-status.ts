import { ClusterStatusInput, ClusterStatusOutput } from '../schemas/cluster.ts'
import { topicSummary } from './topic-summary.ts'
import { defineTool, observedAt, pagedOutput, paginate, READ_ONLY, snapshotAnswer, toolPlugin } from '../index.ts'

const description = 'Summarize the KafScale cluster: cluster name and id, the brokers (node id, host, port), ' +
  'the topics with their partition counts, the S3 health seen by the broker metrics, and whether etcd answers. ' +
  'A cluster with many topics lists the first ones by name and says in topics_omitted how many more there are: ' +
  'page through all of them with list_topics. ' +
  'Use it first to get an overview, then drill down with describe_topics, list_groups or cluster_metrics.'

export default toolPlugin(defineTool({
  name: 'cluster_status',
  title: 'Cluster status',
  description,
  input: ClusterStatusInput,
  output: ClusterStatusOutput,
  annotations: READ_ONLY,
  async handler (_input, ctx) {
    const store = ctx.require('store')
    const view = store.snapshotView()
    const { snapshot, sortedTopics } = view
    // The cached snapshot alone cannot tell a hung etcd from a quiet one: ask it now.
    await store.probe()
    const health = store.health()
    const etcdError = health.connectionError ?? health.snapshotError
    const s3 = { state: '', latency_ms: 0 }
    if (ctx.brokerMetrics !== undefined) {
      // As in the reference, a failed scrape leaves s3 empty rather than failing the status.
      try {
        const { aggregate } = await ctx.brokerMetrics.collect(snapshot.brokers)
        s3.state = aggregate.s3State
        s3.latency_ms = aggregate.s3LatencyMs
      } catch (err) {
        ctx.log.debug({ err: (err as Error).message }, 'cluster_status: metrics unavailable')
      }
    }
    const head = {
      ...(snapshot.clusterName !== null && snapshot.clusterName !== '' ? { cluster_name: snapshot.clusterName } : {}),
      ...(snapshot.clusterId !== null && snapshot.clusterId !== '' ? { cluster_id: snapshot.clusterId } : {}),
      controller_id: snapshot.controllerId,
      brokers: snapshot.brokers.map((b) => ({ node_id: b.nodeId, host: b.host, port: b.port }))
    }
    const tail = {
      s3,
      etcd: {
        state: health.connected ? 'connected' as const : 'disconnected' as const,
        ...(health.since !== undefined ? { since: health.since } : {}),
        ...(health.snapshotLoadedAt !== undefined ? { snapshot_loaded_at: health.snapshotLoadedAt } : {}),
        ...(etcdError !== undefined ? { error: etcdError } : {})
      },
      observed_at: observedAt()
    }
    // The topic list is what grows with the cluster: it gets what the rest leaves of the cap.
    // The rest changes from call to call (etcd's state, the time); the list only with the snapshot.
    const reservedChars = JSON.stringify({ ...head, ...tail, topics_omitted: sortedTopics.length }).length
    const page = snapshotAnswer(view, `cluster_status topics ${reservedChars} ${ctx.maxResponseChars}`,
      () => paginate(sortedTopics, (t) => t.name, topicSummary, { maxChars: ctx.maxResponseChars, reservedChars }),
      (p) => p.json.reduce((sum, item) => sum + item.length + 1, 0))
    const omitted = sortedTopics.length - page.items.length
    return pagedOutput({ ...head, topics: page.items, ...(omitted > 0 ? { topics_omitted: omitted } : {}), ...tail }, 'topics', page)
  }
}))
