import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { TSchema } from 'typebox'
import type { ToolRegistry } from '../core/registry.ts'
import type { ToolDefinition } from '../core/tool.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Every tool of the service; a tool plugin adds to it (`toolPlugin`), transports call through it. */
    tools: ToolRegistry
  }
}

export const TOOL_REGISTRY_PLUGIN = 'kafscale-tool-registry'

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
