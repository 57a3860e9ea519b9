import type { KvBackend, KvPair, KvPrefixWatchHandlers, KvWatchHandlers, RangeOptions } from './kv.ts'

/** A sorted in-memory key space with etcd's semantics for the operations the store uses. */
export class MemoryBackend implements KvBackend {
  readonly kind = 'memory'
  requestCount = 0
  private readonly data = new Map<string, Buffer>()
  private readonly watchers = new Map<string, Set<KvWatchHandlers>>()
  private readonly prefixWatchers = new Set<{ prefix: string, handlers: KvPrefixWatchHandlers }>()
  /** etcd's store revision: one per change. No history is kept, so a watch can only start at the next one. */
  private revision = 1n

  put (key: string, value: string | Uint8Array): void {
    const buf = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value)
    this.data.set(key, buf)
    this.changed('put', key, buf)
  }

  delete (key: string): void {
    if (!this.data.delete(key)) return
    this.changed('delete', key, Buffer.alloc(0))
  }

  private changed (kind: 'put' | 'delete', key: string, value: Buffer): void {
    const revision = ++this.revision
    for (const w of this.watchers.get(key) ?? []) w.onChange(kind === 'put' ? value : undefined)
    for (const { prefix, handlers } of this.prefixWatchers) {
      if (key.startsWith(prefix)) handlers.onEvents([{ kind, key, value, revision }])
    }
  }

  async get (key: string): Promise<Buffer | undefined> {
    this.requestCount++
    return this.data.get(key)
  }

  async getMany (keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    this.requestCount++
    return keys.map((k) => this.data.get(k))
  }

  async range (prefix: string, options: RangeOptions = {}): Promise<KvPair[]> {
    this.requestCount++
    return this.inRange(prefix, options)
  }

  private inRange (prefix: string, options: RangeOptions = {}): KvPair[] {
    const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort()
    const limited = options.limit !== undefined ? keys.slice(0, options.limit) : keys
    return limited.map((key) => ({ key, value: options.keysOnly === true ? Buffer.alloc(0) : this.data.get(key)! }))
  }

  async rangeMany (prefixes: readonly string[]): Promise<KvPair[][]> {
    this.requestCount++
    return prefixes.map((prefix) => this.inRange(prefix))
  }

  async scanPrefix (prefix: string, onPage: (pairs: KvPair[]) => boolean): Promise<bigint | undefined> {
    const revision = this.revision
    return onPage(await this.range(prefix)) ? revision : undefined
  }

  watchPrefix (prefix: string, fromRevision: bigint, handlers: KvPrefixWatchHandlers): () => Promise<void> {
    const watcher = { prefix, handlers }
    // Changes between the scan and this call are gone (no history): as etcd after a compaction.
    if (fromRevision <= this.revision) {
      queueMicrotask(() => { handlers.onLost(new Error(`revision ${fromRevision} is gone: the key space is at ${this.revision}`)) })
      return async () => {}
    }
    this.prefixWatchers.add(watcher)
    return async () => { this.prefixWatchers.delete(watcher) }
  }

  watchKey (key: string, handlers: KvWatchHandlers): () => Promise<void> {
    let set = this.watchers.get(key)
    if (set === undefined) this.watchers.set(key, set = new Set())
    set.add(handlers)
    queueMicrotask(() => handlers.onConnected())
    return async () => { set.delete(handlers) }
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    this.watchers.clear()
    this.prefixWatchers.clear()
  }
}
