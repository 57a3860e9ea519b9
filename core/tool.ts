import type { Static, TSchema } from 'typebox'
import type { Interaction } from './ask.ts'
import type { Principal } from '../lib/auth/principal.ts'
import { BrokerControlNotConfiguredError, MetricsNotConfiguredError, OperatorMetricsNotConfiguredError, StoreNotConfiguredError } from '../lib/errors.ts'
import type { BrokerControlPool } from '../lib/kafscale/control.ts'
import { rfc3339 } from '../lib/kafscale/offsets.ts'
import type { ClusterMetricsCollector } from '../lib/metrics/cluster-metrics.ts'
import type { OperatorSummary } from '../lib/metrics/operator-summary.ts'
import type { MetricsScraper } from '../lib/metrics/scraper.ts'
import { METADATA_READS, type MetadataReader } from '../lib/store/kafscale-store.ts'

export type { MetadataReader }

/** MCP tool annotations; every tool states all four, none is left to client defaults. */
export interface ToolAnnotations {
  readOnlyHint: boolean
  destructiveHint: boolean
  idempotentHint: boolean
  openWorldHint: boolean
}

/** Annotations of a tool that only reads KafScale's own state. */
export const READ_ONLY: ToolAnnotations = Object.freeze({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false })

/** Who is calling and how: set by the gate, never invented past it. */
export interface Caller {
  principal: Principal
  transport: 'mcp' | 'rest' | 'stdio'
  requestId: string
  /** The MCP client's name and version, when it sent them. */
  client?: { name?: string, version?: string }
}

const BROKER_METRICS_READS = ['collect', 'targets'] as const
/** Broker metrics as a tool reads them: per-broker scrapes of the snapshot's brokers. */
export type BrokerMetricsReader = Pick<ClusterMetricsCollector, typeof BROKER_METRICS_READS[number]>

const OPERATOR_METRICS_READS = ['scrape'] as const
/** The KafScale operator's metrics (etcd backup health). */
export type OperatorMetricsReader = Pick<MetricsScraper<OperatorSummary>, typeof OPERATOR_METRICS_READS[number]>

const BROKER_CONTROL_READS = ['statuses'] as const
/** The brokers' control plane as a read tool sees it: GetStatus of each broker, no drain, no flush. */
export type BrokerControlReader = Pick<BrokerControlPool, typeof BROKER_CONTROL_READS[number]>

/**
 * The data a tool may read. Each source is optional and follows one rule: it is undefined when
 * the operator did not configure it, and `ctx.require(name)` returns it or throws its declared
 * "not configured" error (503), which callers see with its code.
 */
export interface DataSources {
  store: MetadataReader | undefined
  brokerMetrics: BrokerMetricsReader | undefined
  operatorMetrics: OperatorMetricsReader | undefined
  brokerControl: BrokerControlReader | undefined
}

/**
 * The sources as tools get them: objects holding only the read methods, bound to the service's
 * own, so a plugin (in JavaScript too) cannot reach the etcd client, a cache or close().
 */
export function readOnlySources (sources: DataSources): DataSources {
  return {
    store: sources.store && readOnlyView(sources.store, METADATA_READS),
    brokerMetrics: sources.brokerMetrics && readOnlyView(sources.brokerMetrics, BROKER_METRICS_READS),
    operatorMetrics: sources.operatorMetrics && readOnlyView(sources.operatorMetrics, OPERATOR_METRICS_READS),
    brokerControl: sources.brokerControl && readOnlyView(sources.brokerControl, BROKER_CONTROL_READS)
  }
}

function readOnlyView<T extends object, K extends keyof T> (target: T, methods: readonly K[]): Pick<T, K> {
  const view = Object.fromEntries(methods.map((name) => [name, (target[name] as (...args: unknown[]) => unknown).bind(target)]))
  return Object.freeze(view) as Pick<T, K>
}

/** Where each source is configured, as its "not configured" error says. */
const NOT_CONFIGURED: { [K in keyof DataSources]: new () => Error } = {
  store: StoreNotConfiguredError,
  brokerMetrics: MetricsNotConfiguredError,
  operatorMetrics: OperatorMetricsNotConfiguredError,
  brokerControl: BrokerControlNotConfiguredError
}

/** The logger a tool gets: pino's call shapes, so the service's own logger fits. */
export interface ToolLogger {
  debug: (obj: object, msg?: string) => void
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
}

/** What a tool adds to the audit record of its own call. */
export interface AuditNote {
  /** What the call changed or would change (before/after). */
  diff?: unknown
  /** A mutation's phase, plan and result (lib/audit.ts). */
  mutation?: Record<string, unknown>
}

/** What a tool handler may use: read-only views of the cluster's data, never a client or a close(). */
export interface ToolContext extends Readonly<DataSources> {
  /** The source, or its declared "not configured" error thrown. */
  require: <K extends keyof DataSources>(name: K) => NonNullable<DataSources[K]>
  log: ToolLogger
  caller: Readonly<Caller>
  /** The policy rule and roles that allowed this call. */
  grant: Readonly<{ rule: string, roles: string[] }>
  /** Whether the client can ask its user (throw UserInputRequired, core/ask.ts), and a retry's answers. */
  interaction: Readonly<Interaction>
  /** Adds to this call's audit record; the last note of a field wins. */
  noteAudit: (fields: AuditNote) => void
  /** Answers must stay under this many characters of JSON; page longer ones (`paginate`). */
  maxResponseChars: number
  /** Aborted when the client goes away. */
  signal: AbortSignal
}

export function toolContext (sources: DataSources, rest: Omit<ToolContext, keyof DataSources | 'require'>): ToolContext {
  return {
    ...sources,
    ...rest,
    require: (name) => sources[name] ?? fail(new NOT_CONFIGURED[name]())
  }
}

function fail (err: Error): never {
  throw err
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

// Tools whose call is an approval of another caller's plan (policy tool set "@approve"): they
// change nothing in the cluster, yet must not come with "@mutate" or "@observe".
const approvalTools = new WeakSet<object>()

/** Marks a definition as an approval tool; only the service's own mutation plugin does. */
export function markApprovalTool<T extends ToolDefinition<any, any>> (definition: T): T {
  approvalTools.add(definition)
  return definition
}

export function isApprovalTool (definition: ToolDefinition<any, any>): boolean {
  return approvalTools.has(definition)
}

/** Identity function that gives a tool definition its types: `toolPlugin(defineTool({...}))`. */
export function defineTool<I extends TSchema, O extends TSchema> (definition: ToolDefinition<I, O>): ToolDefinition<I, O> {
  return definition
}

/** Go's time.RFC3339 of now, as the reference server stamps `observed_at`. */
export function observedAt (): string {
  return rfc3339(new Date())
}
