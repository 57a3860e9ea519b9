import type { FastifyInstance } from 'fastify'
import { REVISION } from '../lib/version.ts'

export interface HealthPluginOptions {
  version: string
}

/** /healthz: the process serves (no auth, no dependency check). /readyz: etcd answers and a snapshot is loaded. */
export default async function health (app: FastifyInstance, options: HealthPluginOptions): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok', version: options.version, revision: REVISION }))

  app.get('/readyz', async (_request, reply) => {
    const store = app.kafscaleStore
    if (store === undefined) return await reply.code(503).send({ status: 'not_ready', reason: 'metadata store not configured' })
    try {
      await store.checkReady()
      return { status: 'ready', store: store.health() }
    } catch (err) {
      return await reply.code(503).send({ status: 'not_ready', reason: (err as Error).message, store: store.health() })
    }
  })
}
