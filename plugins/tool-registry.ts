import fp from 'fastify-plugin'
import { ToolRegistry } from '../core/registry.ts'
import { TOOL_REGISTRY_PLUGIN } from './tool-plugin.ts'

export interface ToolRegistryOptions {
  /** Size cap of one answer in characters of JSON. */
  maxResponseChars: number
}

/** app.tools, built from the services registered before it: a wrong order fails at start, naming the missing one. */
export default fp<ToolRegistryOptions>(async function toolRegistry (app, options) {
  if (!(options.maxResponseChars >= 1000)) throw new Error('tools: maxResponseChars must be at least 1000')
  app.decorate('tools', new ToolRegistry({
    policy: app.policy,
    audit: app.audit,
    callMetrics: app.callMetrics,
    sources: { store: app.kafscaleStore, brokerMetrics: app.brokerMetrics, operatorMetrics: app.operatorMetrics },
    log: app.log.child({ component: 'tools' }),
    maxResponseChars: options.maxResponseChars
  }))
}, { name: TOOL_REGISTRY_PLUGIN, fastify: '5.x', dependencies: ['kafscale-store', 'kafscale-metrics', 'kafscale-auth', 'kafscale-audit', 'kafscale-telemetry'] })

