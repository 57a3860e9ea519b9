import type { FastifyBaseLogger } from 'fastify'
import type { Static, TSchema } from 'typebox'
import type { KafscaleStore } from './store/kafscale-store.ts'
import type { ClusterMetricsCollector } from './metrics/cluster-metrics.ts'
import type { OperatorSummary } from './metrics/operator-summary.ts'
import type { MetricsScraper } from './metrics/scraper.ts'
import type { Principal } from './auth/principal.ts'
import { rfc3339 } from './kafscale/offsets.ts'

/** MCP tool annotations; every tool states all four, none is left to client defaults. */
export interface ToolAnnotations {
  readOnlyHint: boolean
  destructiveHint: boolean
  idempotentHint: boolean
  openWorldHint: boolean
}

/** Who is calling and how. */
export interface Caller {
  principal: Principal
  transport: 'mcp' | 'rest' | 'stdio'
  requestId: string
  /** The MCP client's name and version, when it sent them. */
  client?: { name?: string, version?: string }
}

/** What a tool handler may use. Data access lives in the store and the scraper, not in tools. */
export interface ToolContext {
  /** The KafScale metadata store; throws KSMCP_ERR_STORE_NOT_CONFIGURED when there is none. */
  store: () => KafscaleStore
  /** Broker metrics, per broker; throws KSMCP_ERR_METRICS_NOT_CONFIGURED when there are none. */
  metrics: () => ClusterMetricsCollector
  hasMetrics: boolean
  /** The operator's metrics scraper, when KAFSCALE_MCP_OPERATOR_METRICS_URL is set. */
  operatorMetrics: MetricsScraper<OperatorSummary> | undefined
  log: FastifyBaseLogger
  caller: Caller
  /** Answers must stay under this many characters of JSON; page longer ones (lib/paging.ts). */
  maxResponseChars: number
  /** Aborted when the client goes away. */
  signal: AbortSignal
}

export interface ToolDefinition<I extends TSchema = TSchema, O extends TSchema = TSchema> {
  /** snake_case, unique in the server */
  name: string
  title?: string
  /** Written for an LLM: what the tool returns and when to use it. */
  description: string
  input: I
  output: O
  annotations: ToolAnnotations
  handler: (input: Static<I>, ctx: ToolContext) => Promise<Static<O>>
}

/** Identity function that gives a tool definition its types: `app.tools.add(defineTool({...}))`. */
export function defineTool<I extends TSchema, O extends TSchema> (definition: ToolDefinition<I, O>): ToolDefinition<I, O> {
  return definition
}

/** Go's time.RFC3339 of now, as the reference server stamps `observed_at`. */
export function observedAt (): string {
  return rfc3339(new Date())
}
