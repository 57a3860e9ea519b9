import { McpServer, type CallToolResult, type StandardSchemaWithJSON } from '@modelcontextprotocol/server'
import type { TSchema } from 'typebox'
import type { RegisteredTool, ToolOutcome, ToolRegistry } from '../plugins/tool-registry.ts'
import type { Caller } from './tool.ts'

export const SERVER_NAME = 'kafscale-mcp'

const INSTRUCTIONS = 'Read-only access to a KafScale cluster (Kafka-compatible, metadata in etcd). ' +
  'Start with cluster_status for an overview; list_topics/describe_topics for topics and partitions; ' +
  'list_groups/describe_group/fetch_offsets for consumer groups; describe_configs for retention settings; ' +
  'cluster_metrics for broker throughput and S3 health.'

/** The error code of a failed call travels in the result's _meta under this key. */
export const ERROR_META_KEY = 'io.kafscale/error'

// The registry validates input and output with the tool's compiled TypeBox schema, for MCP
// and REST alike; the SDK gets the same schema for tools/list and a pass-through validator,
// so a value is checked once and both transports word failures identically.
const sdkSchemas = new WeakMap<TSchema, StandardSchemaWithJSON>()
function forSdk (schema: TSchema): StandardSchemaWithJSON {
  let wrapped = sdkSchemas.get(schema)
  if (wrapped === undefined) {
    const json = (): Record<string, unknown> => schema as unknown as Record<string, unknown>
    wrapped = { '~standard': { version: 1, vendor: 'typebox', validate: (value: unknown) => ({ value }), jsonSchema: { input: json, output: json } } }
    sdkSchemas.set(schema, wrapped)
  }
  return wrapped
}

export function toCallToolResult (outcome: ToolOutcome): CallToolResult {
  if (outcome.ok) {
    return { content: [{ type: 'text', text: JSON.stringify(outcome.output) }], structuredContent: outcome.output }
  }
  const { code, statusCode, message } = outcome.error
  return { isError: true, content: [{ type: 'text', text: message }], _meta: { [ERROR_META_KEY]: { code, statusCode } } }
}

function register (server: McpServer, registry: ToolRegistry, tool: RegisteredTool, caller: Caller): void {
  const { definition } = tool
  const config = {
    // A token whose scopes hold the tool back gets an HTTP 403 insufficient_scope challenge,
    // so OAuth clients can step up; the dispatch check below refuses it too.
    scopeChallenge: () => {
      const missing = registry.decide(caller.principal, tool).missingScopes
      return missing === undefined || missing.length === 0 ? undefined : { scopes: missing as [string, ...string[]], errorDescription: `tool ${definition.name} needs ${missing.join(' ')}` }
    },
    description: definition.description,
    inputSchema: forSdk(definition.input),
    outputSchema: forSdk(definition.output),
    annotations: { ...definition.annotations, ...(definition.title !== undefined ? { title: definition.title } : {}) },
    ...(definition.title !== undefined ? { title: definition.title } : {})
  }
  server.registerTool(definition.name, config, async (args: unknown, ctx: { mcpReq: { signal: AbortSignal } }) =>
    toCallToolResult(await registry.call(definition.name, args, { caller, signal: ctx.mcpReq.signal })))
}

/** A fresh MCP server with the tools this caller may see: the SDK asks for one per request (stateless). */
export function buildMcpServer (registry: ToolRegistry, version: string, caller: Caller): McpServer {
  const server = new McpServer({ name: SERVER_NAME, version }, { instructions: INSTRUCTIONS })
  for (const tool of registry.visibleTo(caller.principal)) register(server, registry, tool, caller)
  return server
}
