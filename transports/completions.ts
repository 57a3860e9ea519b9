import { completable, type CompleteRequest, type CompleteResourceTemplateCallback, type CompleteResult, type StandardSchemaV1, type StandardSchemaWithJSON } from '@modelcontextprotocol/server'
import type { NameCompletions, NameKind } from '../core/completions.ts'
import type { ToolFailure } from '../core/registry.ts'
import { codedError } from '../core/tool-error.ts'
import { InternalError } from '../lib/errors.ts'

export type CompletionRef = CompleteRequest['params']['ref']

/** The answer to a completion request for a prompt or template this server does not have. */
export const NOTHING_TO_COMPLETE: CompleteResult = { completion: { values: [], total: 0, hasMore: false } }

/**
 * The `completion/complete` callbacks of one server instance, and the prompts and templates they
 * were given to. The SDK caps an answer at 100 values and counts `total` and `hasMore` from the
 * whole list a callback returns, so callbacks return every match.
 */
export class Completers {
  private readonly names: NameCompletions
  private readonly failed: (failure: ToolFailure) => Error
  private readonly prompts = new Set<string>()
  private readonly templates = new Set<string>()

  /** `failed` words a failure (store down, value too long) as the server's other JSON-RPC errors. */
  constructor (names: NameCompletions, failed: (failure: ToolFailure) => Error) {
    this.names = names
    this.failed = failed
  }

  /** The `complete` callbacks of the resource template `uri`: its variables complete with names of the given kinds. */
  variables (uri: string, variables: Record<string, NameKind>): Record<string, CompleteResourceTemplateCallback> {
    this.templates.add(uri)
    return this.callbacks(variables, (callback) => callback)
  }

  /**
   * A prompt's argument schema whose arguments complete with names of the given kinds. SDK 2.4
   * finds prompt completers only on a Zod-like `shape` (modelcontextprotocol/typescript-sdk#1474),
   * so the schema gets one; the SDK reads nothing else from it, and arguments are still validated
   * by `schema` itself.
   */
  promptArgs<S extends StandardSchemaWithJSON> (prompt: string, schema: S, args: Record<string, NameKind>): S {
    this.prompts.add(prompt)
    return { ...schema, shape: this.callbacks(args, (callback) => completable(completerCarrier(), callback)) }
  }

  /** Whether a completion request refers to a prompt or template given completers here. */
  serves (ref: CompletionRef): boolean {
    return ref.type === 'ref/prompt' ? this.prompts.has(ref.name) : this.templates.has(ref.uri)
  }

  private callbacks<T> (kinds: Record<string, NameKind>, wrap: (callback: CompleteResourceTemplateCallback) => T): Record<string, T> {
    return Object.fromEntries(Object.entries(kinds).map(([name, kind]) => [name, wrap(async (value: string) => await this.complete(kind, value))]))
  }

  private async complete (kind: NameKind, value: string): Promise<string[]> {
    try {
      return await this.names.complete(kind, value)
    } catch (err) {
      const coded = codedError(err) ?? new InternalError(`completion of ${kind} names failed unexpectedly`)
      throw this.failed({ code: coded.code, statusCode: coded.statusCode ?? 500, message: coded.message })
    }
  }
}

/** A fresh object per argument: `completable` marks the object it is given, for good. */
function completerCarrier (): StandardSchemaV1<string> {
  return { '~standard': { version: 1, vendor: 'kafscale-mcp', validate: (value) => ({ value: value as string }) } }
}
