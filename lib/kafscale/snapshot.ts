import { createHash } from 'node:crypto'
import { asArrayOrNull, asBool, asInt, asObject, asStringOrNull, field, GoJsonError, goJsonStringify } from './gojson.ts'

// `/kafscale/metadata/snapshot`: Go's encoding/json of metadata.ClusterMetadata with kmsg
// v1.12.0 structs (contract §2). Decoding follows Go's reader rules; encoding reproduces the
// writer's bytes exactly (field order, `"UnknownTags":{}`, TopicID as 16 numbers, escapes).

export interface SnapshotBroker {
  nodeId: number
  host: string
  port: number
  rack: string | null
}

export interface SnapshotPartition {
  partition: number
  leader: number
  leaderEpoch: number
  replicas: number[]
  isr: number[]
  offlineReplicas: number[]
  errorCode: number
}

export interface SnapshotTopic {
  name: string
  /** 16 bytes; an all-zero id in storage is replaced by SHA-1(name)[:16], as brokers do. */
  topicId: number[]
  isInternal: boolean
  errorCode: number
  authorizedOperations: number
  partitions: SnapshotPartition[]
}

export interface ClusterSnapshot {
  brokers: SnapshotBroker[]
  controllerId: number
  topics: SnapshotTopic[]
  clusterName: string | null
  clusterId: string | null
}

export const EMPTY_SNAPSHOT: ClusterSnapshot = { brokers: [], controllerId: 0, topics: [], clusterName: null, clusterId: null }

export function topicIdFor (name: string): number[] {
  return [...createHash('sha1').update(name).digest().subarray(0, 16)]
}

export function decodeSnapshot (text: string): ClusterSnapshot {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new GoJsonError(`not JSON: ${(err as Error).message}`)
  }
  const root = asObject(raw, 'snapshot')
  const interned: Interned = new Map()
  return {
    brokers: asArrayOrNull(field(root, 'Brokers'), 'Brokers').map((b, i) => decodeBroker(b, `Brokers[${i}]`)),
    controllerId: asInt(field(root, 'ControllerID'), 'ControllerID', 32),
    topics: asArrayOrNull(field(root, 'Topics'), 'Topics').map((t, i) => decodeTopic(t, `Topics[${i}]`, interned)),
    clusterName: asStringOrNull(field(root, 'ClusterName'), 'ClusterName'),
    clusterId: asStringOrNull(field(root, 'ClusterID'), 'ClusterID')
  }
}

function decodeBroker (value: unknown, path: string): SnapshotBroker {
  const b = asObject(value, path)
  checkUnknownTags(b, path)
  return {
    nodeId: asInt(field(b, 'NodeID'), `${path}.NodeID`, 32),
    host: asStringOrNull(field(b, 'Host'), `${path}.Host`) ?? '',
    port: asInt(field(b, 'Port'), `${path}.Port`, 32),
    rack: asStringOrNull(field(b, 'Rack'), `${path}.Rack`)
  }
}

function decodeTopic (value: unknown, path: string, interned: Interned): SnapshotTopic {
  const t = asObject(value, path)
  checkUnknownTags(t, path)
  // A null name crashes every Go reader (contract §2.6); we refuse the snapshot instead.
  const name = asStringOrNull(field(t, 'Topic'), `${path}.Topic`)
  if (name === null) throw new GoJsonError(`${path}.Topic: topic name is null`)
  const id = decodeTopicId(field(t, 'TopicID'), `${path}.TopicID`)
  return {
    name,
    topicId: id.every((b) => b === 0) ? topicIdFor(name) : id,
    isInternal: asBool(field(t, 'IsInternal'), `${path}.IsInternal`),
    errorCode: asInt(field(t, 'ErrorCode'), `${path}.ErrorCode`, 16),
    authorizedOperations: asInt(field(t, 'AuthorizedOperations'), `${path}.AuthorizedOperations`, 32),
    partitions: asArrayOrNull(field(t, 'Partitions'), `${path}.Partitions`).map((p, i) => decodePartition(p, `${path}.Partitions[${i}]`, interned))
  }
}

// Nearly every partition of a cluster has the same replica and ISR lists: decoding shares one
// frozen array per distinct list, which keeps a 100,000-partition snapshot small in memory.
type Interned = Map<string, number[]>

function decodePartition (value: unknown, path: string, interned: Interned): SnapshotPartition {
  const p = asObject(value, path)
  checkUnknownTags(p, path)
  const int32s = (name: string): number[] => {
    const list = asArrayOrNull(field(p, name), `${path}.${name}`).map((n, i) => asInt(n, `${path}.${name}[${i}]`, 32))
    const key = list.join(',')
    let shared = interned.get(key)
    if (shared === undefined) interned.set(key, shared = Object.freeze(list) as number[])
    return shared
  }
  return {
    partition: asInt(field(p, 'Partition'), `${path}.Partition`, 32),
    leader: asInt(field(p, 'Leader'), `${path}.Leader`, 32),
    leaderEpoch: asInt(field(p, 'LeaderEpoch'), `${path}.LeaderEpoch`, 32),
    replicas: int32s('Replicas'),
    isr: int32s('ISR'),
    offlineReplicas: int32s('OfflineReplicas'),
    errorCode: asInt(field(p, 'ErrorCode'), `${path}.ErrorCode`, 16)
  }
}

// [16]byte: an array of numbers 0..255; shorter arrays are zero-padded, extra items ignored.
function decodeTopicId (value: unknown, path: string): number[] {
  if (value !== undefined && value !== null && !Array.isArray(value)) {
    throw new GoJsonError(`${path}: cannot unmarshal ${typeof value} into [16]uint8`)
  }
  const items = value ?? []
  const id = new Array<number>(16).fill(0)
  for (let i = 0; i < Math.min(16, items.length); i++) {
    const n = items[i]
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 255) {
      throw new GoJsonError(`${path}[${i}]: cannot unmarshal ${JSON.stringify(n)} into uint8`)
    }
    id[i] = n
  }
  return id
}

function checkUnknownTags (obj: Record<string, unknown>, path: string): void {
  const tags = field(obj, 'UnknownTags')
  if (Array.isArray(tags)) throw new GoJsonError(`${path}.UnknownTags: cannot unmarshal array into kmsg.Tags`)
}

export function encodeSnapshot (s: ClusterSnapshot): string {
  const nullIfEmpty = (xs: number[]): number[] | null => (xs.length === 0 ? null : xs)
  return goJsonStringify({
    Brokers: s.brokers.length === 0 ? null : s.brokers.map((b) => ({ NodeID: b.nodeId, Host: b.host, Port: b.port, Rack: b.rack, UnknownTags: {} })),
    ControllerID: s.controllerId,
    Topics: s.topics.length === 0
      ? null
      : s.topics.map((t) => ({
        ErrorCode: t.errorCode,
        Topic: t.name,
        TopicID: t.topicId,
        IsInternal: t.isInternal,
        Partitions: t.partitions.length === 0
          ? null
          : t.partitions.map((p) => ({
            ErrorCode: p.errorCode,
            Partition: p.partition,
            Leader: p.leader,
            LeaderEpoch: p.leaderEpoch,
            Replicas: nullIfEmpty(p.replicas),
            ISR: nullIfEmpty(p.isr),
            OfflineReplicas: nullIfEmpty(p.offlineReplicas),
            UnknownTags: {}
          })),
        AuthorizedOperations: t.authorizedOperations,
        UnknownTags: {}
      })),
    ClusterName: s.clusterName,
    ClusterID: s.clusterId
  })
}
