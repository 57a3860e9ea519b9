import { CLIENT_CAPABILITIES_META_KEY, inputRequired, ProtocolError, ProtocolErrorCode, ResourceNotFoundError, ResourceTemplate, type CallToolResult, type ClientCapabilities, type ElicitRequestFormParams, type InputRequiredResult, type McpServer, type ServerContext, type StandardSchemaWithJSON } from '@modelcontextprotocol/server'
import { Type } from 'typebox'
import { compileSchema } from '../lib/schema.ts'
import { GroupId } from '../schemas/common.ts'
import type { TSchema } from 'typebox'
import { isVisible, type RegisteredTool, type ToolFailure, type ToolOutcome, type ToolRegistry } from '../core/registry.ts'
import { createMcpServer } from './mcp-protocol.ts'
import { liveCapabilities, type LiveUpdates } from './live-updates.ts'
import { CLUSTER_URI, groupUri, servesKind, topicUri } from './resource-uris.ts'
import { Completers } from './completions.ts'
import { NameCompletions, type NameSource } from '../core/completions.ts'
import type { Interaction } from '../core/ask.ts'
import type { Caller } from '../core/tool.ts'

export const SERVER_NAME = 'kafscale-mcp'

const INSTRUCTIONS = 'Read-only access to a KafScale cluster (Kafka-compatible, metadata in etcd). ' +
  'Start with cluster_health for a diagnosis or cluster_status for an overview; list_topics/describe_topics for topics and partitions; ' +
  'list_groups/describe_group/fetch_offsets for consumer groups and consumer_lag for who is behind; describe_configs for retention settings; ' +
  'cluster_metrics for per-broker throughput and S3 health. Long lists come in pages: follow next_cursor when an answer says truncated.'

/** The error code of a failed call travels in the result's _meta (a JSON-RPC error's data) under this key. */
export const ERROR_META_KEY = 'io.kafscale/error'

/** Kafka's error code describe_topics gives a name that is not in the cluster. */
const UNKNOWN_TOPIC_OR_PARTITION = 3

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

/** A tool's outcome as MCP's answer: its result, its error, or its question for the user (the client asks, then calls again). */
export function toCallToolResult (outcome: ToolOutcome): CallToolResult | InputRequiredResult {
  if (outcome.ok) {
    return { content: [{ type: 'text', text: outcome.json }], structuredContent: outcome.output }
  }
  const { code, statusCode, message, question } = outcome.error
  if (question !== undefined) {
    // A QuestionSchema is MCP's restricted form schema; the SDK types it as one union per primitive.
    const ask = inputRequired.elicit({ message: question.message, requestedSchema: question.requestedSchema as ElicitRequestFormParams['requestedSchema'] })
    return inputRequired({ inputRequests: { [question.key]: ask }, requestState: question.state })
  }
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

/**
 * How a server instance's connection carries a question to the client's user and the answer
 * back. The SDK names the era when it asks for an instance (its factory's `era`) and keeps it
 * for the instance's life; `session` is ours to say: whether the connection outlives a request.
 */
export interface Conversation {
  era: 'modern' | 'legacy'
  /** stdio and HTTP+SSE hold one connection; stateless /mcp answers each request on a fresh instance. */
  session: boolean
  /**
   * Cluster changes for the connection, where the service has them: a 2026-07-28 request's
   * instance advertises what its listen streams deliver, a 2025-era session delivers them itself.
   */
  live?: LiveUpdates
}

/**
 * Whether this request's client can put a question to its user and come back with the answer.
 * 2026-07-28: the client answers an input_required result and calls again, on any transport, if
 * the request's own envelope declares form elicitation (the SDK refuses to send one otherwise).
 * 2025 era: the SDK's legacy shim sends a real elicitation/create and re-enters the handler,
 * which can only be answered on a session whose client declared elicitation at initialize. A
 * stateless 2025-era request has no way back: the question would never be answered.
 */
function interactionOf (server: McpServer, conversation: Conversation, ctx: ServerContext): Interaction {
  const declared = conversation.era === 'modern'
    ? (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined
    // The initialize-declared capabilities: on a 2025-era connection this accessor is where they are.
    : conversation.session ? server.server.getClientCapabilities() : undefined
  const state = ctx.mcpReq.requestState()
  return {
    canAsk: declaresFormElicitation(declared),
    ...(ctx.mcpReq.inputResponses !== undefined ? { responses: ctx.mcpReq.inputResponses } : {}),
    ...(typeof state === 'string' ? { state } : {})
  }
}

/** Form elicitation, or a bare `elicitation: {}`, which meant form before modes existed (2025-06-18). */
function declaresFormElicitation (capabilities: ClientCapabilities | undefined): boolean {
  const elicitation = capabilities?.elicitation as Record<string, unknown> | undefined
  if (elicitation === null || typeof elicitation !== 'object') return false
  return elicitation.form !== undefined || elicitation.url === undefined
}

type Ask = (ctx: ServerContext) => Interaction

function register (server: McpServer, registry: ToolRegistry, tool: RegisteredTool, caller: Caller, ask: Ask): void {
  const { definition } = tool
  const config = {
    scopeChallenge: async ({ request }: { request: { id: string | number, params?: Record<string, unknown> } }) => await scopeChallenge(registry, tool, perCall(caller, request.id), request.params?.arguments),
    description: definition.description,
    inputSchema: forSdk(definition.input),
    outputSchema: forSdk(definition.output),
    annotations: { ...definition.annotations, ...(definition.title !== undefined ? { title: definition.title } : {}) },
    ...(definition.title !== undefined ? { title: definition.title } : {})
  }
  server.registerTool(definition.name, config, async (args: unknown, ctx: ServerContext) =>
    toCallToolResult(await registry.call(definition.name, args, { caller: perCall(caller, ctx.mcpReq.id), signal: ctx.mcpReq.signal, interaction: ask(ctx) })))
}

/**
 * A token whose scopes hold the tool back gets an HTTP 403 insufficient_scope challenge, so
 * OAuth clients can step up. The SDK sends it without calling the tool, so the refusal is put
 * through the registry here, which audits it. The registry decides in the same synchronous step
 * as this check (no await between them), so it refuses too and nothing runs. Transports that do
 * not challenge (SSE, stdio) call the tool, and the registry refuses and audits it there.
 */
async function scopeChallenge (registry: ToolRegistry, tool: RegisteredTool, caller: Caller, args: unknown): Promise<{ scopes: [string, ...string[]], errorDescription: string } | undefined> {
  const decision = registry.decide(caller.principal, tool)
  const missing = decision.allowed ? undefined : decision.missingScopes
  if (missing === undefined || missing.length === 0) return undefined
  await registry.call(tool.definition.name, args, { caller })
  return { scopes: missing as [string, ...string[]], errorDescription: `tool ${tool.definition.name} needs ${missing.join(' ')}` }
}

/**
 * A call of a tool this caller was not shown (unknown, or not granted). The registry refuses and
 * audits it; the answer stays what MCP prescribes for an unknown tool, a JSON-RPC -32602, worded
 * as over REST. A tool granted since this server was built (policy reload) is simply answered.
 */
async function callUnserved (registry: ToolRegistry, caller: Caller, name: string, args: unknown, ctx: ServerContext, ask: Ask): Promise<CallToolResult | InputRequiredResult> {
  const tool = registry.get(name)
  const refused = tool === undefined || !registry.decide(caller.principal, tool).allowed
  const outcome = await registry.call(name, args, { caller, signal: ctx.mcpReq.signal, interaction: ask(ctx) })
  if (outcome.ok || !refused) return toCallToolResult(outcome)
  throw new ProtocolError(ProtocolErrorCode.InvalidParams, outcome.error.message, errorData(outcome.error))
}

function errorData ({ code, statusCode }: ToolFailure): Record<string, unknown> {
  return { [ERROR_META_KEY]: { code, statusCode } }
}

/** On stdio one connection carries many calls: each gets its own request id for the audit. */
function perCall (caller: Caller, id: string | number): Caller {
  return caller.transport === 'stdio' ? { ...caller, requestId: `stdio-${id}` } : caller
}

/** A tool's output for a resource read or listing, or the tool's error as a JSON-RPC error. */
async function readThrough (registry: ToolRegistry, caller: Caller, tool: string, args: Record<string, unknown>, uri?: URL): Promise<Record<string, unknown>> {
  const outcome = await registry.call(tool, args, { caller })
  if (!outcome.ok) throw resourceError(outcome.error, uri)
  return outcome.output
}

/**
 * A client's mistake is not an internal error: a resource that does not exist is the spec's
 * resource-not-found (-32602 with exactly `{ uri }` as data, SEP-2164, so SDK clients recognise
 * it), other 4xx refusals are invalid params; only the service's own failures are -32603.
 */
function resourceError (failure: ToolFailure, uri: URL | undefined): ProtocolError {
  if (uri !== undefined && failure.statusCode === 404) return new ResourceNotFoundError(uri.href, failure.message)
  const code = failure.statusCode < 500 ? ProtocolErrorCode.InvalidParams : ProtocolErrorCode.InternalError
  return new ProtocolError(code, failure.message, { ...(uri !== undefined ? { uri: uri.href } : {}), ...errorData(failure) })
}

/** A name taken from a resource URI, percent-decoded; a malformed escape is the client's mistake. */
function uriVariable (uri: URL, value: string | string[] | undefined): string {
  try {
    return decodeURIComponent(String(value))
  } catch {
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Resource URI ${uri.href} is invalid: malformed percent-encoding`, { uri: uri.href, reason: 'invalid_uri' })
  }
}

function jsonContents (uri: URL, value: unknown): { contents: Array<{ uri: string, mimeType: string, text: string }> } {
  return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(value) }] }
}

// Resources mirror the read tools for clients that prefer resources; reads go through the
// registry, so the same policy and audit apply.
function registerResources (server: McpServer, registry: ToolRegistry, caller: Caller, visible: Set<string>, completers: Completers): void {
  if (servesKind('cluster', visible)) {
    server.registerResource('cluster', CLUSTER_URI, { title: 'KafScale cluster status', description: 'Brokers, topics, S3 and etcd state (cluster_status)', mimeType: 'application/json' },
      async (uri) => jsonContents(uri, await readThrough(registry, caller, 'cluster_status', {}, uri)))
  }
  if (servesKind('topic', visible)) {
    server.registerResource('topic', new ResourceTemplate('kafscale://topics/{name}', {
      list: async () => {
        const { topics } = await readThrough(registry, caller, 'list_topics', { limit: 10000 }) as { topics: Array<{ name: string, partition_count: number }> }
        return { resources: topics.map((t) => ({ uri: topicUri(t.name), name: t.name, description: `${t.partition_count} partition(s)`, mimeType: 'application/json' })) }
      },
      complete: completers.variables('kafscale://topics/{name}', { name: 'topic' })
    }), { title: 'KafScale topic', description: 'A topic with its partitions (describe_topics)', mimeType: 'application/json' },
    async (uri, variables) => {
      const name = uriVariable(uri, variables.name)
      const described = await readThrough(registry, caller, 'describe_topics', { names: [name] }, uri) as { topics: Array<{ error_code: number }> }
      if (described.topics[0]?.error_code === UNKNOWN_TOPIC_OR_PARTITION) throw new ResourceNotFoundError(uri.href, `topic ${JSON.stringify(name)} not found`)
      return jsonContents(uri, described)
    })
  }
  if (servesKind('topicConfig', visible)) {
    server.registerResource('topic-config', new ResourceTemplate('kafscale://topics/{name}/config', { list: undefined, complete: completers.variables('kafscale://topics/{name}/config', { name: 'topic' }) }),
      { title: 'KafScale topic config', description: 'A topic\'s stored or default configuration (describe_configs)', mimeType: 'application/json' },
      async (uri, variables) => jsonContents(uri, await readThrough(registry, caller, 'describe_configs', { topics: [uriVariable(uri, variables.name)] }, uri)))
  }
  if (servesKind('group', visible)) {
    server.registerResource('group', new ResourceTemplate('kafscale://groups/{group_id}', {
      list: async () => {
        const { groups } = await readThrough(registry, caller, 'list_groups', { limit: 10000 }) as { groups: Array<{ group_id: string, state: string, member_count: number }> }
        return { resources: groups.map((g) => ({ uri: groupUri(g.group_id), name: g.group_id, description: `${g.state}, ${g.member_count} member(s)`, mimeType: 'application/json' })) }
      },
      complete: completers.variables('kafscale://groups/{group_id}', { group_id: 'group' })
    }), { title: 'KafScale consumer group', description: 'A group\'s members and its lag (describe_group, consumer_lag)', mimeType: 'application/json' },
    async (uri, variables) => {
      const groupId = uriVariable(uri, variables.group_id)
      const [group, lag] = await Promise.all([
        readThrough(registry, caller, 'describe_group', { group_id: groupId }, uri),
        readThrough(registry, caller, 'consumer_lag', { group_id: groupId, limit: 50 }, uri)
      ])
      return jsonContents(uri, { group, lag })
    })
  }
}

// Compiled once: the server is built per request, and compiling was a third of a build's cost.
const LagPromptArgs = validatedForSdk(Type.Object({ group: GroupId }, { additionalProperties: false }))

function registerPrompts (server: McpServer, visible: Set<string>, completers: Completers): void {
  if (visible.has('consumer_lag')) {
    server.registerPrompt('diagnose-consumer-lag', {
      title: 'Diagnose consumer lag',
      description: 'Find out whether and why a consumer group is behind, and what to do about it',
      argsSchema: completers.promptArgs('diagnose-consumer-lag', LagPromptArgs, { group: 'group' })
    }, (args: unknown) => {
      const { group } = args as { group: string }
      return {
        messages: [{
          role: 'user' as const,
          content: {
            type: 'text' as const,
            text: `Diagnose the consumer lag of group "${group}" on this KafScale cluster.\n` +
              `1. Call consumer_lag with group_id "${group}": note the total and maximum lag, the partitions most behind, partitions never committed, and negative lag.\n` +
              '   Then read its judgement, partition by partition: the group\'s `status` and `status_counts`; for each partition not ok, its `status_reason` and `evidence` ' +
              '(the window of commits: did the offset move, did the lag grow at each commit, when was the last commit; the log ends read: has the log end moved past the committed offset, and since when; ' +
              '`guards`: alarms held back, e.g. a first message after a quiet period or a rebalance). Compare `consumption_rate` with `production_rate` and read `catch_up_seconds` or its reason. ' +
              'A `no_data` status means this replica has not seen enough commits yet (`lag_window.history_since`): call again later rather than guess.\n' +
              `2. Call describe_group with group_id "${group}": are there members, is the group stable or rebalancing, which member owns the lagging partitions, when did each last heartbeat?\n` +
              '3. Call cluster_metrics: is S3 healthy, how do produce and fetch throughput compare, is one broker overloaded?\n' +
              '4. Call cluster_health for ownership problems (partitions without a lease holder, groups without a coordinator).\n' +
              'Then answer: is the group behind, since when and how badly (its status and the evidence behind it); when it will catch up, if it will; the most likely cause (stopped: no members or a crashed member; stalled: a member stuck on a message; falling behind: a slow member or a produce spike; rewind: an offset reset; rebalancing; S3 trouble); and the next action an operator should take.'
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

/**
 * A fresh MCP server with the tools this caller may see: the SDK asks for one per request
 * (stateless) or per connection. `toolCall` names the tool of the one tools/call the instance
 * will answer (a stateless request that is nothing else): registering every tool, resource and
 * prompt is most of a build's cost, so only that tool is registered when the caller may see it.
 * A tool it may not see gets the whole server, whose tools/call handler refuses and audits.
 */
export function buildMcpServer (registry: ToolRegistry, names: NameSource | undefined, version: string, caller: Caller, conversation: Conversation, toolCall?: string): McpServer {
  const called = toolCall === undefined ? undefined : registry.get(toolCall)
  const only = called !== undefined && isVisible(registry.decide(caller.principal, called)) ? called : undefined
  const served = new Set<string>()
  const completers = new Completers(new NameCompletions(registry, names, caller), (failure) => resourceError(failure, undefined))
  const server: McpServer = createMcpServer({ name: SERVER_NAME, version }, {
    instructions: INSTRUCTIONS,
    // The shim's elicitation/create can only be answered on a session; without one it would be
    // a question nobody receives. (interactionOf never asks there; this keeps it so.)
    inputRequired: { legacyShim: conversation.session }
  }, {
    serves: (name) => served.has(name),
    callUnserved: async (name, args, ctx) => await callUnserved(registry, perCall(caller, ctx.mcpReq.id), name, args, ctx, ask),
    completes: (ref) => completers.serves(ref)
  })
  const ask: Ask = (ctx) => interactionOf(server, conversation, ctx)
  // One policy decision per tool and request: what to list and what to serve.
  const callable = new Set<string>()
  for (const tool of only !== undefined ? [only] : registry.list()) {
    const decision = registry.decide(caller.principal, tool)
    if (!isVisible(decision)) continue
    register(server, registry, tool, caller, ask)
    served.add(tool.definition.name)
    if (decision.allowed) callable.add(tool.definition.name)
  }
  if (only !== undefined) return server
  registerResources(server, registry, caller, callable, completers)
  registerPrompts(server, callable, completers)
  const { live } = conversation
  // A listen stream (2026-07-28) or a session (2025 era) can carry notifications; a stateless 2025-era POST cannot.
  const deliverable = live !== undefined && (conversation.era === 'modern' ? !conversation.session : conversation.session)
  server.server.registerCapabilities(liveCapabilities(deliverable, server.server.getCapabilities()))
  if (deliverable && conversation.session) live.attachSession(server, caller)
  return server
}
