import fp from 'fastify-plugin'
import { assertOptions, hostPortUrl, positive, problemOf, wholeNumber } from '../lib/config/checks.ts'
import { EtcdBackend, type EtcdBackendOptions } from '../lib/store/etcd-backend.ts'
import { ChangeFeed, MAX_REJUDGE_MS } from '../lib/store/change-feed.ts'
import { KafscaleStore } from '../lib/store/kafscale-store.ts'
import type { KvBackend } from '../lib/store/kv.ts'

export interface StorePluginOptions {
  /** Connect to these etcd endpoints … */
  etcd?: EtcdBackendOptions
  /** … or serve this key space (the demo cluster, tests). Neither: tools say "not configured". */
  backend?: KvBackend
  /** Keys under /kafscale/consumers/ the group mirror holds at most; 0: no mirror. */
  groupMirrorMaxKeys?: number
  /** The lag history's window and sampling, and the clock it is stamped with (tests inject one). */
  lagWindowCommits?: number
  lagWindowSpanMs?: number
  lagSampleIntervalMs?: number
  clock?: () => number
}

declare module 'fastify' {
  interface FastifyInstance {
    kafscaleStore: KafscaleStore | undefined
    /** What changes in the cluster, for live updates; undefined without a store. */
    changeFeed: ChangeFeed | undefined
  }
}

export default fp<StorePluginOptions>(async function store (app, options) {
  const { etcd } = options
  assertOptions('kafscale-store', etcd === undefined
    ? []
    : [
        options.backend !== undefined ? 'give either etcd options or a backend, not both' : undefined,
        etcd.endpoints.length === 0 ? 'etcd.endpoints: give at least one endpoint' : undefined,
        ...etcd.endpoints.map((endpoint) => problemOf('etcd.endpoints', endpoint, hostPortUrl)),
        problemOf('etcd.timeoutMs', etcd.timeoutMs, positive)
      ])
  if (options.groupMirrorMaxKeys !== undefined) assertOptions('kafscale-store', [problemOf('groupMirrorMaxKeys', options.groupMirrorMaxKeys, wholeNumber(0))])
  const backend = options.backend ?? (options.etcd !== undefined ? new EtcdBackend(options.etcd) : undefined)
  if (backend === undefined) {
    app.log.warn('no etcd endpoints configured: metadata tools will answer "metadata store not configured"')
    app.decorate('kafscaleStore', undefined)
    app.decorate('changeFeed', undefined)
    return
  }
  const { groupMirrorMaxKeys, lagWindowCommits, lagWindowSpanMs, lagSampleIntervalMs, clock } = options
  const kafscaleStore = new KafscaleStore(backend, app.log.child({ component: 'store' }), { groupMirrorMaxKeys, lagWindowCommits, lagWindowSpanMs, lagSampleIntervalMs, ...(clock !== undefined ? { clock } : {}) })
  // A subscribed group is judged again as often as its log ends are sampled (within a bound): a status changes with time alone.
  const rejudgeMs = Math.min(lagSampleIntervalMs || MAX_REJUDGE_MS, MAX_REJUDGE_MS)
  const changeFeed = new ChangeFeed(kafscaleStore, { rejudgeMs, onError: (err) => { app.log.warn({ err: err.message }, 'change feed') } })
  app.decorate('kafscaleStore', kafscaleStore)
  app.decorate('changeFeed', changeFeed)
  kafscaleStore.start()
  app.addHook('onClose', async () => {
    changeFeed.close()
    await kafscaleStore.close()
  })
}, { name: 'kafscale-store', fastify: '5.x' })
