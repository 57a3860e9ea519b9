import fp from 'fastify-plugin'
import { EtcdBackend, type EtcdBackendOptions } from '../lib/store/etcd-backend.ts'
import { KafscaleStore } from '../lib/store/kafscale-store.ts'
import type { KvBackend } from '../lib/store/kv.ts'

export interface StorePluginOptions {
  /** Connect to these etcd endpoints … */
  etcd?: EtcdBackendOptions
  /** … or serve this key space (the demo cluster, tests). Neither: tools say "not configured". */
  backend?: KvBackend
}

declare module 'fastify' {
  interface FastifyInstance {
    kafscaleStore: KafscaleStore | undefined
  }
}

export default fp<StorePluginOptions>(async function store (app, options) {
  if (options.etcd !== undefined && options.backend !== undefined) throw new Error('store: give either etcd options or a backend, not both')
  if (options.etcd !== undefined && options.etcd.endpoints.length === 0) throw new Error('store: etcd needs at least one endpoint')
  const backend = options.backend ?? (options.etcd !== undefined ? new EtcdBackend(options.etcd) : undefined)
  if (backend === undefined) {
    app.log.warn('no etcd endpoints configured: metadata tools will answer "metadata store not configured"')
    app.decorate('kafscaleStore', undefined)
    return
  }
  const kafscaleStore = new KafscaleStore(backend, app.log.child({ component: 'store' }))
  app.decorate('kafscaleStore', kafscaleStore)
  kafscaleStore.start()
  app.addHook('onClose', async () => { await kafscaleStore.close() })
}, { name: 'kafscale-store', fastify: '5.x' })
