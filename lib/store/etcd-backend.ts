import { readFileSync } from 'node:fs'
import { Etcd3, EtcdInvalidAuthTokenError, EtcdWatchStreamEnded, GRPCDeadlineExceededError, type ICallable, type IEvent, type IOptions, type IWatchResponse, type Watcher } from 'etcd3'
import type { Client as GrpcClient, Metadata, ServiceError } from '@grpc/grpc-js'
import { ExponentialBackoff, noop } from 'cockatiel'
import { EtcdTimeoutError, EtcdTlsFileError, EtcdUnavailableError } from '../errors.ts'
import { decodeRangeTxn, encodeRangeTxn, type RangeKv, type RangeRequest } from './etcd-txn.ts'
import type { KvBackend, KvEvent, KvPair, KvPrefixWatchHandlers, KvWatchHandlers, RangeOptions } from './kv.ts'

export interface EtcdTlsFiles {
  /** PEM CA bundle that signed etcd's server certificate; absent: the system's roots. */
  caFile?: string
  /** PEM client certificate and its key, for etcd's --client-cert-auth. */
  certFile?: string
  keyFile?: string
}

export interface EtcdBackendOptions {
  endpoints: string[]
  username?: string
  password?: string
  /** Deadline of every unary call, in ms. */
  timeoutMs: number
  /** TLS material for https:// endpoints. */
  tls?: EtcdTlsFiles
}

// etcd allows at most 128 operations per transaction by default (--max-txn-ops).
const MAX_TXN_OPS = 128
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024
// A scan reads this many keys per request: one page of offset records is about 1 MB.
const SCAN_PAGE_KEYS = 5000
// While etcd is away the watch retries at most every 5 s: a faster loop only fills the log,
// and reads notice a returning etcd on their own.
const WATCH_RETRY = { initialDelay: 250, maxDelay: 5000 }

export class EtcdBackend implements KvBackend {
  readonly kind = 'etcd'
  requestCount = 0
  private readonly client: Etcd3
  private readonly timeoutMs: number
  /** Named in every error, so a log line or a tool error says which etcd failed. */
  private readonly where: string

  constructor (options: EtcdBackendOptions) {
    this.timeoutMs = options.timeoutMs
    this.where = options.endpoints.join(', ')
    const clientOptions: IOptions = {
      hosts: options.endpoints,
      dialTimeout: options.timeoutMs,
      // The service owns failure handling: the library's retries would turn a 2 s deadline
      // into 6 s and its circuit breaker would block calls for 5 s after etcd is back.
      faultHandling: {
        host: () => noop,
        global: noop,
        // etcd3 types this as a backoff instance; a factory's first step is one.
        watchBackoff: new ExponentialBackoff(WATCH_RETRY).next()
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.timeoutMs }),
      // A 100,000-partition snapshot is ~13 MB of JSON; gRPC's default limit is 4 MB.
      grpcOptions: { 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES }
    }
    if (options.tls !== undefined) clientOptions.credentials = readTlsFiles(options.tls)
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
    if (err instanceof GRPCDeadlineExceededError) return new EtcdTimeoutError(this.timeoutMs, this.where)
    if (err instanceof EtcdWatchStreamEnded) return new EtcdUnavailableError(`${this.where}: the watch stream was closed`)
    const message = err instanceof Error ? err.message : String(err)
    if (/deadline/i.test(message)) return new EtcdTimeoutError(this.timeoutMs, this.where)
    return new EtcdUnavailableError(`${this.where}: ${grpcReason(message)}`)
  }

  async get (key: string): Promise<Buffer | undefined> {
    return await this.call(async () => (await this.client.get(key).buffer()) ?? undefined)
  }

  async getMany (keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    return (await this.ranges(keys.map((key) => ({ key: Buffer.from(key) })))).map((kvs) => kvs[0]?.value)
  }

  async rangeMany (prefixes: readonly string[]): Promise<KvPair[][]> {
    const found = await this.ranges(prefixes.map((prefix) => ({ key: Buffer.from(prefix), rangeEnd: prefixEnd(prefix) })))
    return found.map((kvs) => kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value })))
  }

  /**
   * Range requests in transactions of at most MAX_TXN_OPS, the transactions in flight together
   * on the one gRPC channel: one round trip of latency. Many small ranges cost about a third
   * of the CPU and the time of as many separate calls (40 ranges of 50 keys: 10 vs 28 ms).
   */
  private async ranges (requests: RangeRequest[]): Promise<RangeKv[][]> {
    if (requests.length === 0) return []
    const batches: RangeRequest[][] = []
    for (let i = 0; i < requests.length; i += MAX_TXN_OPS) batches.push(requests.slice(i, i + MAX_TXN_OPS))
    const results = await Promise.all(batches.map(async (batch) => await this.call(async () => await this.rangeTxn(batch))))
    return results.flat()
  }

  /**
   * One KV.Txn, coded by etcd-txn.ts, on etcd3's connection: its host choice, TLS and auth
   * token. etcd3's own call is the fallback for an expired token, since it logs in again.
   */
  private async rangeTxn (batch: RangeRequest[]): Promise<RangeKv[][]> {
    // The pool is etcd3's (a protected member of its client): the same one every other call uses.
    const pool = (this.client as unknown as { pool: ICallable<unknown> }).pool
    try {
      return await pool.withConnection('KV', async ({ client, metadata }) => await unaryTxn(client, metadata, batch, Date.now() + this.timeoutMs))
    } catch (err) {
      if (!(err instanceof EtcdInvalidAuthTokenError)) throw err
      const res = await this.client.kv.txn({ success: batch.map((r) => ({ request_range: { key: r.key, ...(r.rangeEnd !== undefined ? { range_end: r.rangeEnd } : {}) } })) })
      return res.responses.map((r) => r.response_range?.kvs ?? [])
    }
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

  async scanPrefix (prefix: string, onPage: (pairs: KvPair[]) => boolean): Promise<bigint | undefined> {
    const end = prefixEnd(prefix)
    let from = Buffer.from(prefix)
    // The first page fixes the revision; the others read at it, so the pages are one state.
    let revision: string | undefined
    for (;;) {
      const res = await this.call(async () => await this.client.kv.range({ key: from, range_end: end, limit: SCAN_PAGE_KEYS, revision: revision ?? 0 }))
      revision ??= res.header.revision
      if (!onPage(res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value })))) return undefined
      if (!res.more || res.kvs.length === 0) return BigInt(revision)
      from = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])])
    }
  }

  watchPrefix (prefix: string, fromRevision: bigint, handlers: KvPrefixWatchHandlers): () => Promise<void> {
    const watcher: Watcher = this.client.watch().prefix(prefix).startRevision(String(fromRevision)).watcher()
    let ended = false
    const lose = (err: Error): void => {
      if (ended) return
      ended = true
      // Detached now, while etcd3 is between streams, so that it does not resume this watch
      // from its own idea of the revision: the caller reads the prefix again instead.
      void watcher.cancel().catch(() => {})
      handlers.onLost(err)
    }
    watcher.on('connected', () => { handlers.onEvents([]) })
    watcher.on('data', (res: IWatchResponse) => {
      if (!ended) handlers.onEvents(res.events.map(toKvEvent))
    })
    watcher.on('disconnected', (err) => { lose(this.translate(err)) })
    // etcd canceled the watch; a start revision older than the last compaction has no reason text.
    watcher.on('error', (err) => {
      ended = true
      handlers.onLost(new EtcdUnavailableError(`${this.where}: the watch was canceled (${err.message.replace(/^Watcher canceled: ?/, '') || 'its start revision was compacted'})`))
    })
    return async () => {
      if (ended) return
      ended = true
      await withDeadline(watcher.cancel(), this.timeoutMs)
    }
  }

  watchKey (key: string, handlers: KvWatchHandlers): () => Promise<void> {
    // An exact-key watch: KafScale's own prefix watch also fires for ".bak" siblings (§1.4).
    const watcher: Watcher = this.client.watch().key(key).watcher()
    watcher.on('put', (kv) => handlers.onChange(kv.value))
    watcher.on('delete', () => handlers.onChange(undefined))
    watcher.on('connected', () => handlers.onConnected())
    watcher.on('disconnected', (err) => handlers.onDisconnected(this.translate(err)))
    watcher.on('error', (err) => handlers.onDisconnected(this.translate(err)))
    // A cancel waits for etcd's answer: a frozen etcd must not hold the shutdown.
    return async () => { await withDeadline(watcher.cancel(), this.timeoutMs) }
  }

  async ping (): Promise<void> {
    await this.call(async () => await this.client.kv.range({ key: Buffer.from('/kafscale/'), count_only: true, limit: 1 }))
  }

  async close (): Promise<void> {
    this.client.close()
  }
}

const TXN_METHOD = '/etcdserverpb.KV/Txn'

async function unaryTxn (client: GrpcClient, metadata: Metadata, batch: RangeRequest[], deadline: number): Promise<RangeKv[][]> {
  return await new Promise((resolve, reject) => {
    client.makeUnaryRequest(TXN_METHOD, encodeRangeTxn, decodeRangeTxn, batch, metadata, { deadline }, (err: ServiceError | null, res?: RangeKv[][]) => {
      if (err !== null) reject(err)
      else resolve(res!)
    })
  })
}

function toKvEvent (event: IEvent): KvEvent {
  return { kind: event.type === 'Delete' ? 'delete' : 'put', key: event.kv.key.toString(), value: event.kv.value, revision: BigInt(event.kv.mod_revision) }
}

function readTlsFiles (tls: EtcdTlsFiles): NonNullable<IOptions['credentials']> {
  const read = (setting: string, path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined
    try {
      return readFileSync(path)
    } catch (err) {
      throw new EtcdTlsFileError(setting, path, (err as Error).message)
    }
  }
  const credentials: { rootCertificate?: Buffer, privateKey?: Buffer, certChain?: Buffer } = {
    rootCertificate: read('CA', tls.caFile),
    privateKey: read('client key', tls.keyFile),
    certChain: read('client certificate', tls.certFile)
  }
  // etcd3 types rootCertificate as required, but gRPC's createSsl takes none as "the system's roots".
  return credentials as NonNullable<IOptions['credentials']>
}

/**
 * gRPC's message without its status prefix and its empty trailers, e.g. "14 UNAVAILABLE: No
 * connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379. Resolution note: "
 * becomes "No connection established. Last error: connect ECONNREFUSED 127.0.0.1:2379".
 */
function grpcReason (message: string): string {
  const reason = message.split('\n')[0]!
    .replace(/^\d+ [A-Z_]+: /, '')
    .replace(/\.? Resolution note: ?$/, '')
    .replace(/Last error: Error: /, 'Last error: ')
  return TLS_FAILURES.find(({ pattern }) => pattern.test(reason))?.meaning ?? reason
}

// OpenSSL's own words for a failed handshake name a source file, not the fix.
const TLS_FAILURES = [
  { pattern: /alert (bad certificate|certificate required|unknown ca|certificate unknown)/, meaning: 'the TLS handshake was refused: etcd requires a client certificate signed by a CA it trusts' },
  { pattern: /unable to verify|self[- ]signed certificate|unable to get (local )?issuer|certificate verify failed/, meaning: 'etcd\'s TLS certificate is not signed by a trusted CA: give the CA that signed it' },
  { pattern: /Hostname\/IP does not match|does not match certificate's altnames/, meaning: 'etcd\'s TLS certificate does not name this endpoint\'s host' }
]

async function withDeadline (promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([promise, new Promise((resolve) => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
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
