import { readFileSync } from 'node:fs'
import t from 'tap'
import { decodeConsumerGroup, decodeTopicConfig, encodeConsumerGroup, encodeTopicConfig } from '../lib/kafscale/messages.ts'
import { decodeNextOffset, decodeOffsetRecord, encodeOffsetRecord, rfc3339Nano } from '../lib/kafscale/offsets.ts'
import { decodeSnapshot, encodeSnapshot, topicIdFor } from '../lib/kafscale/snapshot.ts'
import { groupOffsetKey, nextOffsetKey, parseConsumerKey, parseTopicKey, topicConfigKey } from '../lib/kafscale/keys.ts'

// Hex vectors are real encoder output quoted in the contract (§3.3).
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex')
const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')

t.test('TopicConfig as AlterConfigs stores it decodes and re-encodes byte for byte', async (t) => {
  const bytes = hex('0a066f7264657273 1003 1803 2080b89929 28ffffffffffffffffff01 3a14 323032362d30332d30315431323a30303a30305a')
  const config = decodeTopicConfig(bytes)
  t.same(config, { name: 'orders', partitions: 3, replicationFactor: 3, retentionMs: 86400000n, retentionBytes: -1n, segmentBytes: 0n, createdAt: '2026-03-01T12:00:00Z', config: {} })
  t.equal(Buffer.from(encodeTopicConfig(config)).toString('hex'), bytes.toString('hex'))
})

t.test('int64 and int32 values on both sides of the decoder\'s number fast path stay exact', async (t) => {
  const base = { name: 't', partitions: 0, replicationFactor: 0, retentionMs: 0n, retentionBytes: 0n, segmentBytes: 0n, createdAt: '', config: {} }
  for (const v of [2n ** 49n - 1n, 2n ** 49n, 2n ** 53n + 1n, 2n ** 56n + 3n, 2n ** 63n - 1n, -(2n ** 63n), -1n]) {
    t.equal(decodeTopicConfig(encodeTopicConfig({ ...base, retentionMs: v })).retentionMs, v, String(v))
  }
  // int32 keeps the low 32 bits of a wider varint, as Go does: 2^32 + 5 reads as 5, 2^31 as -2^31.
  const wide = (n: bigint): Buffer => Buffer.concat([hex('10'), Buffer.from(varint(n))])
  t.equal(decodeTopicConfig(wide(2n ** 32n + 5n)).partitions, 5)
  t.equal(decodeTopicConfig(wide(2n ** 31n)).partitions, -(2 ** 31))
  t.equal(decodeTopicConfig(wide(2n ** 52n + 7n)).partitions, 7)
  t.equal(decodeTopicConfig(encodeTopicConfig({ ...base, partitions: -3 })).partitions, -3)
})

function varint (n: bigint): number[] {
  const out: number[] = []
  for (; n >= 0x80n; n >>= 7n) out.push(Number(n & 0x7fn) | 0x80)
  out.push(Number(n))
  return out
}

t.test('TopicConfig with a config map entry', async (t) => {
  const bytes = hex('0a066f7264657273100342180a0e636c65616e75702e706f6c696379120664656c657465')
  const config = decodeTopicConfig(bytes)
  t.same(config.config, { 'cleanup.policy': 'delete' })
  t.equal(config.partitions, 3)
  t.equal(Buffer.from(encodeTopicConfig(config)).toString('hex'), bytes.toString('hex'))
})

t.test('ConsumerGroup in the broker\'s shape', async (t) => {
  const bytes = hex('0a0762696c6c696e671206737461626c651a08636f6e73756d6572220572616e67652a036d2d3130033a3a0a036d2d3112331a16323032362d30332d30315431323a30303a30302e355a220d0a066f726465727312030001022a066f726465727330c8df0240e0a712')
  const group = decodeConsumerGroup(bytes)
  t.same(group, {
    groupId: 'billing',
    state: 'stable',
    protocolType: 'consumer',
    protocol: 'range',
    leader: 'm-1',
    generationId: 3,
    rebalanceTimeoutMs: 300000,
    members: { 'm-1': { clientId: '', clientHost: '', heartbeatAt: '2026-03-01T12:00:00.5Z', assignments: [{ topic: 'orders', partitions: [0, 1, 2] }], subscriptions: ['orders'], sessionTimeoutMs: 45000 } }
  })
  t.equal(Buffer.from(encodeConsumerGroup(group)).toString('hex'), bytes.toString('hex'))
})

t.test('a map entry with an empty member value still decodes the member', async (t) => {
  const group = decodeConsumerGroup(hex('0a01673a050a016d1200'))
  t.same(Object.keys(group.members), ['m'])
  t.equal(group.members.m!.sessionTimeoutMs, 0)
})

t.test('corrupt protobuf is an error, not garbage', async (t) => {
  t.throws(() => decodeConsumerGroup(Buffer.from('not a protobuf')), /wire type/)
  t.throws(() => decodeTopicConfig(hex('0a0a6f72')), /runs past the end/)
})

t.test('the operator snapshot fixture decodes and re-encodes to the same 1521 bytes', async (t) => {
  const text = fixture('snapshot-operator.json')
  t.equal(Buffer.byteLength(text), 1521)
  const s = decodeSnapshot(text)
  t.equal(s.clusterName, 'kafscale')
  t.equal(s.clusterId, '3f2a9c4e-6b1d-4e8a-9f0c-2d7b5e1a8c34')
  t.same(s.brokers.map((b) => [b.nodeId, b.port, b.rack]), [[0, 9092, null], [1, 9092, null], [2, 9092, null]])
  t.same(s.topics.map((x) => [x.name, x.partitions.length]), [['orders', 3], ['payments', 2]])
  t.same(s.topics[0]!.partitions[2], { partition: 2, leader: 2, leaderEpoch: 0, replicas: [0, 1, 2], isr: [0, 1, 2], offlineReplicas: [], errorCode: 0 })
  t.equal(encodeSnapshot(s), text)
})

t.test('the snapshot after a broker auto-create round-trips too', async (t) => {
  const text = fixture('snapshot-after-broker-autocreate.json')
  const s = decodeSnapshot(text)
  t.same(s.topics.map((x) => x.name), ['orders', 'payments', 'events'])
  t.equal(encodeSnapshot(s), text)
})

t.test('topic ids are SHA-1(name)[:16]', async (t) => {
  t.equal(Buffer.from(topicIdFor('orders')).toString('hex'), '9658403816409e66eba2175f8eff8b53')
  t.equal(Buffer.from(topicIdFor('events')).toString('hex'), '82d50d9042decb175894924272dd3b5a')
  const s = decodeSnapshot('{"Topics":[{"Topic":"payments","TopicID":[0,0]}]}')
  t.equal(Buffer.from(s.topics[0]!.topicId).toString('hex'), '40c4770202821f32b6da336e22f1dfb6')
})

t.test('snapshot decoding follows Go reader rules', async (t) => {
  const lower = decodeSnapshot('{"brokers":[{"nodeid":4,"host":"h","port":1}],"controllerid":4,"topics":null,"clusterName":null}')
  t.same(lower.brokers, [{ nodeId: 4, host: 'h', port: 1, rack: null }])
  t.equal(lower.controllerId, 4)
  t.same(decodeSnapshot('{"Brokers":null,"ControllerID":0,"Topics":null,"ClusterName":null,"ClusterID":null}').topics, [])
  t.throws(() => decodeSnapshot('{"ControllerID":"1"}'), /ControllerID: expected an int32, got string "1"/)
  t.throws(() => decodeSnapshot('{"Brokers":[{"NodeID":1.5}]}'), /Brokers\[0\]\.NodeID: expected an int32/)
  t.throws(() => decodeSnapshot('{"Topics":[{"Topic":"a","TopicID":"lsaK"}]}'), /Topics\[0\]\.TopicID: cannot unmarshal string/)
  t.throws(() => decodeSnapshot('{"Topics":[{"Topic":"a","TopicID":[256]}]}'), /TopicID\[0\]: cannot unmarshal 256/)
  t.throws(() => decodeSnapshot('{"Topics":[{"Topic":null}]}'), /Topics\[0\]\.Topic: topic name is null/)
  t.throws(() => decodeSnapshot('{"Topics":[{"Topic":"a","UnknownTags":[]}]}'), /UnknownTags/)
  t.throws(() => decodeSnapshot('{"Brokers":'), /not JSON/)
})

t.test('Go escaping of <, >, & and U+2028/2029 when encoding', async (t) => {
  const s = decodeSnapshot('{"ClusterName":"a<b>&c\\u2028"}')
  t.match(encodeSnapshot(s), /"ClusterName":"a\\u003cb\\u003e\\u0026c\\u2028"/)
})

t.test('offset records', async (t) => {
  const plain = '{"offset":42,"metadata":"","committed_at":"2026-03-01T12:30:45.123456Z"}'
  t.same(decodeOffsetRecord(plain), { offset: 42n, metadata: '', committedAt: '2026-03-01T12:30:45.123456Z' })
  t.equal(encodeOffsetRecord(decodeOffsetRecord(plain)), plain)
  const escaped = '{"offset":-1,"metadata":"\\u003ca\\u0026b\\u003e\\u2028é\\u0000","committed_at":"2026-03-01T12:30:45Z"}'
  const record = decodeOffsetRecord(escaped)
  t.same(record, { offset: -1n, metadata: '<a&b>\u2028é\u0000', committedAt: '2026-03-01T12:30:45Z' })
  t.equal(encodeOffsetRecord(record), escaped)
  t.equal(decodeOffsetRecord('{"offset":9007199254740993}').offset, 9007199254740993n, 'int64 beyond 2^53 stays exact')
  t.equal(decodeOffsetRecord('{"OFFSET":5}').offset, 5n, 'keys match case-insensitively')
  t.throws(() => decodeOffsetRecord('{"offset":"5"}'), /expected an int64/)
  t.throws(() => decodeOffsetRecord('{"offset":5.5}'), /expected an int64/)
  t.throws(() => decodeOffsetRecord('{"offset":9223372036854775808}'), /overflows int64/)
  t.throws(() => decodeOffsetRecord('{"offset":9999999999999999999,"metadata":"","committed_at":""}'), /overflows int64/, 'the canonical fast path checks the range too')
  t.same(decodeOffsetRecord('{"offset":7,"metadata":"a\\"b","committed_at":"x"}'), { offset: 7n, metadata: 'a"b', committedAt: 'x' }, 'escapes in canonical records')
  t.same(decodeOffsetRecord('{"metadata":"m","offset":7,"committed_at":"x"}'), { offset: 7n, metadata: 'm', committedAt: 'x' }, 'any key order, through the general decoder')
})

t.test('next_offset values', async (t) => {
  t.equal(decodeNextOffset('1234'), 1234n)
  t.equal(decodeNextOffset(' 7\n'), 7n)
  t.equal(decodeNextOffset(''), 0n)
  t.throws(() => decodeNextOffset('12a'), /expected a decimal int64/)
})

t.test('RFC3339Nano trims like Go', async (t) => {
  t.equal(rfc3339Nano(new Date('2026-03-01T12:30:45.000Z')), '2026-03-01T12:30:45Z')
  t.equal(rfc3339Nano(new Date('2026-03-01T12:30:45.100Z')), '2026-03-01T12:30:45.1Z')
  t.equal(rfc3339Nano(new Date('2026-03-01T12:30:00.500Z')), '2026-03-01T12:30:00.5Z')
})

t.test('keys take every name the broker creates, verbatim', async (t) => {
  t.equal(topicConfigKey('orders'), '/kafscale/topics/orders/config')
  t.equal(groupOffsetKey('billing', 'orders', 2), '/kafscale/consumers/billing/offsets/orders/2')
  t.equal(topicConfigKey('a/partitions/0'), '/kafscale/topics/a/partitions/0/config')
  t.equal(nextOffsetKey('my topic:ü', 1), '/kafscale/topics/my topic:ü/partitions/1/next_offset')
  t.equal(groupOffsetKey('team/a', '..', 0), '/kafscale/consumers/team/a/offsets/../0')
  // A lone surrogate goes to etcd as U+FFFD: it would read the keys of the name "\uFFFD".
  t.throws(() => topicConfigKey('\uD800'), { code: 'KSMCP_ERR_INVALID_TOPIC_NAME', message: 'invalid topic name "\\ud800": a topic name is non-empty, well-formed Unicode' })
  t.throws(() => topicConfigKey(''), { code: 'KSMCP_ERR_INVALID_TOPIC_NAME' })
  t.throws(() => groupOffsetKey('', 'orders', 0), { code: 'KSMCP_ERR_INVALID_GROUP_ID' })
  t.throws(() => groupOffsetKey('g\uDC00', 'orders', 0), { code: 'KSMCP_ERR_INVALID_GROUP_ID' })
})

t.test('topic keys read by their shape, whatever the name holds', async (t) => {
  t.same(parseTopicKey('/kafscale/topics/orders/config'), { kind: 'config', topic: 'orders' })
  t.same(parseTopicKey('/kafscale/topics/a/partitions/0/config'), { kind: 'config', topic: 'a/partitions/0' })
  t.same(parseTopicKey('/kafscale/topics/a/partitions/0/next_offset'), { kind: 'next_offset', topic: 'a', partition: 0 })
  t.same(parseTopicKey('/kafscale/topics/a/partitions/0/partitions/1/next_offset'), { kind: 'next_offset', topic: 'a/partitions/0', partition: 1 })
  t.same(parseTopicKey('/kafscale/topics/a/partitions/3'), { kind: 'partition_state', topic: 'a', partition: 3 })
  t.equal(parseTopicKey('/kafscale/topics/a/partitions/x/next_offset'), undefined)
  t.equal(parseTopicKey('/kafscale/topics//partitions/1'), undefined)
})

t.test('consumer keys read from the right: partition last, group and topic split at "/offsets/"', async (t) => {
  const none = (): boolean => false
  t.same(parseConsumerKey('/kafscale/consumers/billing/metadata', none), { kind: 'metadata', groupId: 'billing' })
  t.same(parseConsumerKey('/kafscale/consumers/team/a/metadata', none), { kind: 'metadata', groupId: 'team/a' })
  t.same(parseConsumerKey('/kafscale/consumers/billing/offsets/orders/10', none), { kind: 'offset', groupId: 'billing', topic: 'orders', partition: 10 })
  t.same(parseConsumerKey('/kafscale/consumers/g/offsets/a/b/1', none), { kind: 'offset', groupId: 'g', topic: 'a/b', partition: 1 })
  t.same(parseConsumerKey('/kafscale/consumers/g x/offsets/a/partitions/0/7', none), { kind: 'offset', groupId: 'g x', topic: 'a/partitions/0', partition: 7 })
  const key = '/kafscale/consumers/a/offsets/b/offsets/c/0'
  t.same(parseConsumerKey(key, (name) => name === 'c'), { kind: 'offset', groupId: 'a/offsets/b', topic: 'c', partition: 0 }, 'the reading whose topic exists')
  t.same(parseConsumerKey(key, (name) => name === 'b/offsets/c'), { kind: 'offset', groupId: 'a', topic: 'b/offsets/c', partition: 0 })
  t.same(parseConsumerKey(key, none), { kind: 'ambiguous', readings: [{ groupId: 'a', topic: 'b/offsets/c', partition: 0 }, { groupId: 'a/offsets/b', topic: 'c', partition: 0 }] })
  t.equal(parseConsumerKey(key, () => true)?.kind, 'ambiguous', 'both topics exist')
  t.equal(parseConsumerKey('/kafscale/consumers//offsets/orders/1', none), undefined)
  t.equal(parseConsumerKey('/kafscale/consumers/g/offsets/orders/x', none), undefined)
  t.equal(parseConsumerKey('/kafscale/consumers/g/offsets//1', none), undefined)
})
