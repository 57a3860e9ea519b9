import { FieldReader, WireWriter } from './protowire.ts'

// kafscale.metadata messages stored in etcd (contract §3.1), field numbers from metadata.proto.

export interface TopicConfig {
  name: string
  partitions: number
  replicationFactor: number
  retentionMs: bigint
  retentionBytes: bigint
  segmentBytes: bigint
  createdAt: string
  config: Record<string, string>
}

export interface Assignment {
  topic: string
  partitions: number[]
}

export interface GroupMember {
  clientId: string
  clientHost: string
  heartbeatAt: string
  assignments: Assignment[]
  subscriptions: string[]
  sessionTimeoutMs: number
}

export interface ConsumerGroup {
  groupId: string
  state: string
  protocolType: string
  protocol: string
  leader: string
  generationId: number
  members: Record<string, GroupMember>
  rebalanceTimeoutMs: number
}

export function decodeTopicConfig (buf: Uint8Array): TopicConfig {
  const out: TopicConfig = { name: '', partitions: 0, replicationFactor: 0, retentionMs: 0n, retentionBytes: 0n, segmentBytes: 0n, createdAt: '', config: {} }
  const f = new FieldReader(buf)
  while (f.next()) {
    switch (f.field) {
      case 1: out.name = f.string(); break
      case 2: out.partitions = f.int32(); break
      case 3: out.replicationFactor = f.int32(); break
      case 4: out.retentionMs = f.int64(); break
      case 5: out.retentionBytes = f.int64(); break
      case 6: out.segmentBytes = f.int64(); break
      case 7: out.createdAt = f.string(); break
      case 8: {
        const [key, value] = decodeStringMapEntry(f.message())
        out.config[key] = value
        break
      }
    }
  }
  return out
}

export function encodeTopicConfig (c: TopicConfig): Uint8Array {
  const w = new WireWriter()
    .string(1, c.name).int(2, c.partitions).int(3, c.replicationFactor)
    .int(4, c.retentionMs).int(5, c.retentionBytes).int(6, c.segmentBytes)
    .string(7, c.createdAt)
  // Go randomises map order; sorted keys make our output deterministic (contract §3.2).
  for (const key of Object.keys(c.config).sort()) {
    w.bytesField(8, new WireWriter().bytesField(1, utf8(key)).bytesField(2, utf8(c.config[key]!)).finish())
  }
  return w.finish()
}

function decodeStringMapEntry (f: FieldReader): [string, string] {
  let key = ''
  let value = ''
  while (f.next()) {
    if (f.field === 1) key = f.string()
    else if (f.field === 2) value = f.string()
  }
  return [key, value]
}

function decodeAssignment (f: FieldReader): Assignment {
  const out: Assignment = { topic: '', partitions: [] }
  while (f.next()) {
    if (f.field === 1) out.topic = f.string()
    else if (f.field === 2) out.partitions.push(...f.int32List())
  }
  return out
}

function decodeGroupMember (f: FieldReader): GroupMember {
  const out: GroupMember = { clientId: '', clientHost: '', heartbeatAt: '', assignments: [], subscriptions: [], sessionTimeoutMs: 0 }
  while (f.next()) {
    switch (f.field) {
      case 1: out.clientId = f.string(); break
      case 2: out.clientHost = f.string(); break
      case 3: out.heartbeatAt = f.string(); break
      case 4: out.assignments.push(decodeAssignment(f.message())); break
      case 5: out.subscriptions.push(f.string()); break
      case 6: out.sessionTimeoutMs = f.int32(); break
    }
  }
  return out
}

export function decodeConsumerGroup (buf: Uint8Array): ConsumerGroup {
  const out: ConsumerGroup = { groupId: '', state: '', protocolType: '', protocol: '', leader: '', generationId: 0, members: {}, rebalanceTimeoutMs: 0 }
  const f = new FieldReader(buf)
  while (f.next()) {
    switch (f.field) {
      case 1: out.groupId = f.string(); break
      case 2: out.state = f.string(); break
      case 3: out.protocolType = f.string(); break
      case 4: out.protocol = f.string(); break
      case 5: out.leader = f.string(); break
      case 6: out.generationId = f.int32(); break
      case 7: {
        let memberId = ''
        let member = decodeGroupMember(new FieldReader(new Uint8Array()))
        const e = f.message()
        while (e.next()) {
          if (e.field === 1) memberId = e.string()
          else if (e.field === 2) member = decodeGroupMember(e.message())
        }
        out.members[memberId] = member
        break
      }
      case 8: out.rebalanceTimeoutMs = f.int32(); break
    }
  }
  return out
}

function encodeGroupMember (m: GroupMember): Uint8Array {
  const w = new WireWriter().string(1, m.clientId).string(2, m.clientHost).string(3, m.heartbeatAt)
  for (const a of m.assignments) w.bytesField(4, new WireWriter().string(1, a.topic).packedInt32(2, a.partitions).finish())
  for (const s of m.subscriptions) w.bytesField(5, utf8(s))
  return w.int(6, m.sessionTimeoutMs).finish()
}

export function encodeConsumerGroup (g: ConsumerGroup): Uint8Array {
  const w = new WireWriter()
    .string(1, g.groupId).string(2, g.state).string(3, g.protocolType).string(4, g.protocol)
    .string(5, g.leader).int(6, g.generationId)
  for (const id of Object.keys(g.members).sort()) {
    w.bytesField(7, new WireWriter().bytesField(1, utf8(id)).bytesField(2, encodeGroupMember(g.members[id]!)).finish())
  }
  return w.int(8, g.rebalanceTimeoutMs).finish()
}

function utf8 (s: string): Uint8Array {
  return new TextEncoder().encode(s)
}
