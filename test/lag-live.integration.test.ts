import t from 'tap'
import { Client, SSEClientTransport } from '@modelcontextprotocol/client'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { encoded, putMany, snapshotWith } from './helpers/cluster-builder.ts'
import { connectClient, startServer, type RunningServer } from './helpers/server.ts'
import { eventually } from './helpers/wait.ts'
import { SNAPSHOT_KEY, groupMetadataKey, groupOffsetKey, nextOffsetKey } from '../lib/kafscale/keys.ts'
import { encodeConsumerGroup } from '../lib/kafscale/messages.ts'
import { rfc3339Nano } from '../lib/kafscale/offsets.ts'
import { groupUri } from '../transports/resource-uris.ts'

// A group's resource follows its judged lag status, in both protocol eras: real SDK clients
// on a real port, a real etcd written as KafScale writes it, the service's clock injected and
// set by the script. A status change is told, whether commits made it or time alone; commits
// that leave the status alone are not. "Nothing was told" is asserted only after a later
// notification on the same stream, which the earlier one would have preceded.

const T0 = Date.parse('2026-03-01T12:00:00Z')
const stamp = (s: number): string => rfc3339Nano(new Date(T0 + s * 1000))
let now = T0
const setTime = (s: number): void => { now = T0 + s * 1000 }

const BILLING = 'billing'
const MARKER = 'marker'
const commit = (offset: number, s: number): string => `{"offset":${offset},"metadata":"","committed_at":"${stamp(s)}"}`
const metadata = Buffer.from(encodeConsumerGroup({
  groupId: BILLING,
  state: 'stable',
  protocolType: 'consumer',
  protocol: 'range',
  leader: 'm-1',
  generationId: 1,
  rebalanceTimeoutMs: 300000,
  members: { 'm-1': { clientId: 'm-1', clientHost: '/10.0.0.1', heartbeatAt: stamp(0), assignments: [{ topic: 'paid', partitions: [0] }], subscriptions: ['paid'], sessionTimeoutMs: 45000 } }
}))

let etcd: EtcdProcess
let server: RunningServer

/** What a client was told of each URI, in order. */
function hear (client: Client): string[] {
  const updated: string[] = []
  client.setNotificationHandler('notifications/resources/updated', (n) => { updated.push(n.params.uri) })
  return updated
}
const count = (heard: string[], uri: string): number => heard.filter((u) => u === uri).length
const told = async (heard: string[], uri: string, times: number): Promise<boolean> => await eventually(async () => count(heard, uri) >= times, 10_000, 20)

/** Commits billing's offset at second s, once the service's mirror holds it. */
async function commitBilling (offset: number, s: number): Promise<void> {
  await etcd.client.put(groupOffsetKey(BILLING, 'paid', 0)).value(commit(offset, s))
  const store = server.app.kafscaleStore!
  const mirrored = await eventually(async () => (await store.groupOffsets(BILLING)).group.offsets.get('paid/0')?.record.offset === BigInt(offset), 10_000, 20)
  if (!mirrored) throw new Error(`commit ${offset} never reached the mirror`)
}

t.before(async () => {
  etcd = await startEtcd()
  await etcd.client.put(SNAPSHOT_KEY).value(encoded(snapshotWith([['paid', 1], ['other', 1]])))
  await putMany(etcd.client, [
    [groupMetadataKey(BILLING), metadata],
    [groupOffsetKey(BILLING, 'paid', 0), commit(100, 0)],
    [nextOffsetKey('paid', 0), '1000']
  ])
  server = await startServer(['--etcd-endpoints', etcd.endpoint, '--lag-sample-interval', '100ms'], { clock: () => now })
  await server.app.kafscaleStore!.checkReady()
})
t.teardown(async () => {
  await server?.close()
  await etcd?.destroy()
})

t.test('a subscribed group is told when its status changes, by commits or by time alone, and not on commits that leave it', async (t) => {
  const modern = await connectClient(server.base, 'modern')
  const session = new Client({ name: 'kafscale-lag-live-tests', version: '1.0.0' })
  await session.connect(new SSEClientTransport(new URL(`${server.base}/sse`)))
  t.teardown(async () => { await modern.close(); await session.close() })
  const heard = [hear(modern), hear(session)]
  await modern.listen({ resourceSubscriptions: [groupUri(BILLING), groupUri(MARKER)] })
  for (const uri of [groupUri(BILLING), groupUri(MARKER)]) await session.subscribeResource({ uri })
  t.ok(await eventually(async () => server.app.kafscaleStore!.health().groupMirror.state === 'synced', 10_000, 20), 'the groups are followed')

  // One commit: no_data. A second that moves the offset, with the log end the sampler read: ok.
  await commitBilling(200, 10)
  setTime(10)
  for (const h of heard) t.ok(await told(h, groupUri(BILLING), 1), 'no_data → ok is told')

  await commitBilling(300, 20)
  setTime(20)
  await etcd.client.put(groupOffsetKey(MARKER, 'other', 0)).value(commit(1, 20))
  for (const h of heard) {
    t.ok(await told(h, groupUri(MARKER), 1), 'the marker group that appeared after the commit')
    t.equal(count(h, groupUri(BILLING)), 1, 'a commit that leaves the status ok is no update')
  }

  // No commit for 80 s, longer than the 20 s the window spans, while 700 messages wait: no etcd event.
  setTime(100)
  for (const h of heard) t.ok(await told(h, groupUri(BILLING), 2), 'ok → stopped is told')
  const read = await modern.readResource({ uri: groupUri(BILLING) })
  const { lag } = JSON.parse((read.contents[0] as { text: string }).text)
  t.match(lag.groups[0], { group_id: BILLING, status: 'stopped', status_counts: { stopped: 1 }, status_reason: /stopped/ }, 'the resource carries the status')
  t.match(lag.partitions[0], { partition: 0, lag: 700, status: 'stopped' })
})
