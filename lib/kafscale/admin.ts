import {
  Admin,
  ConfigResourceTypes,
  ConfigSources,
  findErrorBy,
  FindCoordinatorKeyTypes,
  kGetApi,
  kGetBootstrapConnection,
  kGetConnection,
  type API,
  type Broker,
  type Connection
} from '@platformatic/kafka'
import { BrokerNoAnswerError, BrokerUnavailableError, isCodedError } from '../errors.ts'
import { brokerError, unsupportedApiError, type BrokerErrorContext, type BrokerFlavor } from './admin-errors.ts'

export type { BrokerFlavor } from './admin-errors.ts'
export { isBrokerRefusal, type BrokerRefusal } from './admin-errors.ts'

// The Kafka admin API of KafScale's brokers (or Apache Kafka's), for the mutation tools.
//
// Writes go through the version-negotiated wire calls of @platformatic/kafka rather than its
// Admin methods, because those drop the per-item answers: KafScale answers an API or version it
// lacks with an EMPTY reply and no error code, so every write here demands an explicit error
// code 0 for the very item it sent, and a missing item is a failure. No write ever sets
// validate_only (KafScale ignores it and applies the change), and no Metadata request names a
// topic (KafScale auto-creates a topic named in one). The library's retries are off: a retried
// write whose first attempt did land would answer "already exists"; callers own retries.

export interface KafkaAdminOptions {
  bootstrapBrokers: string[]
  /** The Kafka client.id; KafScale's ACLs name it as the principal (give it `admin` on `cluster`). */
  clientId?: string
  /** Deadline of each method, connecting included. */
  timeoutMs?: number
}

export interface TopicInfo {
  partitions: number
  replicationFactor: number
  /** Absent when the broker reports none (the all-zero id). */
  topicId?: string
}

export interface BrokerInfo {
  nodeId: number
  host: string
  port: number
  rack: string | null
}

export interface ClusterMetadata {
  clusterId: string | null
  controllerId: number
  brokers: BrokerInfo[]
  /** Topics by name, in name order; internal topics (__consumer_offsets) left out. */
  topics: Map<string, TopicInfo>
}

/** Where a config value comes from: set on the topic, inherited from the broker, or the built-in default. */
export type ConfigSource = 'topic' | 'broker' | 'default' | 'unknown'

export interface TopicConfigEntry {
  name: string
  value: string | null
  source: ConfigSource
  readOnly: boolean
  /** True unless the value is set on the topic itself. */
  isDefault: boolean
  sensitive: boolean
}

export interface GroupMember {
  memberId: string
  groupInstanceId: string | null
  clientId: string
  clientHost: string
  assignments: Array<{ topic: string, partitions: number[] }>
}

export interface GroupDescription {
  groupId: string
  /** As the coordinator says it: Stable, Empty, PreparingRebalance, CompletingRebalance… */
  state: string
  protocolType: string
  protocol: string
  members: GroupMember[]
}

export interface CommittedOffset {
  topic: string
  partition: number
  offset: bigint
  metadata: string | null
}

export interface NewTopic {
  topic: string
  partitions: number
  replicationFactor: number
}

const DEFAULT_CLIENT_ID = 'kafscale-mcp'
const DEFAULT_TIMEOUT_MS = 10_000
const NO_TOPIC_ID = '00000000-0000-0000-0000-000000000000'

const CONFIG_SOURCES: Record<number, ConfigSource> = {
  [ConfigSources.DYNAMIC_TOPIC_CONFIG]: 'topic',
  [ConfigSources.DYNAMIC_BROKER_CONFIG]: 'broker',
  [ConfigSources.DYNAMIC_DEFAULT_BROKER_CONFIG]: 'broker',
  [ConfigSources.STATIC_BROKER_CONFIG]: 'broker',
  [ConfigSources.DEFAULT_CONFIG]: 'default'
}

/** One method call: whether it changes state, and whether its change request has left. */
interface Call {
  write: boolean
  sent: boolean
}

/** A write that failed after its request left may still have been applied. */
function maybeApplied ({ write, sent }: Call): string {
  return write && sent ? '; the change may have been applied: read the state back before retrying' : ''
}

/** One item of a reply: the broker's answer for one topic, resource or group. */
interface ItemAnswer {
  name: string | null
  errorCode: number
  errorMessage?: string | null
}

interface MetadataReply {
  brokers: Array<{ nodeId: number, host: string, port: number, rack: string | null }>
  clusterId: string | null
  controllerId: number
  topics: Array<{ name: string | null, topicId?: string, isInternal: boolean, partitions: Array<{ replicaNodes: number[] }> }>
}

interface DescribeConfigsReply {
  results: Array<{
    errorCode: number
    errorMessage: string | null
    resourceName: string
    configs: Array<{ name: string, value: string | null, readOnly: boolean, configSource: number, isSensitive: boolean }>
  }>
}

export class KafkaAdmin {
  readonly #admin: Admin
  readonly #clientId: string
  readonly #timeoutMs: number
  readonly #brokers: string
  #flavor: Promise<BrokerFlavor> | undefined
  #knownFlavor: BrokerFlavor | undefined

  constructor (options: KafkaAdminOptions) {
    this.#clientId = options.clientId ?? DEFAULT_CLIENT_ID
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#brokers = options.bootstrapBrokers.join(',')
    this.#admin = new Admin({
      clientId: this.#clientId,
      bootstrapBrokers: options.bootstrapBrokers,
      retries: 0,
      connectTimeout: this.#timeoutMs,
      requestTimeout: this.#timeoutMs,
      timeout: this.#timeoutMs
    })
  }

  /**
   * 'kafscale' when the broker's ApiVersions lacks IncrementalAlterConfigs (API key 44), else
   * 'kafka'. Apache Kafka has answered key 44 since 2.3 and every broker that current clients
   * speak to has it; KafScale's broker does not implement it. So the heuristic only misnames an
   * Apache Kafka older than 2.3, or a KafScale that someday adds the API (then it is treated as
   * Apache Kafka, which is only about wording: no request depends on the flavor).
   */
  async flavor (): Promise<BrokerFlavor> {
    return await this.#within('read the broker API versions', false, async () => await this.#loadFlavor())
  }

  /** Brokers and topics from one Metadata request that names no topic, so none is auto-created. */
  async clusterMetadata (): Promise<ClusterMetadata> {
    return await this.#within('read the cluster metadata', false, async (call) => {
      // null asks for every topic; an empty list would ask for none; allow_auto_topic_creation is false.
      const reply = await this.#send<MetadataReply>(call, 'Metadata', 'the cluster metadata', await this.#bootstrapConnection(), null, false, false)
      const topics = new Map<string, TopicInfo>()
      const listed = reply.topics.filter((t): t is typeof t & { name: string } => t.name !== null && !t.isInternal)
      for (const t of listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        const info: TopicInfo = { partitions: t.partitions.length, replicationFactor: t.partitions[0]?.replicaNodes.length ?? 0 }
        if (t.topicId !== undefined && t.topicId !== NO_TOPIC_ID && t.topicId !== t.name) info.topicId = t.topicId
        topics.set(t.name, info)
      }
      return {
        clusterId: reply.clusterId,
        controllerId: reply.controllerId,
        brokers: reply.brokers.map(({ nodeId, host, port, rack }) => ({ nodeId, host, port, rack })).sort((a, b) => a.nodeId - b.nodeId),
        topics
      }
    })
  }

  async listTopics (): Promise<Map<string, TopicInfo>> {
    return (await this.clusterMetadata()).topics
  }

  async brokers (): Promise<BrokerInfo[]> {
    return (await this.clusterMetadata()).brokers
  }

  /** Every config entry of a topic. Only for a topic known to exist (from listTopics or the snapshot). */
  async describeTopicConfig (topic: string): Promise<TopicConfigEntry[]> {
    const item = `topic ${quote(topic)}`
    const action = `describe the config of ${item}`
    return await this.#within(action, false, async (call) => {
      const reply = await this.#send<DescribeConfigsReply>(call, 'DescribeConfigs', item, await this.#bootstrapConnection(),
        [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic, configurationKeys: null }], false, false)
      const result = reply.results.find((r) => r.resourceName === topic)
      this.#expectAccepted(result === undefined ? [] : [{ ...result, name: result.resourceName }], topic, item, 'DescribeConfigs', action)
      return result!.configs
        .map(({ name, value, readOnly, configSource, isSensitive }) => {
          const source = CONFIG_SOURCES[configSource] ?? 'unknown'
          return { name, value, source, readOnly, isDefault: source !== 'topic', sensitive: isSensitive }
        })
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    })
  }

  /**
   * The group as its coordinator describes it. A group the coordinator does not know is refused
   * with GROUP_ID_NOT_FOUND: DescribeGroups up to v5 answers it as state Dead with no error, which
   * v6 turned into that error.
   */
  async describeGroup (groupId: string): Promise<GroupDescription> {
    const action = `describe group ${quote(groupId)}`
    return await this.#within(action, false, async () => {
      const group = (await this.#admin.describeGroups({ groups: [groupId] })).get(groupId)
      if (group === undefined) throw new BrokerNoAnswerError(`group ${quote(groupId)}`, 'DescribeGroups')
      if (group.state.toLowerCase() === 'dead') throw brokerError(69, null, action, this.#context())
      return {
        groupId,
        state: group.state,
        protocolType: group.protocolType,
        protocol: group.protocol,
        members: [...group.members.values()].map((m) => ({
          memberId: m.id,
          groupInstanceId: m.groupInstanceId ?? null,
          clientId: m.clientId,
          clientHost: m.clientHost,
          assignments: [...(m.assignments?.values() ?? [])].map(({ topic, partitions }) => ({ topic, partitions: [...partitions].sort((a, b) => a - b) }))
        }))
      }
    })
  }

  /** The group's committed offsets, by topic then partition; none for a group without offsets. */
  async groupOffsets (groupId: string): Promise<CommittedOffset[]> {
    return await this.#within(`read the committed offsets of group ${quote(groupId)}`, false, async () => {
      const groups = await this.#admin.listConsumerGroupOffsets({ groups: [groupId] })
      return groups
        .filter((g) => g.groupId === groupId)
        .flatMap((g) => g.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, metadata: p.metadata ?? null }))))
        .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
    })
  }

  async createTopic ({ topic, partitions, replicationFactor }: NewTopic): Promise<void> {
    const item = `topic ${quote(topic)}`
    const action = `create ${item}`
    await this.#within(action, true, async (call) => {
      const reply = await this.#send<{ topics: ItemAnswer[] }>(call, 'CreateTopics', item, await this.#bootstrapConnection(),
        [{ name: topic, numPartitions: partitions, replicationFactor, assignments: [], configs: [] }], this.#timeoutMs, false)
      this.#expectAccepted(reply.topics, topic, item, 'CreateTopics', action)
    })
  }

  async deleteTopic (topic: string): Promise<void> {
    const item = `topic ${quote(topic)}`
    const action = `delete ${item}`
    await this.#within(action, true, async (call) => {
      const reply = await this.#send<{ responses: ItemAnswer[] }>(call, 'DeleteTopics', item, await this.#bootstrapConnection(), [{ name: topic }], this.#timeoutMs)
      this.#expectAccepted(reply.responses, topic, item, 'DeleteTopics', action)
    })
  }

  /** Grows the topic to `totalCount` partitions (a total, not an increment). */
  async createPartitions (topic: string, totalCount: number): Promise<void> {
    const item = `topic ${quote(topic)}`
    const action = `grow ${item} to ${totalCount} partitions`
    await this.#within(action, true, async (call) => {
      const reply = await this.#send<{ results: ItemAnswer[] }>(call, 'CreatePartitions', item, await this.#bootstrapConnection(),
        [{ name: topic, count: totalCount, assignments: null }], this.#timeoutMs, false)
      this.#expectAccepted(reply.results, topic, item, 'CreatePartitions', action)
    })
  }

  /**
   * Sets the topic's config with the legacy AlterConfigs (API key 33), which KafScale supports
   * (IncrementalAlterConfigs it does not). Apache Kafka replaces the whole set with what is sent
   * and KafScale merges it into the stored one, so `fullSet` must be the full merged set — every
   * key that should stay set on the topic — for both to end in the same state.
   */
  async alterTopicConfig (topic: string, fullSet: Record<string, string>): Promise<void> {
    const item = `topic ${quote(topic)}`
    const action = `change the config of ${item}`
    await this.#within(action, true, async (call) => {
      const configs = Object.entries(fullSet).map(([name, value]) => ({ name, value }))
      const reply = await this.#send<{ responses: Array<{ resourceName: string, errorCode: number, errorMessage: string | null }> }>(call, 'AlterConfigs', item,
        await this.#bootstrapConnection(), [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic, configs }], false)
      this.#expectAccepted(reply.responses.map((r) => ({ ...r, name: r.resourceName })), topic, item, 'AlterConfigs', action)
    })
  }

  /**
   * Deletes the group. Apache Kafka refuses a group with live members (NON_EMPTY_GROUP) and drops
   * its offsets; KafScale deletes it even with members and keeps its committed offsets.
   */
  async deleteGroup (groupId: string): Promise<void> {
    const item = `group ${quote(groupId)}`
    const action = `delete ${item}`
    await this.#within(action, true, async (call) => {
      const [coordinator] = await this.#admin.findCoordinator({ keyType: FindCoordinatorKeyTypes.GROUP, keys: [groupId] })
      if (coordinator === undefined) throw new BrokerNoAnswerError(item, 'FindCoordinator')
      const reply = await this.#send<{ results: Array<{ groupId: string, errorCode: number }> }>(call, 'DeleteGroups', item,
        await this.#connectionTo(coordinator), [groupId])
      this.#expectAccepted(reply.results.map((r) => ({ ...r, name: r.groupId })), groupId, item, 'DeleteGroups', action)
    })
  }

  async close (): Promise<void> {
    await this.#admin.close()
  }

  /** Throws unless the reply holds an answer for `name` with error code 0. */
  #expectAccepted (answers: ItemAnswer[], name: string, item: string, api: string, action: string): void {
    const answer = answers.find((a) => a.name === name)
    if (answer === undefined) throw new BrokerNoAnswerError(item, api)
    if (answer.errorCode !== 0) throw brokerError(answer.errorCode, answer.errorMessage, action, this.#context())
  }

  /**
   * One wire call at the version both sides speak. The reply comes back even when it carries
   * error codes (the library throws those, with the reply attached): callers read each item's code.
   */
  async #send<Reply> (call: Call, apiName: string, item: string, connection: Connection, ...args: unknown[]): Promise<Reply> {
    const api = await new Promise<API<unknown[], Reply>>((resolve, reject) => {
      this.#admin[kGetApi]<unknown[], Reply>(apiName, (err, found) => { if (err !== null) reject(err); else resolve(found!) })
    })
    call.sent = true
    try {
      return await api.async(connection, ...args)
    } catch (err) {
      const withReply = err as { code?: string, response?: Reply }
      if (withReply.code === 'PLT_KFK_RESPONSE' && withReply.response !== undefined) return withReply.response
      if (findErrorBy(err as Error, 'code', 'PLT_KFK_NETWORK') !== null) throw err
      // A reply that cannot be decoded: KafScale's empty reply to an API or version it lacks.
      throw new BrokerNoAnswerError(item, apiName)
    }
  }

  async #bootstrapConnection (): Promise<Connection> {
    return await new Promise((resolve, reject) => {
      this.#admin[kGetBootstrapConnection]((err, connection) => { if (err !== null) reject(err); else resolve(connection!) })
    })
  }

  async #connectionTo (broker: Broker): Promise<Connection> {
    return await new Promise((resolve, reject) => {
      this.#admin[kGetConnection]({ host: broker.host, port: broker.port }, (err, connection) => { if (err !== null) reject(err); else resolve(connection!) })
    })
  }

  /**
   * The flavor, asked once per client (a failed ask is asked again): error texts depend on it.
   * Asked through kGetApi, which fetches ApiVersions once and keeps them for every later call.
   */
  async #loadFlavor (): Promise<BrokerFlavor> {
    this.#flavor ??= new Promise((resolve, reject) => {
      this.#admin[kGetApi]('IncrementalAlterConfigs', (err) => {
        if (err === null) resolve('kafka')
        // "No usable implementation" (the API is there, at versions this client lacks) carries the range.
        else if ((err as { code?: string }).code === 'PLT_KFK_UNSUPPORTED_API' && !('maxVersion' in err)) resolve('kafscale')
        else reject(err)
      })
    })
    try {
      this.#knownFlavor = await this.#flavor
      return this.#knownFlavor
    } catch (err) {
      this.#flavor = undefined
      throw err
    }
  }

  #context (): BrokerErrorContext {
    return { flavor: this.#knownFlavor ?? 'kafka', clientId: this.#clientId, brokers: this.#brokers }
  }

  /** Runs `work` within the deadline, the flavor known first, and turns every failure into a declared error. */
  async #within<T> (action: string, write: boolean, work: (call: Call) => Promise<T>): Promise<T> {
    const call: Call = { write, sent: false }
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new BrokerUnavailableError(this.#brokers, `no answer within ${this.#timeoutMs} ms to ${action}${maybeApplied(call)}`))
      }, this.#timeoutMs)
    })
    const flavored = async (): Promise<T> => {
      await this.#loadFlavor()
      return await work(call)
    }
    try {
      return await Promise.race([flavored(), deadline])
    } catch (err) {
      throw this.#translate(err, action, call)
    } finally {
      clearTimeout(timer)
    }
  }

  #translate (err: unknown, action: string, call: Call): unknown {
    if (isCodedError(err) || !(err instanceof Error)) return err
    const refused = findProtocolError(err)
    if (refused !== undefined) return brokerError(refused.apiCode, refused.serverErrorMessage, action, this.#context())
    if (findErrorBy(err, 'code', 'PLT_KFK_UNSUPPORTED_API') !== null) return unsupportedApiError(action, innermost(err).message)
    return new BrokerUnavailableError(this.#brokers, `could not ${action}: ${innermost(err).message.replace(/\.$/, '')}${maybeApplied(call)}`)
  }
}

function quote (name: string): string {
  return JSON.stringify(name)
}

interface ProtocolErrorLike { apiCode: number, serverErrorMessage: string | null }

/** The first error in the library's error tree that carries a Kafka error code. */
function findProtocolError (err: unknown): ProtocolErrorLike | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const candidate = err as Partial<ProtocolErrorLike> & { errors?: unknown[] }
  if (typeof candidate.apiCode === 'number') return { apiCode: candidate.apiCode, serverErrorMessage: candidate.serverErrorMessage ?? null }
  for (const inner of candidate.errors ?? []) {
    const found = findProtocolError(inner)
    if (found !== undefined) return found
  }
  return undefined
}

/** The deepest first cause: the library wraps "Connection refused" in "Listing topics failed." and the like. */
function innermost (err: Error): Error {
  const inner = (err as { errors?: unknown[] }).errors?.[0]
  return inner instanceof Error ? innermost(inner) : err
}
