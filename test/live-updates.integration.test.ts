import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { Client, SSEClientTransport, type McpSubscription } from '@modelcontextprotocol/client'
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { startIdp, type TestIdp } from './helpers/idp.ts'
import { seedCluster, ORDERS_CONFIG } from './helpers/kafscale-data.ts'
import { encoded, snapshotWith } from './helpers/cluster-builder.ts'
import { connectClient, startServer, type RunningServer } from './helpers/server.ts'
import { eventually } from './helpers/wait.ts'
import { SNAPSHOT_KEY, groupMetadataKey, groupOffsetKey, topicConfigKey } from '../lib/kafscale/keys.ts'
import { decodeTopicConfig, encodeConsumerGroup, encodeTopicConfig, type ConsumerGroup } from '../lib/kafscale/messages.ts'
import { CLUSTER_URI, groupUri, topicConfigUri, topicUri } from '../transports/resource-uris.ts'

// Live updates with real SDK clients on a real port, against a real etcd written the way
// KafScale writes it: a 2026-07-28 client listens (subscriptions/listen), a 2025-era client
// subscribes on an HTTP+SSE session. Waits poll for the notification with a generous bound;
// nothing asserts how long it took. "Nothing was told" is asserted only after a later
// notification on the same stream, which the earlier one would have preceded.

const RESOURCE = 'https://mcp.example.test/mcp'
const dir = mkdtempSync(join(tmpdir(), 'kafscale-live-'))
const policyPath = join(dir, 'policy.yaml')
// bob sees the cluster and the groups, not the topics.
writeFileSync(policyPath, `
roles:
  observer: { tools: ["@observe"] }
  groups-only: { tools: [cluster_status, list_groups, describe_group, consumer_lag] }
bindings:
  - { name: observers, subjects: [alice, carol], roles: [observer] }
  - { name: bob, subjects: [bob], roles: [groups-only] }
`)
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

let etcd: EtcdProcess
let idp: TestIdp
let server: RunningServer
const topics: Array<[string, number]> = []
const now = (): number => Math.floor(Date.now() / 1000)
const tokenFor = async (sub: string): Promise<Record<string, string>> => ({
  authorization: `Bearer ${await idp.sign({ iss: idp.issuer, aud: RESOURCE, sub, iat: now(), exp: now() + 600, scope: 'kafscale:observe', client_id: 'live-tests' })}`
})
const putTopics = async (...added: Array<[string, number]>): Promise<void> => {
  for (const [name, partitions] of added) {
    const at = topics.findIndex(([n]) => n === name)
    if (at >= 0) topics[at] = [name, partitions]
    else topics.push([name, partitions])
  }
  await etcd.client.put(SNAPSHOT_KEY).value(encoded(snapshotWith(topics)))
}
const group = (groupId: string, heartbeatAt: string, generationId = 1): Buffer => Buffer.from(encodeConsumerGroup({
  groupId,
  state: 'stable',
  protocolType: 'consumer',
  protocol: 'range',
  leader: 'm-1',
  generationId,
  rebalanceTimeoutMs: 300000,
  members: { 'm-1': { clientId: 'm-1', clientHost: '/10.0.0.1', heartbeatAt, assignments: [{ topic: 'orders', partitions: [0] }], subscriptions: ['orders'], sessionTimeoutMs: 45000 } }
} satisfies ConsumerGroup))
const listeners = async (): Promise<number> => {
  const text = await (await fetch(`${server.base}/metrics`)).text()
  return Number(/^kafscale_mcp_live_listeners (\d+)$/m.exec(text)?.[1])
}
const feed = (): NonNullable<RunningServer['app']['changeFeed']> => server.app.changeFeed!

/** What a client was told, in order. */
interface Heard { updated: string[], listChanged: number }
function hear (client: Client): Heard {
  const heard: Heard = { updated: [], listChanged: 0 }
  client.setNotificationHandler('notifications/resources/updated', (n) => { heard.updated.push(n.params.uri) })
  client.setNotificationHandler('notifications/resources/list_changed', () => { heard.listChanged++ })
  return heard
}
const told = async (heard: Heard, uri: string, times = 1): Promise<boolean> =>
  await eventually(async () => heard.updated.filter((u) => u === uri).length >= times, 10_000, 20)

async function connectSse (headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'kafscale-live-tests', version: '1.0.0' })
  await client.connect(new SSEClientTransport(new URL(`${server.base}/sse`), {
    requestInit: { headers },
    eventSourceInit: { fetch: async (url, init) => await fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) }
  }))
  return client
}

t.before(async () => {
  etcd = await startEtcd()
  idp = await startIdp()
  await seedCluster(etcd.client)
  await putTopics()
  server = await startServer(['--etcd-endpoints', etcd.endpoint, '--oidc-issuer', idp.issuer, '--resource-url', RESOURCE,
    '--policy-file', policyPath, '--rate-limit', '0', '--max-streams', '2'])
  await server.app.kafscaleStore!.checkReady()
})
t.teardown(async () => {
  await server.close()
  await idp.close()
  await etcd.destroy()
})

t.test('2026-07-28: a listen stream is told of a new topic, a changed topic and a changed config', async (t) => {
  const client = await connectClient(server.base, 'modern', await tokenFor('alice'))
  t.teardown(async () => { await client.close() })
  const heard = hear(client)
  const subscription = await client.listen({ resourceSubscriptions: [topicUri('fresh'), topicConfigUri('orders'), CLUSTER_URI], resourcesListChanged: true })
  t.same(subscription.honoredFilter, { resourceSubscriptions: [topicUri('fresh'), topicConfigUri('orders'), CLUSTER_URI], resourcesListChanged: true })

  await putTopics(['fresh', 1])
  t.ok(await told(heard, topicUri('fresh')), 'the subscribed topic that appeared')
  t.ok(heard.listChanged >= 1, 'and the resource list changed')
  t.ok(heard.updated.includes(CLUSTER_URI), 'and the cluster overview')
  const listChanges = heard.listChanged

  await putTopics(['fresh', 2])
  t.ok(await told(heard, topicUri('fresh'), 2), 'a partition added')
  t.equal(heard.listChanged, listChanges, 'a topic that changed is no list change')

  t.ok(await eventually(async () => feed().status().configWatchesReading === 0, 10_000, 20), 'the config watch has its first value')
  const config = decodeTopicConfig(ORDERS_CONFIG)
  await etcd.client.put(topicConfigKey('orders')).value(Buffer.from(encodeTopicConfig({ ...config, retentionMs: 3_600_000n })))
  t.ok(await told(heard, topicConfigUri('orders')), 'the subscribed topic config that changed')
  const read = await client.readResource({ uri: topicConfigUri('orders') })
  t.match(JSON.parse((read.contents[0] as { text: string }).text), { configs: [{ name: 'orders', retention_ms: 3_600_000 }] }, 'and reading it shows the change')

  await subscription.close()
  t.ok(await eventually(async () => feed().status().configWatches === 0, 10_000, 20), 'the config watch stops with its last listener')
})

t.test('2025 era: an HTTP+SSE session subscribes, and hears of topics and groups, heartbeats aside', async (t) => {
  const client = await connectSse(await tokenFor('alice'))
  t.teardown(async () => { await client.close() })
  t.match(client.getServerCapabilities(), { resources: { subscribe: true, listChanged: true }, tools: { listChanged: false } })
  const heard = hear(client)
  for (const uri of [topicUri('fresh-sse'), groupUri('live'), groupUri('marker')]) await client.subscribeResource({ uri })
  t.ok(await eventually(async () => server.app.kafscaleStore!.health().groupMirror.state === 'synced', 10_000, 20), 'the session follows the groups')

  await putTopics(['fresh-sse', 3])
  t.ok(await told(heard, topicUri('fresh-sse')), 'the subscribed topic that appeared')
  t.ok(heard.listChanged >= 1, 'the resource list changed')
  t.notOk(heard.updated.includes(CLUSTER_URI), 'an unsubscribed resource is not told')

  await etcd.client.put(groupMetadataKey('live')).value(group('live', '2026-03-01T12:00:00Z'))
  t.ok(await told(heard, groupUri('live')), 'the subscribed group that appeared')
  // KafScale rewrites the metadata on every heartbeat: the answer reads alike, so nothing is told.
  await etcd.client.put(groupMetadataKey('live')).value(group('live', '2026-03-01T12:00:03Z'))
  await etcd.client.put(groupOffsetKey('marker', 'orders', 0)).value('{"offset":1,"metadata":"","committed_at":"2026-03-01T12:00:04Z"}')
  t.ok(await told(heard, groupUri('marker')), 'the marker group that appeared after the heartbeat')
  t.equal(heard.updated.filter((u) => u === groupUri('live')).length, 1, 'the heartbeat was not an update')
  await etcd.client.put(groupMetadataKey('live')).value(group('live', '2026-03-01T12:00:06Z', 2))
  t.ok(await told(heard, groupUri('live'), 2), 'a new generation is')

  await client.unsubscribeResource({ uri: topicUri('fresh-sse') })
  await putTopics(['fresh-sse', 4])
  // No lag was read, so marker's lag is unknown before and after: its status stays no_data.
  await etcd.client.put(groupOffsetKey('marker', 'orders', 0)).value('{"offset":2,"metadata":"","committed_at":"2026-03-01T12:00:09Z"}')
  await etcd.client.put(groupMetadataKey('live')).value(group('live', '2026-03-01T12:00:10Z', 3))
  t.ok(await told(heard, groupUri('live'), 3), 'another generation, after the commit')
  t.equal(heard.updated.filter((u) => u === groupUri('marker')).length, 1, 'a commit that leaves the lag status alone is no update')
  t.equal(heard.updated.filter((u) => u === topicUri('fresh-sse')).length, 1, 'an unsubscribed topic is not told')
})

t.test('2025 era over stdio: the local user\'s session subscribes and is told', async (t) => {
  const client = new Client({ name: 'kafscale-live-tests', version: '1.0.0' })
  await client.connect(new StdioClientTransport({
    command: process.execPath,
    args: [fileURLToPath(new URL('../bin/kafscale-mcp.ts', import.meta.url)), '--stdio', '--etcd-endpoints', etcd.endpoint, '--log-level', 'silent'],
    stderr: 'ignore'
  }))
  t.teardown(async () => { await client.close() })
  t.match(client.getServerCapabilities(), { resources: { subscribe: true, listChanged: true } })
  const heard = hear(client)
  await client.subscribeResource({ uri: topicUri('fresh-stdio') })
  await putTopics(['fresh-stdio', 1])
  t.ok(await told(heard, topicUri('fresh-stdio')), 'the subscribed topic that appeared')
  t.ok(heard.listChanged >= 1, 'the resource list changed')
})

t.test('a caller whose policy hides topics hears nothing of them, in either era', async (t) => {
  const bobHeaders = await tokenFor('bob')
  const modern = await connectClient(server.base, 'modern', bobHeaders)
  const session = await connectSse(bobHeaders)
  t.teardown(async () => { await modern.close(); await session.close() })
  const heardModern = hear(modern)
  const heardSession = hear(session)
  await modern.listen({ resourceSubscriptions: [topicUri('secret'), CLUSTER_URI], resourcesListChanged: true })
  await t.rejects(session.subscribeResource({ uri: topicUri('secret') }), /no resource kafscale:\/\/topics\/secret/, 'a 2025-era subscription to a hidden kind is refused')
  await session.subscribeResource({ uri: CLUSTER_URI })

  await putTopics(['secret', 1])
  t.ok(await told(heardModern, CLUSTER_URI), 'the cluster overview, which bob sees, changed')
  t.ok(await told(heardSession, CLUSTER_URI), 'on the session too')
  for (const heard of [heardModern, heardSession]) {
    t.same(heard.updated.filter((u) => u !== CLUSTER_URI), [], 'nothing about the topic')
    t.equal(heard.listChanged, 0, 'no list change: bob lists no topics')
  }
})

t.test('2025-era stateless POSTs advertise no notifications; 2026-07-28 advertises what listen delivers', async (t) => {
  const headers = await tokenFor('alice')
  const legacy = await connectClient(server.base, 'legacy', headers)
  const modern = await connectClient(server.base, 'modern', headers)
  t.teardown(async () => { await legacy.close(); await modern.close() })
  t.match(legacy.getServerCapabilities(), { resources: { subscribe: false, listChanged: false }, tools: { listChanged: false }, prompts: { listChanged: false } })
  t.match(modern.getServerCapabilities(), { resources: { subscribe: true, listChanged: true }, tools: { listChanged: false } })
  const templates = (await modern.listResourceTemplates()).resourceTemplates.map((r) => r.uriTemplate)
  t.ok(templates.includes('kafscale://topics/{name}/config'), 'the topic config is a resource')
})

t.test('streams are capped per caller with a clear error, and closed clients leave no listener behind', async (t) => {
  // The earlier tests closed their clients; the server may still be tearing their streams down.
  t.ok(await eventually(async () => await listeners() === 0, 10_000, 20), 'no listener left from earlier tests')
  const before = 0
  const headers = await tokenFor('carol')
  const client = await connectClient(server.base, 'modern', headers)
  const subscriptions: McpSubscription[] = []
  for (let i = 0; i < 2; i++) subscriptions.push(await client.listen({ resourceSubscriptions: [CLUSTER_URI] }))
  t.equal(await listeners(), before + 2, 'one listener per open stream')
  await t.rejects(client.listen({ resourceSubscriptions: [CLUSTER_URI] }), /too many open streams: at most 2 at once per caller/, 'a third stream is refused')
  const bob = await connectClient(server.base, 'modern', await tokenFor('bob'))
  const bobs = await bob.listen({ resourceSubscriptions: [CLUSTER_URI] })
  t.equal(await listeners(), before + 3, 'the cap is per caller')
  await bobs.close()
  await bob.close()

  await subscriptions[0]!.close()
  t.ok(await eventually(async () => await listeners() === before + 1, 10_000, 20), 'a closed subscription drops its listener')
  subscriptions.push(await client.listen({ resourceSubscriptions: [CLUSTER_URI] }))
  await client.close()
  t.ok(await eventually(async () => await listeners() === before, 10_000, 20), 'a closed client drops its listeners')

  const session = await connectSse(headers)
  t.equal(await listeners(), before + 1, 'a 2025-era session listens')
  await session.close()
  t.ok(await eventually(async () => await listeners() === before, 10_000, 20), 'and stops when it closes')
  t.ok(await eventually(async () => !feed().status().followingGroups, 10_000, 20), 'nobody left wants groups: the feed stops following them')
})
