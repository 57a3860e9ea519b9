import { Etcd3, GRPCDeadlineExceededError, type IOptions, type Watcher } from 'etcd3'
import { ExponentialBackoff, noop } from 'cockatiel'
import { EtcdTimeoutError, EtcdUnavailableError } from '../errors.ts'
import type { KvBackend, KvPair, KvWatchHandlers, RangeOptions } from './kv.ts'

export interface EtcdBackendOptions {
  endpoints: string[]
  username?: string
  password?: string
  /** Deadline of every unary call, in ms. */
  timeoutMs: number
}

// etcd allows at most 128 operations per transaction by default (--max-txn-ops).
const MAX_TXN_OPS = 128
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024

export class EtcdBackend implements KvBackend {
  readonly kind = 'etcd'
  requestCount = 0
  private readonly client: Etcd3
  private readonly timeoutMs: number

  constructor (options: EtcdBackendOptions) {
    this.timeoutMs = options.timeoutMs
    const clientOptions: IOptions = {
      hosts: options.endpoints,
      dialTimeout: options.timeoutMs,
      // The service owns failure handling: the library's retries would turn a 2 s deadline
      // into 6 s and its circuit breaker would block calls for 5 s after etcd is back.
      faultHandling: {
        host: () => noop,
        global: noop,
        // etcd3 types this as a backoff instance; a factory's first step is one.
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }).next()
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.timeoutMs }),
      // A 100,000-partition snapshot is ~13 MB of JSON; gRPC's default limit is 4 MB.
      grpcOptions: { 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES }
    }
    if (options.username !== undefined && options.username !== '') {
      clientOptions.auth = { username: options.username, password: options.password ?? '' }
    }
    this.client = new Etcd3(clientOptions)
  }

  private async call<T> (op: () => Promise<T>): Promise<T> {
    this.requestCount++
    try {
      return await op()
    } catch (err) {
      throw this.translate(err)
    }
  }

  private translate (err: unknown): Error {
    if (err instanceof GRPCDeadlineExceededError) return new EtcdTimeoutError(this.timeoutMs)
    const message = err instanceof Error ? err.message : String(err)
    if (/deadline/i.test(message)) return new EtcdTimeoutError(this.timeoutMs)
    return new EtcdUnavailableError(message.split('\n')[0])
  }

  async get (key: string): Promise<Buffer | undefined> {
    return await this.call(async () => (await this.client.get(key).buffer()) ?? undefined)
  }

  async getMany (keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    if (keys.length === 0) return []
    const batches: string[][] = []
    for (let i = 0; i < keys.length; i += MAX_TXN_OPS) batches.push(keys.slice(i, i + MAX_TXN_OPS))
    // Batches go out together on the one gRPC channel: one round trip of latency.
    const results = await Promise.all(batches.map(async (batch) => await this.call(async () => {
      const res = await this.client.kv.txn({ success: batch.map((key) => ({ request_range: { key: Buffer.from(key) } })) })
      return res.responses.map((r) => r.response_range?.kvs[0]?.value)
    })))
    return results.flat().map((v) => (v === undefined ? undefined : Buffer.from(v)))
  }

  async range (prefix: string, options: RangeOptions = {}): Promise<KvPair[]> {
    return await this.call(async () => {
      const res = await this.client.kv.range({
        key: Buffer.from(prefix),
        range_end: prefixEnd(prefix),
        keys_only: options.keysOnly === true,
        limit: options.limit ?? 0
      })
      return res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value }))
    })
  }

  watchKey (key: string, handlers: KvWatchHandlers): () => Promise<void> {
    // An exact-key watch: KafScale's own prefix watch also fires for ".bak" siblings (§1.4).
    const watcher: Watcher = this.client.watch().key(key).watcher()
    watcher.on('put', (kv) => handlers.onChange(kv.value))
    watcher.on('delete', () => handlers.onChange(undefined))
    watcher.on('connected', () => handlers.onConnected())
    watcher.on('disconnected', (err) => handlers.onDisconnected(err))
    watcher.on('error', (err) => handlers.onDisconnected(err))
    return async () => { await watcher.cancel() }
  }

  async ping (): Promise<void> {
    await this.call(async () => await this.client.kv.range({ key: Buffer.from('/kafscale/'), count_only: true, limit: 1 }))
  }

  async close (): Promise<void> {
    this.client.close()
  }
}

function prefixEnd (prefix: string): Buffer {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0])
}
