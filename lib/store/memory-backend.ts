import type { KvBackend, KvPair, KvWatchHandlers, RangeOptions } from './kv.ts'

/** A sorted in-memory key space with etcd's semantics for the operations the store uses. */
export class MemoryBackend implements KvBackend {
  readonly kind = 'memory'
  requestCount = 0
  private readonly data = new Map<string, Buffer>()
  private readonly watchers = new Map<string, Set<KvWatchHandlers>>()

  put (key: string, value: string | Uint8Array): void {
    const buf = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value)
    this.data.set(key, buf)
    for (const w of this.watchers.get(key) ?? []) w.onChange(buf)
  }

  delete (key: string): void {
    this.data.delete(key)
    for (const w of this.watchers.get(key) ?? []) w.onChange(undefined)
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
    const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort()
    const limited = options.limit !== undefined ? keys.slice(0, options.limit) : keys
    return limited.map((key) => ({ key, value: options.keysOnly === true ? Buffer.alloc(0) : this.data.get(key)! }))
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
  }
}
