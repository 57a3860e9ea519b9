import t from 'tap'
import { Consumer, type MessagesStream } from '@platformatic/kafka'
import { freePort } from './helpers/etcd.ts'
import { startKafka, type KafkaPeer } from './helpers/kafka.ts'
import { KafkaAdmin } from '../lib/kafscale/admin.ts'
import { isBrokerRefusal } from '../lib/kafscale/admin-errors.ts'
import { eventually } from './helpers/wait.ts'

// KafkaAdmin against a real Apache Kafka 4.1.1 (KRaft, one node), shared by the whole file.
// State is checked through the peer's own @platformatic/kafka Admin, not through the code under
// test. The peer auto-creates topics named in a Metadata request, as KafScale does.

// The broker's start (format step + JVM) can take a minute on a loaded 2-core machine.
t.setTimeout(300_000)

let kafka: KafkaPeer
let admin: KafkaAdmin

t.before(async () => {
  kafka = await startKafka()
  admin = new KafkaAdmin({ bootstrapBrokers: [kafka.bootstrap], clientId: 'kafscale-mcp-test', timeoutMs: 15_000 })
})
t.teardown(async () => {
  await admin.close()
  await kafka.stop()
})

/**
 * Whether predicate becomes true before a generous bound: KRaft applies metadata changes
 * asynchronously. The bound only tells "never" from "slow"; callers assert the result.
 */

async function peerTopics (): Promise<string[]> {
  return await kafka.admin().listTopics()
}

async function refusal (promise: Promise<unknown>): Promise<{ code: string, statusCode: number, kafkaCode: number, message: string }> {
  try {
    await promise
  } catch (err) {
    return err as { code: string, statusCode: number, kafkaCode: number, message: string }
  }
  throw new Error('expected the call to fail')
}

t.test('flavor: Apache Kafka answers IncrementalAlterConfigs, so it is not taken for KafScale', async (t) => {
  t.equal(await admin.flavor(), 'kafka')
})

t.test('clusterMetadata lists the one broker and no internal topic', async (t) => {
  const metadata = await admin.clusterMetadata()
  const [host, port] = kafka.bootstrap.split(':')
  t.same(metadata.brokers, [{ nodeId: 1, host, port: Number(port), rack: null }])
  t.equal(metadata.controllerId, 1)
  t.type(metadata.clusterId, 'string')
  t.notOk(metadata.topics.has('__consumer_offsets'), 'internal topics are left out')
})

t.test('createTopic creates exactly the topic asked for, and listTopics shows it', async (t) => {
  await admin.createTopic({ topic: 'orders', partitions: 3, replicationFactor: 1 })
  t.ok(await eventually(async () => (await peerTopics()).includes('orders')), 'the broker has the topic')
  t.ok(await eventually(async () => (await admin.listTopics()).get('orders')?.partitions === 3), 'listTopics shows it')
  const orders = (await admin.listTopics()).get('orders')!
  t.equal(orders.partitions, 3)
  t.equal(orders.replicationFactor, 1)
  t.match(orders.topicId, /^[0-9a-f]{8}-[0-9a-f]{4}-/, 'with the topic id Kafka gave it')
})

t.test('createTopic refusals name the Kafka error and say what it means', async (t) => {
  await admin.createTopic({ topic: 'twice', partitions: 1, replicationFactor: 1 })
  const again = await refusal(admin.createTopic({ topic: 'twice', partitions: 1, replicationFactor: 1 }))
  t.equal(again.code, 'KSMCP_ERR_BROKER_REFUSED')
  t.equal(again.statusCode, 409)
  t.ok(isBrokerRefusal(again, 36))
  t.match(again.message, 'the broker refused to create topic "twice": a topic of this name already exists')
  t.match(again.message, '(Kafka error 36 TOPIC_ALREADY_EXISTS)')

  const badName = await refusal(admin.createTopic({ topic: 'no spaces', partitions: 1, replicationFactor: 1 }))
  t.equal(badName.kafkaCode, 17)
  t.equal(badName.statusCode, 422)
  t.match(badName.message, 'the topic name is not valid')

  const tooManyReplicas = await refusal(admin.createTopic({ topic: 'replicated', partitions: 1, replicationFactor: 3 }))
  t.equal(tooManyReplicas.kafkaCode, 38)
  t.match(tooManyReplicas.message, 'at most the number of brokers')
  t.notOk((await peerTopics()).includes('replicated'), 'a refused create creates nothing')
})

t.test('createPartitions grows a topic to the total asked for, and never shrinks it', async (t) => {
  await admin.createTopic({ topic: 'growing', partitions: 2, replicationFactor: 1 })
  t.ok(await eventually(async () => (await admin.listTopics()).has('growing')))
  await admin.createPartitions('growing', 5)
  t.ok(await eventually(async () => (await kafka.admin().metadata({ topics: ['growing'] })).topics.get('growing')?.partitionsCount === 5), 'the broker has 5 partitions')
  t.ok(await eventually(async () => (await admin.listTopics()).get('growing')?.partitions === 5), 'listTopics shows 5')

  const shrink = await refusal(admin.createPartitions('growing', 1))
  t.equal(shrink.kafkaCode, 37)
  t.match(shrink.message, 'partitions can be added but never removed')
  t.equal((await admin.listTopics()).get('growing')?.partitions, 5)
})

t.test('alterTopicConfig sets the full set: keys left out return to their defaults (legacy AlterConfigs)', async (t) => {
  await admin.createTopic({ topic: 'configured', partitions: 1, replicationFactor: 1 })
  t.ok(await eventually(async () => (await admin.listTopics()).has('configured')))
  const entry = async (name: string) => (await admin.describeTopicConfig('configured')).find((e) => e.name === name)

  await admin.alterTopicConfig('configured', { 'retention.ms': '3600000', 'segment.bytes': '1048576' })
  t.ok(await eventually(async () => (await entry('segment.bytes'))?.value === '1048576'), 'the broker applied the set')
  t.match(await entry('retention.ms'), { value: '3600000', source: 'topic', isDefault: false, readOnly: false })
  t.match(await entry('segment.bytes'), { value: '1048576', source: 'topic', isDefault: false })
  t.match(await entry('cleanup.policy'), { value: 'delete', source: 'default', isDefault: true }, 'a key never set shows as a default')

  await admin.alterTopicConfig('configured', { 'retention.ms': '7200000' })
  t.ok(await eventually(async () => (await entry('retention.ms'))?.value === '7200000'))
  t.match(await entry('segment.bytes'), { source: 'default', isDefault: true }, 'segment.bytes, left out of the set, is no longer set on the topic')
})

t.test('alterTopicConfig with a key the broker rejects is refused with INVALID_CONFIG, and nothing changes', async (t) => {
  const rejected = await refusal(admin.alterTopicConfig('configured', { 'retention.ms': '1000', 'no.such.key': '1' }))
  t.equal(rejected.kafkaCode, 40)
  t.equal(rejected.statusCode, 422)
  t.match(rejected.message, 'a config name or value is not valid for a topic')
  t.match(rejected.message, 'no.such.key', "the broker's own words name the key")
  t.equal((await admin.describeTopicConfig('configured')).find((e) => e.name === 'retention.ms')?.value, '7200000')
})

t.test('no call creates a topic it names: not describe, not grow, not delete, not alter', async (t) => {
  // The control: this peer does auto-create a topic named in a Metadata request.
  // Its first answer is an error (the topic is still being created), hence the catch.
  await kafka.admin().metadata({ topics: ['auto-created-control'], autocreateTopics: true }).catch(() => {})
  t.ok(await eventually(async () => (await peerTopics()).includes('auto-created-control')), 'the peer auto-creates, as KafScale does')

  t.equal((await refusal(admin.describeTopicConfig('ghost'))).kafkaCode, 3)
  t.equal((await refusal(admin.createPartitions('ghost', 2))).kafkaCode, 3)
  t.equal((await refusal(admin.deleteTopic('ghost'))).kafkaCode, 3)
  t.equal((await refusal(admin.alterTopicConfig('ghost', { 'retention.ms': '1000' }))).kafkaCode, 3)
  const unknown = await refusal(admin.createPartitions('ghost', 2))
  t.equal(unknown.statusCode, 404)
  t.match(unknown.message, 'the topic (or partition) does not exist')
  await admin.listTopics()
  t.notOk((await peerTopics()).includes('ghost'), 'ghost was never created')
})

t.test('groupOffsets shows committed offsets; describeGroup an empty group', async (t) => {
  await kafka.admin().alterConsumerGroupOffsets({
    groupId: 'billing',
    topics: [{ name: 'orders', partitionOffsets: [{ partition: 0, offset: 5n }, { partition: 2, offset: 7n }] }]
  })
  t.same(await admin.groupOffsets('billing'), [
    { topic: 'orders', partition: 0, offset: 5n, metadata: '' },
    { topic: 'orders', partition: 2, offset: 7n, metadata: '' }
  ])
  t.match(await admin.describeGroup('billing'), { groupId: 'billing', state: 'Empty', members: [] })
  t.same(await admin.groupOffsets('no-such-group'), [], 'a group without offsets has none')
})

t.test('describeGroup lists live members; deleteGroup refuses a group with members, then deletes it once they left', async (t) => {
  await admin.createTopic({ topic: 'events', partitions: 2, replicationFactor: 1 })
  t.ok(await eventually(async () => (await admin.listTopics()).has('events')))
  const consumer = new Consumer({ groupId: 'live', clientId: 'billing-worker', bootstrapBrokers: [kafka.bootstrap] })
  let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  try {
    stream = await consumer.consume({ topics: ['events'] })
    t.ok(await eventually(async () => (await admin.describeGroup('live')).state === 'Stable'), 'the group is stable')
    const group = await admin.describeGroup('live')
    t.equal(group.protocolType, 'consumer')
    t.equal(group.members.length, 1)
    t.match(group.members[0], { clientId: 'billing-worker', groupInstanceId: null, assignments: [{ topic: 'events', partitions: [0, 1] }] })
    t.type(group.members[0]!.clientHost, 'string')

    const busy = await refusal(admin.deleteGroup('live'))
    t.equal(busy.kafkaCode, 68)
    t.equal(busy.statusCode, 409)
    t.match(busy.message, 'the broker refused to delete group "live": the group still has active members')
  } finally {
    await stream?.close()
    await consumer.close()
  }
  t.ok(await eventually(async () => (await admin.describeGroup('live')).members.length === 0), 'the member left')
  await admin.deleteGroup('live')
  const gone = await refusal(admin.describeGroup('live'))
  t.equal(gone.kafkaCode, 69, 'a deleted group is not found')
})

t.test('deleteGroup of an unknown group is refused with GROUP_ID_NOT_FOUND; of a group with only offsets it deletes them', async (t) => {
  const unknown = await refusal(admin.deleteGroup('never-existed'))
  t.equal(unknown.code, 'KSMCP_ERR_BROKER_REFUSED')
  t.equal(unknown.statusCode, 404)
  t.match(unknown.message, 'the broker refused to delete group "never-existed": the group does not exist (Kafka error 69 GROUP_ID_NOT_FOUND)')

  await admin.deleteGroup('billing')
  t.same(await admin.groupOffsets('billing'), [], "Apache Kafka drops a deleted group's offsets")
})

t.test('deleteTopic removes the topic; deleting it again is refused', async (t) => {
  await admin.deleteTopic('twice')
  t.ok(await eventually(async () => !(await peerTopics()).includes('twice')), 'the broker no longer has it')
  t.ok(await eventually(async () => !(await admin.listTopics()).has('twice')), 'listTopics no longer shows it')
  const again = await refusal(admin.deleteTopic('twice'))
  t.equal(again.kafkaCode, 3)
})

t.test('a dead bootstrap broker answers BrokerUnavailableError, for reads and writes alike', async (t) => {
  const dead = new KafkaAdmin({ bootstrapBrokers: [`127.0.0.1:${await freePort()}`], timeoutMs: 5000 })
  try {
    const read = await refusal(dead.listTopics())
    t.equal(read.code, 'KSMCP_ERR_BROKER_UNAVAILABLE')
    t.equal(read.statusCode, 503)
    t.match(read.message, 'could not read the cluster metadata: Connection to 127.0.0.1:')
    const write = await refusal(dead.createTopic({ topic: 'orders', partitions: 1, replicationFactor: 1 }))
    t.equal(write.code, 'KSMCP_ERR_BROKER_UNAVAILABLE')
    t.notMatch(write.message, 'may have been applied', 'no request left, so nothing can have been applied')
  } finally {
    await dead.close()
  }
})

// Last: a frozen broker may take a moment to settle once thawed.
t.test('a hung broker: the call ends at its deadline with BrokerUnavailableError, and a write says it may have landed', async (t) => {
  const hung = new KafkaAdmin({ bootstrapBrokers: [kafka.bootstrap], timeoutMs: 1500 })
  try {
    await hung.flavor()
    kafka.pause()
    const write = await refusal(hung.createTopic({ topic: 'frozen', partitions: 1, replicationFactor: 1 }))
    t.equal(write.code, 'KSMCP_ERR_BROKER_UNAVAILABLE')
    t.match(write.message, 'the change may have been applied: read the state back before retrying')
    const read = await refusal(hung.describeGroup('billing'))
    t.equal(read.code, 'KSMCP_ERR_BROKER_UNAVAILABLE')
    t.notMatch(read.message, 'may have been applied')
  } finally {
    kafka.resume()
    await hung.close()
  }
})
