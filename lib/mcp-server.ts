import { McpServer, ResourceTemplate, type CallToolResult, type StandardSchemaWithJSON } from '@modelcontextprotocol/server'
import { Type } from 'typebox'
import { compileSchema } from './schema.ts'
import { serializedJson } from './paging.ts'
import { GroupId } from '../schemas/common.ts'
import type { TSchema } from 'typebox'
import { isVisible, type RegisteredTool, type ToolOutcome, type ToolRegistry } from '../plugins/tool-registry.ts'
import type { Caller } from './tool.ts'

export const SERVER_NAME = 'kafscale-mcp'

const INSTRUCTIONS = 'Read-only access to a KafScale cluster (Kafka-compatible, metadata in etcd). ' +
  'Start with cluster_health for a diagnosis or cluster_status for an overview; list_topics/describe_topics for topics and partitions; ' +
  'list_groups/describe_group/fetch_offsets for consumer groups and consumer_lag for who is behind; describe_configs for retention settings; ' +
  'cluster_metrics for per-broker throughput and S3 health. Long lists come in pages: follow next_cursor when an answer says truncated.'

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
    return { content: [{ type: 'text', text: serializedJson(outcome.output) ?? JSON.stringify(outcome.output) }], structuredContent: outcome.output }
  }
  const { code, statusCode, message } = outcome.error
  return { isError: true, content: [{ type: 'text', text: message }], _meta: { [ERROR_META_KEY]: { code, statusCode } } }
}

/** Like forSdk, but validating: prompt arguments do not pass through the tool registry. */
function validatedForSdk (schema: TSchema): StandardSchemaWithJSON {
  const validator = compileSchema(schema)
  const json = (): Record<string, unknown> => schema as unknown as Record<string, unknown>
  return {
    '~standard': {
      version: 1,
      vendor: 'typebox',
      validate: (value: unknown) => (validator.check(value) ? { value } : { issues: validator.problems(value).map((message) => ({ message })) }),
      jsonSchema: { input: json, output: json }
    }
  }
}

function register (server: McpServer, registry: ToolRegistry, tool: RegisteredTool, caller: Caller, missingScopes: string[] | undefined): void {
  const { definition } = tool
  // A token whose scopes hold the tool back gets an HTTP 403 insufficient_scope challenge,
  // so OAuth clients can step up; the registry's dispatch check refuses it too.
  const challenge = missingScopes === undefined || missingScopes.length === 0
    ? undefined
    : { scopes: missingScopes as [string, ...string[]], errorDescription: `tool ${definition.name} needs ${missingScopes.join(' ')}` }
  const config = {
    scopeChallenge: () => challenge,
    description: definition.description,
    inputSchema: forSdk(definition.input),
    outputSchema: forSdk(definition.output),
    annotations: { ...definition.annotations, ...(definition.title !== undefined ? { title: definition.title } : {}) },
    ...(definition.title !== undefined ? { title: definition.title } : {})
  }
  server.registerTool(definition.name, config, async (args: unknown, ctx: { mcpReq: { id: string | number, signal: AbortSignal } }) =>
    toCallToolResult(await registry.call(definition.name, args, { caller: perCall(caller, ctx.mcpReq.id), signal: ctx.mcpReq.signal })))
}

/** On stdio one connection carries many calls: each gets its own request id for the audit. */
function perCall (caller: Caller, id: string | number): Caller {
  return caller.transport === 'stdio' ? { ...caller, requestId: `stdio-${id}` } : caller
}

/** A tool's output for a resource read, or the tool's error as a thrown error. */
async function readThrough (registry: ToolRegistry, caller: Caller, tool: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const outcome = await registry.call(tool, args, { caller })
  if (!outcome.ok) throw new Error(outcome.error.message)
  return outcome.output
}

function jsonContents (uri: URL, value: unknown): { contents: Array<{ uri: string, mimeType: string, text: string }> } {
  return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(value) }] }
}

// Resources mirror the read tools for clients that prefer resources; reads go through the
// registry, so the same policy and audit apply.
function registerResources (server: McpServer, registry: ToolRegistry, caller: Caller, visible: Set<string>): void {
  if (visible.has('cluster_status')) {
    server.registerResource('cluster', 'kafscale://cluster', { title: 'KafScale cluster status', description: 'Brokers, topics, S3 and etcd state (cluster_status)', mimeType: 'application/json' },
      async (uri) => jsonContents(uri, await readThrough(registry, caller, 'cluster_status', {})))
  }
  if (visible.has('describe_topics') && visible.has('list_topics')) {
    server.registerResource('topic', new ResourceTemplate('kafscale://topics/{name}', {
      list: async () => {
        const { topics } = await readThrough(registry, caller, 'list_topics', { limit: 10000 }) as { topics: Array<{ name: string, partition_count: number }> }
        return { resources: topics.map((t) => ({ uri: `kafscale://topics/${encodeURIComponent(t.name)}`, name: t.name, description: `${t.partition_count} partition(s)`, mimeType: 'application/json' })) }
      }
    }), { title: 'KafScale topic', description: 'A topic with its partitions (describe_topics)', mimeType: 'application/json' },
    async (uri, variables) => jsonContents(uri, await readThrough(registry, caller, 'describe_topics', { names: [decodeURIComponent(String(variables.name))] })))
  }
  if (visible.has('describe_group') && visible.has('list_groups') && visible.has('consumer_lag')) {
    server.registerResource('group', new ResourceTemplate('kafscale://groups/{group_id}', {
      list: async () => {
        const { groups } = await readThrough(registry, caller, 'list_groups', { limit: 10000 }) as { groups: Array<{ group_id: string, state: string, member_count: number }> }
        return { resources: groups.map((g) => ({ uri: `kafscale://groups/${encodeURIComponent(g.group_id)}`, name: g.group_id, description: `${g.state}, ${g.member_count} member(s)`, mimeType: 'application/json' })) }
      }
    }), { title: 'KafScale consumer group', description: 'A group\'s members and its lag (describe_group, consumer_lag)', mimeType: 'application/json' },
    async (uri, variables) => {
      const groupId = decodeURIComponent(String(variables.group_id))
      const [group, lag] = await Promise.all([
        readThrough(registry, caller, 'describe_group', { group_id: groupId }),
        readThrough(registry, caller, 'consumer_lag', { group_id: groupId, limit: 50 })
      ])
      return jsonContents(uri, { group, lag })
    })
  }
}

const LagPromptArgs = Type.Object({ group: GroupId }, { additionalProperties: false })

function registerPrompts (server: McpServer, visible: Set<string>): void {
  if (visible.has('consumer_lag')) {
    server.registerPrompt('diagnose-consumer-lag', {
      title: 'Diagnose consumer lag',
      description: 'Find out whether and why a consumer group is behind, and what to do about it',
      argsSchema: validatedForSdk(LagPromptArgs)
    }, (args: unknown) => {
      const { group } = args as { group: string }
      return {
        messages: [{
          role: 'user' as const,
          content: {
            type: 'text' as const,
            text: `Diagnose the consumer lag of group "${group}" on this KafScale cluster.\n` +
              `1. Call consumer_lag with group_id "${group}": note the total and maximum lag, the partitions most behind, partitions never committed, and negative lag.\n` +
              `2. Call describe_group with group_id "${group}": are there members, is the group stable or rebalancing, which member owns the lagging partitions, when did each last heartbeat?\n` +
              '3. Call cluster_metrics: is S3 healthy, how do produce and fetch throughput compare, is one broker overloaded?\n' +
              '4. Call cluster_health for ownership problems (partitions without a lease holder, groups without a coordinator).\n' +
              'Then answer: is the group behind, since when and how badly; the most likely cause (no members, rebalancing, a slow member, S3 trouble, a produce spike); and the next action an operator should take.'
          }
        }]
      }
    })
  }
  if (visible.has('cluster_health')) {
    server.registerPrompt('cluster-health-report', {
      title: 'Cluster health report',
      description: 'A short health report of the KafScale cluster for an operator'
    }, () => ({
      messages: [{
        role: 'user' as const,
        content: {
          type: 'text' as const,
          text: 'Write a health report of this KafScale cluster.\n' +
            '1. Call cluster_health and start from its status and findings.\n' +
            '2. Call cluster_status for brokers and topics, and cluster_metrics for throughput and per-broker S3 health.\n' +
            '3. If lag is among the findings, call consumer_lag for the groups named.\n' +
            'Report: overall status in one line; each problem with its impact and a recommended action, most severe first; then the key figures (brokers, topics, partitions, groups, produce/fetch rates, S3 latency).'
        }
      }]
    }))
  }
}

/** A fresh MCP server with the tools this caller may see: the SDK asks for one per request (stateless). */
export function buildMcpServer (registry: ToolRegistry, version: string, caller: Caller): McpServer {
  const server = new McpServer({ name: SERVER_NAME, version }, { instructions: INSTRUCTIONS })
  // One policy decision per tool and request: what to list, what to challenge, what to serve.
  const callable = new Set<string>()
  for (const tool of registry.list()) {
    const decision = registry.decide(caller.principal, tool)
    if (!isVisible(decision)) continue
    register(server, registry, tool, caller, decision.missingScopes)
    if (decision.allowed) callable.add(tool.definition.name)
  }
  registerResources(server, registry, caller, callable)
  registerPrompts(server, callable)
  return server
}
