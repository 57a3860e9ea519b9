import fp from 'fastify-plugin'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { TSchema } from 'typebox'
import { InvalidInputError, isCodedError, MetricsNotConfiguredError, StoreNotConfiguredError, UnknownToolError } from '../lib/errors.ts'
import { compileSchema, type Validator } from '../lib/schema.ts'
import type { Caller, ToolContext, ToolDefinition } from '../lib/tool.ts'

export interface RegisteredTool {
  definition: ToolDefinition
  input: Validator
  output: Validator
}

export interface ToolCallOptions {
  caller: Caller
  signal?: AbortSignal
}

export type ToolOutcome =
  | { ok: true, output: Record<string, unknown> }
  | { ok: false, error: ToolFailure }

export interface ToolFailure {
  code: string
  statusCode: number
  message: string
}

const NAME = /^[a-z][a-z0-9_]{0,63}$/
const ANNOTATIONS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const

/**
 * Every tool, whichever transport calls it. MCP and the REST mirror both dispatch through
 * `call`, so input validation, output validation and error mapping happen in one place.
 */
export class ToolRegistry {
  private readonly tools = new Map<string, RegisteredTool>()

  private readonly app: FastifyInstance
  private readonly log: FastifyBaseLogger

  constructor (app: FastifyInstance, log: FastifyBaseLogger) {
    this.app = app
    this.log = log
  }

  add (definition: ToolDefinition<TSchema, TSchema>): void {
    if (!NAME.test(definition.name)) throw new Error(`tool name ${JSON.stringify(definition.name)} must match ${NAME}`)
    if (this.tools.has(definition.name)) throw new Error(`tool ${definition.name} is registered twice`)
    if (typeof definition.description !== 'string' || definition.description.trim() === '') throw new Error(`tool ${definition.name} needs a description`)
    for (const key of ANNOTATIONS) {
      if (typeof definition.annotations?.[key] !== 'boolean') throw new Error(`tool ${definition.name} must set annotations.${key} explicitly`)
    }
    if ((definition.input as { type?: unknown })?.type !== 'object' || (definition.output as { type?: unknown })?.type !== 'object') throw new Error(`tool ${definition.name} needs object input and output schemas`)
    if (typeof definition.handler !== 'function') throw new Error(`tool ${definition.name} needs a handler`)
    this.tools.set(definition.name, { definition, input: compileSchema(definition.input), output: compileSchema(definition.output) })
  }

  list (): RegisteredTool[] {
    return [...this.tools.values()]
  }

  get (name: string): RegisteredTool | undefined {
    return this.tools.get(name)
  }

  async call (name: string, rawInput: unknown, options: ToolCallOptions): Promise<ToolOutcome> {
    const tool = this.tools.get(name)
    if (tool === undefined) return failure(new UnknownToolError(JSON.stringify(name)))
    const input = rawInput ?? {}
    if (!tool.input.check(input)) return failure(new InvalidInputError(tool.input.problems(input).join('; ')))
    const ctx = this.context(options)
    try {
      const output = await tool.definition.handler(input, ctx)
      if (!tool.output.check(output)) {
        this.log.error({ tool: name, problems: tool.output.problems(output) }, 'tool output does not match its schema')
        return { ok: false, error: { code: 'KSMCP_ERR_INTERNAL', statusCode: 500, message: `tool ${name} produced an invalid result` } }
      }
      return { ok: true, output: output as Record<string, unknown> }
    } catch (err) {
      if (isCodedError(err)) return failure(err)
      this.log.error({ err, tool: name }, 'tool failed')
      return { ok: false, error: { code: 'KSMCP_ERR_INTERNAL', statusCode: 500, message: `tool ${name} failed unexpectedly` } }
    }
  }

  private context (options: ToolCallOptions): ToolContext {
    const { app } = this
    return {
      store: () => app.kafscaleStore ?? fail(new StoreNotConfiguredError()),
      metrics: () => app.brokerMetrics ?? fail(new MetricsNotConfiguredError()),
      hasMetrics: app.brokerMetrics !== undefined,
      log: this.log,
      caller: options.caller,
      signal: options.signal ?? new AbortController().signal
    }
  }
}

function fail (err: Error): never {
  throw err
}

function failure (err: Error & { code: string, statusCode?: number }): ToolOutcome {
  return { ok: false, error: { code: err.code, statusCode: err.statusCode ?? 500, message: err.message } }
}

declare module 'fastify' {
  interface FastifyInstance {
    tools: ToolRegistry
  }
}

export default fp(async function toolRegistry (app) {
  app.decorate('tools', new ToolRegistry(app, app.log.child({ component: 'tools' })))
}, { name: 'kafscale-tool-registry', fastify: '5.x' })
