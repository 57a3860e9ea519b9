import fp from 'fastify-plugin'
import { ToolRegistry } from '../core/registry.ts'
import { assertOptions, problemOf, wholeNumber } from '../lib/config/checks.ts'
import { TOOL_REGISTRY_PLUGIN } from './tool-plugin.ts'

export interface ToolRegistryOptions {
  /** Size cap of one answer in characters of JSON. */
  maxResponseChars: number
}

/** app.tools, built from the services registered before it: a wrong order fails at start, naming the missing one. */
export default fp<ToolRegistryOptions>(async function toolRegistry (app, options) {
  assertOptions('kafscale-tool-registry', [problemOf('maxResponseChars', options.maxResponseChars, wholeNumber(1000))])
  app.decorate('tools', new ToolRegistry({
    policy: app.policy,
    audit: app.audit,
    callMetrics: app.callMetrics,
    sources: { store: app.kafscaleStore, brokerMetrics: app.brokerMetrics, operatorMetrics: app.operatorMetrics, brokerControl: app.brokerControl },
    log: app.log.child({ component: 'tools' }),
    maxResponseChars: options.maxResponseChars
  }))
}, { name: TOOL_REGISTRY_PLUGIN, fastify: '5.x', dependencies: ['kafscale-store', 'kafscale-metrics', 'kafscale-broker-control', 'kafscale-auth', 'kafscale-audit', 'kafscale-telemetry'] })
