import { loadPackageDefinition, Server, ServerCredentials, status, type GrpcObject, type ServiceClientConstructor, type ServiceError, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { fileURLToPath } from 'node:url'

// A real gRPC server speaking KafScale's BrokerControl from the service's own control.proto, on a
// free loopback port. `today` answers as today's broker does (GetStatus with the __s3_health
// pseudo-partition, UNIMPLEMENTED for drain and flush); `full` also drains and flushes, and
// records what it was asked.

const PROTO = fileURLToPath(new URL('../../lib/kafscale/control.proto', import.meta.url))
const loaded = loadPackageDefinition(loadSync(PROTO, { keepCase: true, longs: String, defaults: true }))
const BrokerControl = ((loaded.kafscale as GrpcObject).control as GrpcObject).BrokerControl as ServiceClientConstructor

export interface WireRef { topic: string, partition: number }

export interface WirePartition extends WireRef {
  leader: boolean
  state: string
  /** int64 fields as the broker could send them: numbers, or decimal text beyond 2^53. */
  log_start_offset: number | string
  log_end_offset: number | string
  high_watermark: number | string
}

export interface ControlServerOptions {
  behaviour: 'today' | 'full'
  nodeId: number
  version?: string
  /** S3 health as the broker's health tracker holds it: latency in ms, error rate 0–1. */
  s3?: { state: string, latencyMs: number | string, errorRate: number }
  /** Real partitions, listed after the S3 pseudo-partition (today's broker sends none). */
  partitions?: WirePartition[]
  /** GetStatus never answers: a hung broker. */
  hang?: boolean
  /** The partitions a drain leaves pending (full behaviour); the others drain. */
  pending?: WireRef[]
}

export interface ControlServer {
  port: number
  /** 127.0.0.1:PORT */
  address: string
  drains: Array<{ partitions: WireRef[], reason: string, deadline_seconds: number }>
  flushes: Array<{ partitions: WireRef[], all_assigned: boolean }>
  close: () => Promise<void>
}

type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void

const unimplemented = (method: string): ServiceError => Object.assign(new Error(`${method} not implemented`), { code: status.UNIMPLEMENTED, details: `${method} not implemented`, metadata: undefined as never })

export async function startControlServer (options: ControlServerOptions): Promise<ControlServer> {
  const s3 = options.s3 ?? { state: 'healthy', latencyMs: 37, errorRate: 0 }
  const drains: ControlServer['drains'] = []
  const flushes: ControlServer['flushes'] = []
  const getStatus: Unary<object, object> = (_call, callback) => {
    if (options.hang === true) return
    callback(null, {
      broker_id: String(options.nodeId),
      version: options.version ?? '1.5.0',
      ready: s3.state === 'healthy',
      partitions: [
        // As the broker writes it: partition 0, leader, latency in both offsets, int64(rate × 1000).
        { topic: '__s3_health', partition: 0, leader: true, state: s3.state, log_start_offset: s3.latencyMs, log_end_offset: s3.latencyMs, high_watermark: Math.trunc(s3.errorRate * 1000) },
        ...(options.partitions ?? [])
      ]
    })
  }
  const drainPartitions: Unary<ControlServer['drains'][number], object> = (call, callback) => {
    if (options.behaviour === 'today') return callback(unimplemented('DrainPartitions'))
    drains.push(call.request)
    const pending = options.pending ?? []
    const isPending = (r: WireRef): boolean => pending.some((p) => p.topic === r.topic && p.partition === r.partition)
    callback(null, { drained: call.request.partitions.filter((r) => !isPending(r)), pending: call.request.partitions.filter(isPending) })
  }
  const triggerFlush: Unary<ControlServer['flushes'][number], object> = (call, callback) => {
    if (options.behaviour === 'today') return callback(unimplemented('TriggerFlush'))
    flushes.push(call.request)
    const led = (options.partitions ?? []).filter((p) => p.leader).map(({ topic, partition }) => ({ topic, partition }))
    callback(null, { flushed: call.request.all_assigned ? led : call.request.partitions })
  }

  const server = new Server()
  server.addService(BrokerControl.service, { GetStatus: getStatus, DrainPartitions: drainPartitions, TriggerFlush: triggerFlush })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) => (err !== null ? reject(err) : resolve(bound)))
  })
  return {
    port,
    address: `127.0.0.1:${port}`,
    drains,
    flushes,
    // A hung call would hold a graceful shutdown forever.
    close: async () => { server.forceShutdown() }
  }
}
