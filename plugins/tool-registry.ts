import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { TSchema } from 'typebox'
import { ToolRegistry } from '../core/registry.ts'
import type { ToolDefinition } from '../core/tool.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Every tool of the service; a tool plugin adds to it (`toolPlugin`), transports call through it. */
    tools: ToolRegistry
  }
}

export interface ToolRegistryOptions {
  /** Size cap of one answer in characters of JSON. */
  maxResponseChars: number
}

export const TOOL_REGISTRY_PLUGIN = 'kafscale-tool-registry'

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

/**
 * The Fastify plugin of one tool: `export default toolPlugin(defineTool({ ... }))`. Registered
 * anywhere below the registry (the service registers tool plugins inside its gated scope), it
 * adds the tool to app.tools.
 */
export function toolPlugin<I extends TSchema, O extends TSchema> (definition: ToolDefinition<I, O>): FastifyPluginAsync {
  return fp(async function registerTool (app) {
    app.tools.add(definition as unknown as ToolDefinition)
  }, { name: `kafscale-tool-${definition.name}`, fastify: '5.x', dependencies: [TOOL_REGISTRY_PLUGIN] })
}
