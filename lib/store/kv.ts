// The few key-value operations KafScale's data needs. The etcd backend and the in-memory
// backend (demo, tests of pure logic) implement the same contract, so the store above them
// is one piece of code whichever is configured.

export interface KvPair {
  key: string
  value: Buffer
}

export interface KvWatchHandlers {
  /** The key was written (value) or deleted (undefined). */
  onChange: (value: Buffer | undefined) => void
  /** The watch stream is (re)established: anything may have changed while it was down. */
  onConnected: () => void
  onDisconnected: (err: Error) => void
}

/** One change under a watched prefix; a delete has an empty value. */
export interface KvEvent {
  kind: 'put' | 'delete'
  key: string
  value: Buffer
  /** The revision that made the change (every change of one transaction shares it). */
  revision: bigint
}

export interface KvPrefixWatchHandlers {
  /** Changes in revision order; none for a progress notice, which only shows the stream lives. */
  onEvents: (events: KvEvent[]) => void
  /**
   * The watch ended for good (its stream broke, or etcd canceled it: a compacted start
   * revision) and will not resume: events may have been missed, so read the prefix again.
   */
  onLost: (err: Error) => void
}

export interface RangeOptions {
  keysOnly?: boolean
  limit?: number
}

export interface KvBackend {
  readonly kind: 'etcd' | 'memory'
  /** Requests sent so far: tests and benchmarks count round trips with it. */
  readonly requestCount: number
  get: (key: string) => Promise<Buffer | undefined>
  /** Several exact keys in one round trip (an etcd transaction of range requests). */
  getMany: (keys: readonly string[]) => Promise<Array<Buffer | undefined>>
  /** Every key starting with prefix, in key order. */
  range: (prefix: string, options?: RangeOptions) => Promise<KvPair[]>
  /** Several prefix ranges in one round trip (an etcd transaction of range requests): one list per prefix. */
  rangeMany: (prefixes: readonly string[]) => Promise<KvPair[][]>
  watchKey: (key: string, handlers: KvWatchHandlers) => () => Promise<void>
  /**
   * Every key under prefix at one revision, in key order, handed over in pages (so a large
   * prefix never sits in memory twice) while onPage returns true; resolves to that revision,
   * or to undefined when onPage stopped the scan.
   */
  scanPrefix: (prefix: string, onPage: (pairs: KvPair[]) => boolean) => Promise<bigint | undefined>
  /** Changes under prefix from fromRevision on, until stopped or lost. */
  watchPrefix: (prefix: string, fromRevision: bigint, handlers: KvPrefixWatchHandlers) => () => Promise<void>
  ping: () => Promise<void>
  close: () => Promise<void>
}
