import { fileURLToPath } from 'node:url'
import { Client, credentials, status as grpcStatus, type ChannelOptions, type ServiceError } from '@grpc/grpc-js'
import { loadSync, type MethodDefinition, type ServiceDefinition } from '@grpc/proto-loader'
import {
  BrokerControlFailedError, BrokerControlNoAddressError, BrokerControlUnavailableError, ControlNotImplementedError, InvalidInputError
} from '../errors.ts'
import { bareHost, eachBroker, type BrokerOutcome } from '../per-broker.ts'
import type { SnapshotBroker } from './snapshot.ts'

// KafScale's broker control plane (control.proto): package kafscale.control, service
// BrokerControl, plaintext gRPC on each broker (default port 19094). Today's broker answers
// GetStatus with one pseudo-partition carrying its S3 health and UNIMPLEMENTED for
// DrainPartitions and TriggerFlush; both are mapped to declared errors that say so.

export const DEFAULT_CONTROL_PORT = 19094

/** The pseudo-partition in which today's broker reports S3 health instead of a real partition. */
export const S3_HEALTH_TOPIC = '__s3_health'

export interface PartitionRef {
  topic: string
  partition: number
}

export interface PartitionStatus extends PartitionRef {
  /** This broker leads the partition. */
  leader: boolean
  state: string
  logStartOffset: number
  logEndOffset: number
  highWatermark: number
}

export interface S3Health {
  /** healthy, degraded or unavailable */
  state: string
  avgLatencyMs: number
  /** 0–1, to the broker's resolution of 0.001 */
  errorRate: number
}

export interface BrokerStatus {
  /** The id the broker reports for itself (its node id, as text). */
  brokerId: string
  version: string
  ready: boolean
  /** Decoded from the `__s3_health` pseudo-partition; absent when the broker sends none. */
  s3?: S3Health
  /** Real partitions only. */
  partitions: PartitionStatus[]
}

export interface DrainResult {
  drained: PartitionRef[]
  pending: PartitionRef[]
}

export interface FlushResult {
  flushed: PartitionRef[]
}

/** A broker of the snapshot and where its control plane listens. */
export interface ControlTarget {
  nodeId: number
  host: string
  /** host:port; undefined when the broker has none (the error of its result says why). */
  address?: string
}

const INT32_MAX = 2 ** 31 - 1

type Method = 'GetStatus' | 'DrainPartitions' | 'TriggerFlush'

interface WirePartitionStatus {
  topic: string
  partition: number
  leader: boolean
  state: string
  // int64 arrives as decimal text (longs: String), so no value is rounded before it is checked.
  log_start_offset: string
  log_end_offset: string
  high_watermark: string
}

interface WireStatus {
  broker_id: string
  version: string
  ready: boolean
  partitions: WirePartitionStatus[]
}

const SERVICE = loadSync(fileURLToPath(new URL('./control.proto', import.meta.url)), {
  keepCase: true,
  longs: String,
  defaults: true
})['kafscale.control.BrokerControl'] as ServiceDefinition

const CHANNEL_OPTIONS: ChannelOptions = {
  // gRPC's default backoff grows to 2 minutes: a restarted broker would read as down that long.
  'grpc.max_reconnect_backoff_ms': 5000
}

export interface ControlClientOptions {
  /** Deadline of each call; a drain adds the deadline it gives the broker. */
  timeoutMs: number
}

/** One broker's control plane over one channel; close() releases it. */
export class BrokerControlClient {
  readonly target: Required<ControlTarget>
  private readonly client: Client
  private readonly timeoutMs: number

  constructor (target: Required<ControlTarget>, options: ControlClientOptions) {
    this.target = target
    this.timeoutMs = options.timeoutMs
    this.client = new Client(target.address, credentials.createInsecure(), CHANNEL_OPTIONS)
  }

  async getStatus (): Promise<BrokerStatus> {
    return this.decodeStatus(await this.call<WireStatus>('GetStatus', {}, this.timeoutMs))
  }

  /** Asks the broker to hand off `refs` within `deadlineSeconds`; what it could not yet is `pending`. */
  async drainPartitions (refs: readonly PartitionRef[], reason: string, deadlineSeconds: number): Promise<DrainResult> {
    requirePartitions(refs)
    if (!Number.isInteger(deadlineSeconds) || deadlineSeconds < 0 || deadlineSeconds > INT32_MAX) throw new InvalidInputError(`deadline_seconds: ${deadlineSeconds} is not a whole number of seconds from 0 to ${INT32_MAX}`)
    // The broker may take the whole drain deadline before it answers.
    const answer = await this.call<{ drained: PartitionRef[], pending: PartitionRef[] }>('DrainPartitions',
      { partitions: refs.map(wireRef), reason, deadline_seconds: deadlineSeconds }, deadlineSeconds * 1000 + this.timeoutMs)
    return { drained: answer.drained.map(wireRef), pending: answer.pending.map(wireRef) }
  }

  /** Flushes the named partitions' buffered segments to S3, or every partition the broker is assigned. */
  async triggerFlush (refs: readonly PartitionRef[] | 'all'): Promise<FlushResult> {
    if (refs !== 'all') requirePartitions(refs)
    const request = refs === 'all' ? { partitions: [], all_assigned: true } : { partitions: refs.map(wireRef), all_assigned: false }
    const answer = await this.call<{ flushed: PartitionRef[] }>('TriggerFlush', request, this.timeoutMs)
    return { flushed: answer.flushed.map(wireRef) }
  }

  close (): void {
    this.client.close()
  }

  private async call<R extends object> (method: Method, request: object, timeoutMs: number): Promise<R> {
    // The loaded definition is untyped: R is what control.proto says this method answers.
    const definition = SERVICE[method] as unknown as MethodDefinition<object, R>
    return await new Promise<R>((resolve, reject) => {
      this.client.makeUnaryRequest(definition.path, definition.requestSerialize, definition.responseDeserialize, request,
        { deadline: Date.now() + timeoutMs }, (err, answer) => {
          if (err !== null) reject(this.controlError(err, method, timeoutMs))
          else resolve(answer!)
        })
    })
  }

  private controlError (err: ServiceError, method: Method, timeoutMs: number): Error {
    const { nodeId, address } = this.target
    switch (err.code) {
      case grpcStatus.UNIMPLEMENTED: return new ControlNotImplementedError(nodeId, address, method)
      case grpcStatus.UNAVAILABLE: return new BrokerControlUnavailableError(nodeId, address, connectionFailure(err.details))
      case grpcStatus.DEADLINE_EXCEEDED: return new BrokerControlUnavailableError(nodeId, address, `${method} got no answer within ${timeoutMs} ms`)
      default: return new BrokerControlFailedError(nodeId, address, method, `${grpcStatus[err.code]}: ${err.details}`)
    }
  }

  private decodeStatus (wire: WireStatus): BrokerStatus {
    const int64 = (text: string, field: string): number => {
      const n = Number(text)
      if (!Number.isSafeInteger(n)) throw new BrokerControlFailedError(this.target.nodeId, this.target.address, 'GetStatus', `${field} ${text} is beyond what a JSON number holds exactly`)
      return n
    }
    const status: BrokerStatus = { brokerId: wire.broker_id, version: wire.version, ready: wire.ready, partitions: [] }
    for (const p of wire.partitions) {
      if (p.topic === S3_HEALTH_TOPIC) {
        // The broker writes the latency in both log offsets and int64(rate × 1000) in the watermark.
        status.s3 = { state: p.state, avgLatencyMs: int64(p.log_start_offset, 'S3 latency'), errorRate: int64(p.high_watermark, 'S3 error rate') / 1000 }
        continue
      }
      status.partitions.push({
        topic: p.topic,
        partition: p.partition,
        leader: p.leader,
        state: p.state,
        logStartOffset: int64(p.log_start_offset, `${p.topic}/${p.partition} log_start_offset`),
        logEndOffset: int64(p.log_end_offset, `${p.topic}/${p.partition} log_end_offset`),
        highWatermark: int64(p.high_watermark, `${p.topic}/${p.partition} high_watermark`)
      })
    }
    return status
  }
}

/** grpc-js words a failed connection as "No connection established. Last error: Error: X. Resolution note: …": X is the news. */
function connectionFailure (details: string): string {
  return details.replace(/^No connection established\. Last error: (?:Error: )?/, '').replace(/\.? ?Resolution note: ?$/, '')
}

function wireRef ({ topic, partition }: PartitionRef): PartitionRef {
  return { topic, partition }
}

/** An empty list would leave the broker to guess between "nothing" and "everything". */
function requirePartitions (refs: readonly PartitionRef[]): void {
  if (refs.length === 0) throw new InvalidInputError('partitions: name at least one partition')
}

export interface BrokerStatusResult extends BrokerOutcome<ControlTarget> {
  status?: BrokerStatus
}

export interface PartitionLeader extends PartitionRef {
  nodeId: number
}

/** Which broker says it leads which partition, from the brokers that answered. */
export function partitionLeaders (results: readonly BrokerStatusResult[]): PartitionLeader[] {
  return results.flatMap(({ target, status }) =>
    (status?.partitions ?? []).filter((p) => p.leader).map((p) => ({ topic: p.topic, partition: p.partition, nodeId: target.nodeId })))
}

export interface ControlPoolOptions {
  /** The control port on each broker's snapshot host; 0: only the explicit addresses. */
  port: number
  /** Explicit host:port by node id; they win over the derived address. */
  addresses: Map<number, string>
  timeoutMs: number
}

/**
 * Every broker's control plane: one client per broker and address, kept until close(). Clients
 * of one address share its connection (grpc-js pools subchannels by address), and each keeps its
 * own broker's name for its errors.
 */
export class BrokerControlPool {
  private readonly options: ControlPoolOptions
  private readonly clients = new Map<string, BrokerControlClient>()

  constructor (options: ControlPoolOptions) {
    this.options = options
  }

  get configured (): boolean {
    return this.options.port > 0 || this.options.addresses.size > 0
  }

  /** The broker's explicit address, else its snapshot host with the control port (as metrics URLs are made). */
  target (broker: Pick<SnapshotBroker, 'nodeId' | 'host'>): ControlTarget {
    const explicit = this.options.addresses.get(broker.nodeId)
    const derived = broker.host !== '' && this.options.port > 0 ? `${bareHost(broker.host)}:${this.options.port}` : undefined
    const address = explicit ?? derived
    return { nodeId: broker.nodeId, host: broker.host, ...(address !== undefined ? { address } : {}) }
  }

  /** The broker's client, for the calls that change something; throws when it has no address. */
  client (broker: Pick<SnapshotBroker, 'nodeId' | 'host'>): BrokerControlClient {
    const target = this.target(broker)
    if (target.address === undefined) {
      throw new BrokerControlNoAddressError(target.nodeId, this.options.port > 0 ? 'its snapshot host is empty' : 'the control port is 0')
    }
    const key = `${target.nodeId} ${target.address}`
    let client = this.clients.get(key)
    if (client === undefined) {
      client = new BrokerControlClient({ ...target, address: target.address }, { timeoutMs: this.options.timeoutMs })
      this.clients.set(key, client)
    }
    return client
  }

  /** GetStatus of every broker at once; each broker's failure is its own result. */
  async statuses (brokers: readonly SnapshotBroker[]): Promise<BrokerStatusResult[]> {
    return await eachBroker(brokers.map((b) => this.target(b)), 'KSMCP_ERR_CONTROL_FAILED', async (target) => ({ target, status: await this.client(target).getStatus() }))
  }

  close (): void {
    for (const client of this.clients.values()) client.close()
    this.clients.clear()
  }
}
