import type { TSchema } from 'typebox'
import { boundedText, digestArguments, redact, type AuditLog, type AuditRecord, type MutationAuditFields } from '../lib/audit.ts'
import type { Decision, PolicyStore } from '../lib/auth/policy.ts'
import type { Principal } from '../lib/auth/principal.ts'
import { AuditUnavailableError, CannotAskUserError, ForbiddenError, InsufficientScopeError, InternalError, InvalidInputError, ResponseTooLargeError, ToolDefinitionError, UnknownToolError, UserInputRequiredError } from '../lib/errors.ts'
import { compileSchema, maxJsonBytes, type Validator } from '../lib/schema.ts'
import { NO_INTERACTION, UserInputRequired, type Interaction, type Question } from './ask.ts'
import { answerJson } from './paging.ts'
import { codedError } from './tool-error.ts'
import { isApprovalTool, readOnlySources, toolContext, type AuditNote, type Caller, type DataSources, type ToolContext, type ToolDefinition, type ToolLogger } from './tool.ts'

/** The tool-call counters and durations the service exports (/metrics). */
export interface CallMetrics {
  observe: (tool: string, transport: string, outcome: 'ok' | 'error' | 'denied', seconds: number) => void
}

/**
 * Everything the registry works with, handed over when it is built: who may call what, where
 * calls are recorded and counted, and the data tools read. Nothing is looked up at call time.
 */
export interface ToolServices {
  policy: Pick<PolicyStore, 'decide'>
  audit: Pick<AuditLog, 'enabled' | 'failClosedForReads' | 'record'>
  callMetrics: CallMetrics
  sources: DataSources
  log: ToolLogger
  /** Size cap of one answer in characters of JSON. */
  maxResponseChars: number
}

export interface RegisteredTool {
  definition: ToolDefinition
  input: Validator
  output: Validator
  /**
   * Bytes of the largest request body a valid input can need (every character escaped, pretty
   * printed, in a JSON-RPC envelope); a larger body can be refused unread. Infinity when the
   * input schema leaves a string or list unbounded (a plugin's may): the transport's limit applies.
   */
  bodyLimit: number
}

export interface ToolCallOptions {
  caller: Caller
  signal?: AbortSignal
  /** Whether the client can ask its user a question, and the answers of a retry (default: it cannot). */
  interaction?: Interaction
}

export type ToolOutcome =
  /** `json` is the output's JSON text, measured for the size cap: the transports send it as it is. */
  | { ok: true, output: Record<string, unknown>, json: string }
  | { ok: false, error: ToolFailure }

export interface ToolFailure {
  code: string
  statusCode: number
  message: string
  /** Scopes to ask the identity provider for (insufficient_scope). */
  missingScopes?: string[]
  /** The question the tool needs its user to answer before it can go on (the client asks, then calls again). */
  question?: Question
}

const NAME = /^[a-z][a-z0-9_]{0,63}$/

/** Room around the arguments in a request body: the JSON-RPC envelope of /mcp (id, method, tool name, _meta). */
const ENVELOPE_BYTES = 16 * 1024
const ANNOTATIONS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const

/**
 * Every tool, whichever transport calls it. MCP and the REST mirror both dispatch through
 * `call`, so input validation, output validation and error mapping happen in one place.
 */
export class ToolRegistry {
  private readonly tools = new Map<string, RegisteredTool>()

  private readonly services: ToolServices

  constructor (services: ToolServices) {
    this.services = { ...services, sources: readOnlySources(services.sources) }
  }

  add (definition: ToolDefinition<TSchema, TSchema>): void {
    if (!NAME.test(definition.name)) throw new ToolDefinitionError(JSON.stringify(definition.name), `has a name that does not match ${NAME}`)
    if (this.tools.has(definition.name)) throw new ToolDefinitionError(definition.name, 'is registered twice')
    if (typeof definition.description !== 'string' || definition.description.trim() === '') throw new ToolDefinitionError(definition.name, 'needs a description')
    for (const key of ANNOTATIONS) {
      if (typeof definition.annotations?.[key] !== 'boolean') throw new ToolDefinitionError(definition.name, `must set annotations.${key} explicitly`)
    }
    if ((definition.input as { type?: unknown })?.type !== 'object' || (definition.output as { type?: unknown })?.type !== 'object') throw new ToolDefinitionError(definition.name, 'needs object input and output schemas')
    if (typeof definition.handler !== 'function') throw new ToolDefinitionError(definition.name, 'needs a handler')
    this.tools.set(definition.name, {
      definition,
      input: compileSchema(definition.input),
      output: compileSchema(definition.output),
      bodyLimit: maxJsonBytes(definition.input) + ENVELOPE_BYTES
    })
  }

  list (): RegisteredTool[] {
    return [...this.tools.values()]
  }

  get (name: string): RegisteredTool | undefined {
    return this.tools.get(name)
  }

  /** What the policy says about this principal and tool (the dispatch check uses the same). */
  decide (principal: Principal, tool: RegisteredTool): Decision {
    return this.services.policy.decide(principal, { name: tool.definition.name, readOnly: tool.definition.annotations.readOnlyHint, approval: isApprovalTool(tool.definition) })
  }

  /** Tools a principal may see: those it may call, and those its token's scopes hold back (step-up). */
  visibleTo (principal: Principal): RegisteredTool[] {
    return this.list().filter((tool) => isVisible(this.decide(principal, tool)))
  }

  /**
   * Authorizes, validates, runs and audits one call. Every transport dispatches here, so a
   * tool hidden from a caller cannot be reached by naming it, over MCP or REST.
   */
  async call (name: string, rawInput: unknown, options: ToolCallOptions): Promise<ToolOutcome> {
    const started = performance.now()
    const tool = this.tools.get(name)
    // No arguments at all means none given; a body of null is an input like any other, and refused.
    const input = rawInput === undefined ? {} : rawInput
    let decision: Decision = { allowed: false, rule: 'unknown-tool', roles: [] }
    let outcome: ToolOutcome
    // What the tool adds to its own record (a mutation's plan, diff and phase).
    const note: AuditNote = {}
    if (tool === undefined) {
      outcome = failure(new UnknownToolError(JSON.stringify(boundedText(name))))
    } else {
      decision = this.decide(options.caller.principal, tool)
      outcome = decision.allowed ? await this.run(tool, input, options, decision, note) : denial(decision)
    }
    const audited = await this.audit(name, input, options, decision, outcome, performance.now() - started, note)
    const readOnly = tool?.definition.annotations.readOnlyHint ?? true
    // A change the broker made is reported as made: withholding it would tell a lie (the intent record is on disk).
    const applied = note.mutation?.result === 'applied'
    if (!audited && applied) this.services.log.error({ tool: name }, 'the outcome record of an applied change could not be written; its intent record stands')
    const final = !audited && outcome.ok && !applied && (!readOnly || this.services.audit.failClosedForReads) ? failure(new AuditUnavailableError()) : outcome
    // Unknown names are not labels: a caller must not be able to grow the metric set.
    this.services.callMetrics.observe(tool === undefined ? 'unknown' : name, options.caller.transport, final.ok ? 'ok' : decision.allowed ? 'error' : 'denied', (performance.now() - started) / 1000)
    return final
  }

  /**
   * Audits a request that is no tool call but answers what `tool` would, as `completion/complete`
   * offers the names list_topics lists: reading the names must leave the same trail. `false`
   * when the record could not be written and reads fail closed, so the caller must refuse.
   */
  async auditAccess (method: string, input: unknown, caller: Caller, tool: RegisteredTool, decision: Decision, failed: (Error & { code: string }) | undefined, durationMs: number): Promise<boolean> {
    const outcome: ToolOutcome = !decision.allowed ? denial(decision) : failed === undefined ? { ok: true, output: {}, json: '' } : failure(failed)
    const audited = await this.audit(`${method} ${tool.definition.name}`, input, { caller }, decision, outcome, durationMs, {})
    return audited || !this.services.audit.failClosedForReads
  }

  private async run (tool: RegisteredTool, input: unknown, options: ToolCallOptions, decision: Decision, note: AuditNote): Promise<ToolOutcome> {
    const name = tool.definition.name
    if (!tool.input.check(input)) return failure(new InvalidInputError(tool.input.problems(input).join('; ')))
    try {
      const output = await tool.definition.handler(input, this.context(options, decision, note))
      if (!tool.output.check(output)) {
        this.services.log.error({ tool: name, problems: tool.output.problems(output) }, 'tool output does not match its schema')
        return failure(new InternalError(`tool ${name} produced an invalid result`))
      }
      // Measured here for every tool, built-in or plugin; the transports send this same text.
      const json = answerJson(output as object)
      const cap = this.services.maxResponseChars
      if (json.length > cap) return failure(new ResponseTooLargeError(name, json.length, cap, howToAskForLess(tool.definition.input)))
      return { ok: true, output: output as Record<string, unknown>, json }
    } catch (err) {
      if (err instanceof UserInputRequired) return asked(err.question, options.interaction ?? NO_INTERACTION)
      const coded = codedError(err)
      if (coded !== undefined) return failure(coded)
      this.services.log.error({ err, tool: name }, 'tool failed')
      return failure(new InternalError(`tool ${name} failed unexpectedly`))
    }
  }

  private async audit (tool: string, input: unknown, options: ToolCallOptions, decision: Decision, outcome: ToolOutcome, durationMs: number, note: AuditNote): Promise<boolean> {
    const { audit } = this.services
    if (!audit.enabled) return true
    const record: AuditRecord = {
      ...callRecord(tool, input, options.caller, decision),
      outcome: outcome.ok ? 'ok' : decision.allowed ? 'error' : 'denied',
      ...(outcome.ok ? {} : { error_code: outcome.error.code }),
      duration_ms: Math.round(durationMs * 1000) / 1000,
      diff: note.diff ?? null,
      ...(note.mutation !== undefined ? { mutation: note.mutation as unknown as MutationAuditFields } : {})
    }
    return await audit.record(record)
  }

  private context (options: ToolCallOptions, decision: Decision, note: AuditNote): ToolContext {
    return toolContext(this.services.sources, {
      log: this.services.log,
      caller: options.caller,
      grant: { rule: decision.rule, roles: decision.roles },
      interaction: options.interaction ?? NO_INTERACTION,
      noteAudit: (fields) => { Object.assign(note, fields) },
      maxResponseChars: this.services.maxResponseChars,
      signal: options.signal ?? new AbortController().signal
    })
  }
}

/**
 * Who called what, as every audit record of a call starts. Every string can come from the caller
 * (token claims, client info, a tool name that is no tool): a record keeps a bounded prefix of
 * each, so its size cannot be driven up.
 */
export function callRecord (tool: string, input: unknown, caller: Caller, grant: { allowed?: boolean, rule: string, roles: string[] }): Pick<AuditRecord, 'time' | 'request_id' | 'transport' | 'principal' | 'roles' | 'tool' | 'arguments' | 'arguments_sha256' | 'decision' | 'rule'> {
  const { principal, client, transport, requestId } = caller
  return {
    time: new Date().toISOString(),
    request_id: boundedText(requestId),
    transport,
    principal: {
      id: boundedText(principal.id),
      sub: boundedText(principal.subject),
      ...(principal.issuer !== undefined ? { iss: boundedText(principal.issuer) } : {}),
      ...(principal.clientId !== undefined ? { client_id: boundedText(principal.clientId) } : {}),
      ...(client?.name !== undefined ? { client_name: boundedText(client.name) } : {}),
      ...(client?.version !== undefined ? { client_version: boundedText(client.version) } : {})
    },
    roles: grant.roles,
    tool: boundedText(tool),
    arguments: redact(input),
    arguments_sha256: digestArguments(input),
    decision: grant.allowed === false ? 'deny' : 'allow',
    rule: grant.rule
  }
}

/** A question for the user: sent when the client can ask, else a refusal that says so. */
function asked (question: Question, interaction: Interaction): ToolOutcome {
  const err = interaction.canAsk ? new UserInputRequiredError(question.message) : new CannotAskUserError(question.message)
  return { ok: false, error: { code: err.code, statusCode: err.statusCode, message: err.message, ...(interaction.canAsk ? { question } : {}) } }
}

/** What the caller of an answer over the size cap can do: the tool's own arguments that narrow it. */
function howToAskForLess (input: ToolDefinition['input']): string {
  const fields = Object.keys((input as { properties?: Record<string, unknown> }).properties ?? {})
  if (fields.length === 0) return 'this tool takes no arguments to narrow it; the operator can raise the cap'
  const named = fields.map((f) => `\`${f}\``).join(', ')
  return fields.includes('cursor')
    ? `ask for less with ${named}: pass a smaller \`limit\` or a \`prefix\`, and follow \`next_cursor\` for the rest`
    : `ask for less with ${named}`
}

/** A caller sees the tools it may call and those its token's scopes hold back (for step-up). */
export function isVisible (decision: Decision): boolean {
  return decision.allowed || decision.missingScopes !== undefined
}

function denial (decision: Decision): ToolOutcome {
  if (decision.missingScopes !== undefined) {
    const err = new InsufficientScopeError(decision.reason ?? '')
    return { ok: false, error: { code: err.code, statusCode: 403, message: err.message, missingScopes: decision.missingScopes } }
  }
  return failure(new ForbiddenError(decision.reason ?? 'not allowed'))
}

function failure (err: Error & { code: string, statusCode?: number }): ToolOutcome {
  return { ok: false, error: { code: err.code, statusCode: err.statusCode ?? 500, message: err.message } }
}
