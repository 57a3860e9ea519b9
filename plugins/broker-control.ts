import fp from 'fastify-plugin'
import type { Config } from '../lib/config.ts'
import { assertOptions, hostPort, port, positive, problemOf } from '../lib/config/checks.ts'
import { BrokerControlPool } from '../lib/kafscale/control.ts'

/** The brokers' gRPC control plane: the port dialled on each snapshot host, explicit addresses by node id, the call deadline. */
export const BROKER_CONTROL_SETTINGS = ['brokerControlPort', 'brokerControlAddrs', 'brokerControlTimeoutMs'] as const
export type BrokerControlPluginOptions = Pick<Config, typeof BROKER_CONTROL_SETTINGS[number]>

declare module 'fastify' {
  interface FastifyInstance {
    brokerControl: BrokerControlPool | undefined
  }
}

export default fp<BrokerControlPluginOptions>(async function brokerControl (app, options) {
  const addresses = new Map(Object.entries(options.brokerControlAddrs).map(([id, address]) => [Number(id), address]))
  assertOptions('kafscale-broker-control', [
    problemOf('brokerControlPort', options.brokerControlPort, port),
    ...[...addresses].map(([id, address]) => problemOf(`brokerControlAddrs[${id}]`, address, hostPort)),
    problemOf('brokerControlTimeoutMs', options.brokerControlTimeoutMs, positive)
  ])
  const pool = new BrokerControlPool({ port: options.brokerControlPort, addresses, timeoutMs: options.brokerControlTimeoutMs })
  app.decorate('brokerControl', pool.configured ? pool : undefined)
  app.addHook('onClose', async () => { pool.close() })
}, { name: 'kafscale-broker-control', fastify: '5.x' })
