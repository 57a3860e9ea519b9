import t from 'tap'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { BILLING_GROUP } from './helpers/kafscale-data.ts'
import { encoded, putMany, snapshotWith } from './helpers/cluster-builder.ts'
import { callRest, startServer, type RunningServer } from './helpers/server.ts'
import { encodeTopicConfig } from '../lib/kafscale/messages.ts'

// Names the real broker creates and Kafka's rules reject (fixtures/real-broker/README.md):
// a space, ":", "ü", "/", "..", and one that mimics a key suffix of topic "a".
const commit = (offset: number): string => `{"offset":${offset},"metadata":"","committed_at":"2026-03-01T12:00:00Z"}`
const config = (name: string, partitions: number, retentionMs: bigint): Buffer => Buffer.from(encodeTopicConfig({
  name, partitions, replicationFactor: 1, retentionMs, retentionBytes: -1n, segmentBytes: 0n, createdAt: '2026-03-01T12:00:00Z', config: {}
}))
const AMBIGUOUS = '/kafscale/consumers/x/offsets/y/offsets/z/0'

let etcd: EtcdProcess
let server: RunningServer
const call = async (tool: string, args: Record<string, unknown>): Promise<{ status: number, body: any }> => await callRest(server.base, tool, args)

t.before(async () => {
  etcd = await startEtcd()
  await etcd.client.put('/kafscale/metadata/snapshot').value(encoded(snapshotWith([
    ['my topic', 2], ['ns:events', 1], ['grüße', 1], ['a', 2], ['a/partitions/0', 2], ['..', 1], ['c', 1]
  ])))
  await putMany(etcd.client, [
    ['/kafscale/topics/my topic/partitions/0/next_offset', '3'],
    ['/kafscale/topics/my topic/partitions/1/next_offset', '5'],
    ['/kafscale/topics/a/partitions/0/next_offset', '10'],
    ['/kafscale/topics/a/partitions/1/next_offset', '20'],
    ['/kafscale/topics/a/partitions/0/partitions/0/next_offset', '7'],
    ['/kafscale/topics/a/partitions/0/partitions/1/next_offset', '8'],
    ['/kafscale/topics/../partitions/0/next_offset', '4'],
    ['/kafscale/topics/grüße/partitions/0/next_offset', '6'],
    ['/kafscale/topics/a/partitions/0/config', config('a/partitions/0', 2, 1000n)],
    ['/kafscale/consumers/g one/offsets/my topic/0', commit(1)],
    ['/kafscale/consumers/g one/offsets/a/partitions/0/1', commit(2)],
    ['/kafscale/consumers/g one/offsets/../0', commit(4)],
    ['/kafscale/consumers/team/x/metadata', BILLING_GROUP],
    ['/kafscale/consumers/team/x/offsets/a/0', commit(9)],
    ['/kafscale/consumers/team/offsets/grüße/0', commit(1)],
    ['/kafscale/consumers/x/offsets/c/0', commit(1)],
    [AMBIGUOUS, commit(1)],
    // Topic "c" exists and "j/offsets/c" does not: group "k/offsets/j".
    ['/kafscale/consumers/k/offsets/j/offsets/c/0', commit(1)]
  ])
  server = await startServer(['--etcd-endpoints', etcd.endpoint])
  await server.app.kafscaleStore!.checkReady()
})
t.teardown(async () => {
  await server.close()
  await etcd.destroy()
})

const ambiguity = {
  key: AMBIGUOUS,
  code: 'KSMCP_ERR_AMBIGUOUS_KEY',
  reason: `etcd key ${AMBIGUOUS} is ambiguous: it can be read as group "x" topic "y/offsets/z" partition 0 or group "x/offsets/y" topic "z" partition 0`
}

t.test('topics with any name are listed, described and configured', async (t) => {
  const listed = await call('list_topics', {})
  t.same(listed.body.topics.map((x: any) => x.name), ['..', 'a', 'a/partitions/0', 'c', 'grüße', 'my topic', 'ns:events', 'orders', 'payments'])
  const described = await call('describe_topics', { names: ['my topic', 'a/partitions/0', '..', 'grüße', 'ns:events'] })
  t.equal(described.status, 200)
  t.same(described.body.topics.map((x: any) => [x.name, x.error_code, x.partitions.length]), [['..', 0, 1], ['a/partitions/0', 0, 2], ['grüße', 0, 1], ['my topic', 0, 2], ['ns:events', 0, 1]])
  const configs = await call('describe_configs', {})
  t.equal(configs.status, 200, 'describe_configs {} answers with such names present')
  const byName = new Map(configs.body.configs.map((c: any) => [c.name, c]))
  t.match(byName.get('a/partitions/0'), { source: 'stored', partitions: 2, retention_ms: 1000 })
  t.match(byName.get('a'), { source: 'default', partitions: 2, retention_ms: -1 }, 'topic "a" is not confused with "a/partitions/0"')
  t.match(byName.get('ns:events'), { source: 'default', partitions: 1 })
  t.notOk('errors' in configs.body)
})

t.test('offsets and lag of such names, each read as the key it is', async (t) => {
  const gOne = await call('fetch_offsets', { group_id: 'g one' })
  t.same(gOne.body.offsets.map((o: any) => [o.topic, o.partition, o.committed ? o.offset : null]), [
    ['..', 0, 4], ['a/partitions/0', 0, null], ['a/partitions/0', 1, 2], ['my topic', 0, 1], ['my topic', 1, null]
  ], 'the commit of topic "a/partitions/0" is not dropped')
  const team = await call('fetch_offsets', { group_id: 'team' })
  t.same(team.body.offsets.map((o: any) => [o.topic, o.partition, o.offset]), [['grüße', 0, 1]], 'group "team" does not take the keys of group "team/x"')
  const teamX = await call('fetch_offsets', { group_id: 'team/x' })
  t.same(teamX.body.offsets.map((o: any) => [o.topic, o.partition, o.committed]), [['a', 0, true], ['a', 1, false]])
  const k = await call('fetch_offsets', { group_id: 'k/offsets/j' })
  t.same(k.body.offsets.map((o: any) => [o.topic, o.partition, o.offset]), [['c', 0, 1]], 'the snapshot decides between readings')

  const lag = await call('consumer_lag', { group_id: 'g one' })
  t.same(lag.body.partitions.filter((p: any) => p.lag !== null).map((p: any) => [p.topic, p.partition, p.log_end_offset, p.lag]), [
    ['a/partitions/0', 1, 8, 6], ['my topic', 0, 3, 2], ['..', 0, 4, 0]
  ], 'log ends of names with a space, "/" and ".." are read')
  const all = await call('consumer_lag', { topics: ['a'] })
  t.same(all.body.partitions.map((p: any) => [p.group_id, p.topic, p.partition, p.log_end_offset]), [['team/x', 'a', 0, 10], ['team/x', 'a', 1, 20]], 'topic "a" ignores the keys of topic "a/partitions/0"')
})

t.test('a key that reads two ways is reported, not guessed', async (t) => {
  const groups = await call('list_groups', {})
  t.same(groups.body.groups.map((g: any) => [g.group_id, g.state]), [['g one', 'empty'], ['k/offsets/j', 'empty'], ['team', 'empty'], ['team/x', 'stable'], ['x', 'empty']])
  t.same(groups.body.errors, [ambiguity])
  const x = await call('fetch_offsets', { group_id: 'x' })
  t.same(x.body.offsets.map((o: any) => [o.topic, o.partition]), [['c', 0]])
  t.same(x.body.errors, [ambiguity])
  const nested = await call('describe_group', { group_id: 'x/offsets/y' })
  t.match(nested.body, { group_id: 'x/offsets/y', metadata: 'missing', committed_partitions: 0, errors: [ambiguity] })
  t.match(await call('describe_group', { group_id: 'team/x' }), { status: 200, body: { metadata: 'stored', state: 'stable' } })
  t.match(await call('describe_group', { group_id: 'g one' }), { status: 200, body: { metadata: 'missing', committed_partitions: 3 } })
  const health = await call('cluster_health', {})
  t.match(health.body.findings.find((f: any) => f.code === 'AMBIGUOUS_KEYS'), { severity: 'warning', subjects: [ambiguity.reason], count: 1 })
})

t.test('names are bounded and must be well-formed', async (t) => {
  const refused = async (tool: string, args: Record<string, unknown>): Promise<string> => {
    const { status, body } = await call(tool, args)
    t.equal(status, 400, `${tool} refuses`)
    return body.message
  }
  t.match(await refused('describe_topics', { names: ['x'.repeat(250)] }), /must be a topic name: 1 to 249 characters of well-formed Unicode/)
  t.match(await refused('describe_topics', { names: ['\uD800'] }), /must be a topic name/)
  t.match(await refused('describe_topics', { names: [''] }), /must be a topic name/)
  t.match(await refused('fetch_offsets', { group_id: 'g'.repeat(32768) }), /must be a consumer group id: 1 to 32767 characters of well-formed Unicode/)
  t.equal((await call('describe_topics', { names: ['x'.repeat(249)] })).status, 200)
})

t.test('duplicates: describe_configs answers per entry as the reference does; fetch_offsets once per partition', async (t) => {
  const configs = await call('describe_configs', { topics: ['my topic', 'a', 'my topic'] })
  t.same(configs.body.configs.map((c: any) => c.name), ['a', 'my topic', 'my topic'])
  const offsets = await call('fetch_offsets', { group_id: 'g one', topics: ['my topic', 'my topic'] })
  t.same(offsets.body.offsets.map((o: any) => [o.topic, o.partition]), [['my topic', 0], ['my topic', 1]])
  const paged = await call('describe_configs', { topics: ['my topic', 'a', 'my topic'], limit: 2 })
  const rest = await call('describe_configs', { topics: ['my topic', 'a', 'my topic'], cursor: paged.body.next_cursor })
  t.same([...paged.body.configs, ...rest.body.configs].map((c: any) => c.name), ['a', 'my topic', 'my topic'], 'pages keep every entry')
})

t.test('one corrupt key leaves the rest of a listing readable (item 17)', async (t) => {
  await putMany(etcd.client, [
    ['/kafscale/consumers/broken/metadata', Buffer.from([0xff, 0xff, 0xff])],
    ['/kafscale/consumers/g one/offsets/my topic/1', 'not json'],
    ['/kafscale/topics/ns:events/config', Buffer.from([0xff, 0xff, 0xff])],
    ['/kafscale/topics/grüße/partitions/0/next_offset', 'six']
  ])
  const groups = await call('list_groups', {})
  t.equal(groups.status, 200)
  t.same(groups.body.groups.map((g: any) => g.group_id), ['g one', 'k/offsets/j', 'team', 'team/x', 'x'])
  t.match(groups.body.errors, [{ key: '/kafscale/consumers/broken/metadata', code: 'KSMCP_ERR_CORRUPT_VALUE', reason: /^corrupt value at etcd key \/kafscale\/consumers\/broken\/metadata: / }, ambiguity])

  const lag = await call('consumer_lag', { group_id: 'g one' })
  t.equal(lag.status, 200)
  t.match(lag.body.errors, [{ key: '/kafscale/consumers/g one/offsets/my topic/1', code: 'KSMCP_ERR_CORRUPT_VALUE', reason: /^corrupt value at etcd key \/kafscale\/consumers\/g one\/offsets\/my topic\/1: / }])
  t.match(lag.body.partitions.find((p: any) => p.topic === 'my topic' && p.partition === 1), { committed_offset: null, lag: null, reason: 'committed offset unreadable (see errors)' })
  t.match(lag.body.partitions.find((p: any) => p.topic === 'my topic' && p.partition === 0), { lag: 2 }, 'the readable partitions still come')
  const team = await call('consumer_lag', { group_id: 'team' })
  t.match(team.body.partitions, [{ topic: 'grüße', committed_offset: 1, lag: null, reason: 'next_offset unreadable (see errors)' }])
  t.match(team.body.errors, [{ key: '/kafscale/topics/grüße/partitions/0/next_offset', code: 'KSMCP_ERR_CORRUPT_VALUE' }])

  const configs = await call('describe_configs', {})
  t.equal(configs.status, 200)
  t.notOk(configs.body.configs.some((c: any) => c.name === 'ns:events'), 'the unreadable config is left out')
  t.equal(configs.body.configs.length, 8)
  t.match(configs.body.errors, [{ key: '/kafscale/topics/ns:events/config', code: 'KSMCP_ERR_CORRUPT_VALUE', reason: /^corrupt value at etcd key \/kafscale\/topics\/ns:events\/config: / }])

  const health = await call('cluster_health', {})
  const corrupt = health.body.findings.find((f: any) => f.code === 'CORRUPT_KEYS')
  t.match(corrupt, { severity: 'warning', count: 4 })
  t.same(corrupt.subjects.map((s: string) => s.split(': ')[0]), [
    'corrupt value at etcd key /kafscale/consumers/broken/metadata',
    'corrupt value at etcd key /kafscale/consumers/g one/offsets/my topic/1',
    'corrupt value at etcd key /kafscale/topics/grüße/partitions/0/next_offset',
    'corrupt value at etcd key /kafscale/topics/ns:events/config'
  ])
  t.ok(health.body.checked.includes('stored-values'))
})
