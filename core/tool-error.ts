import { isCodedError, type CodedError } from '../lib/errors.ts'

// A symbol from the global registry, not a class: a plugin may resolve its own copy of this
// package, and its errors must still be recognised.
const TOOL_ERROR = Symbol.for('kafscale-mcp.tool-error')
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/

/**
 * An error a tool throws on purpose: callers get its code, status and message as they get the
 * service's own (MCP `_meta["io.kafscale/error"]`, REST status and body), not "failed unexpectedly".
 * `code` is the plugin's own (UPPER_SNAKE_CASE), passed on unchanged; `statusCode` defaults to 500.
 */
export function toolError (code: string, message: string, statusCode = 500): CodedError {
  if (!CODE.test(code)) throw new TypeError(`toolError: code ${JSON.stringify(code)} must be UPPER_SNAKE_CASE (${CODE})`)
  if (!Number.isInteger(statusCode) || statusCode < 400 || statusCode > 599) throw new TypeError(`toolError: statusCode ${statusCode} must be an HTTP error status (400-599)`)
  return Object.assign(new Error(message), { code, statusCode, [TOOL_ERROR]: true })
}

/** The error as a coded one (the service's declared errors and toolError's), or undefined. */
export function codedError (err: unknown): CodedError | undefined {
  if (isCodedError(err)) return err
  return err instanceof Error && (err as { [TOOL_ERROR]?: unknown })[TOOL_ERROR] === true ? err as CodedError : undefined
}
