import { isSpecType, McpServer, ProtocolError, ProtocolErrorCode, Server, type CallToolResult, type Implementation, type InputRequiredResult, type JSONRPCRequest, type McpServerOptions, type Result, type ServerContext } from '@modelcontextprotocol/server'
import { NOTHING_TO_COMPLETE, type CompletionRef } from './completions.ts'

type RequestHandler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>

/** How a server answers `tools/call`: the tools it registered, and every other name. */
export interface ToolCallRouting {
  /** Whether this server registered the tool (the caller may see it). */
  serves: (name: string) => boolean
  /** Answers a call of a name the server did not register, which the SDK would refuse unseen. */
  callUnserved: (name: string, args: unknown, ctx: ServerContext) => Promise<CallToolResult | InputRequiredResult>
  /** Whether this server has completers for the prompt or template a `completion/complete` names. */
  completes: (ref: CompletionRef) => boolean
}

/**
 * The SDK's Server with three corrections, applied through its `_wrapHandler` hook so they cover
 * every handler, including those McpServer and the HTTP entry install after construction:
 * `tools/call` of a name not registered goes to `routing.callUnserved` instead of the SDK's own
 * "not found" (which bypasses our registry, and so the audit); `completion/complete` of a prompt
 * or template without completers here (unknown, or hidden from this caller) has nothing to
 * suggest, an empty list rather than the SDK's -32602, as the conformance suite's
 * completion-complete scenario expects; and a request whose params fail the method's schema is
 * answered -32602, not -32603.
 */
class RoutingServer extends Server {
  private readonly routing: ToolCallRouting

  constructor (info: Implementation, options: McpServerOptions, routing: ToolCallRouting) {
    super(info, options)
    this.routing = routing
  }

  protected override _wrapHandler (method: string, handler: RequestHandler): RequestHandler {
    // For tools/call the SDK validates the request (name and arguments present) before this runs.
    const toolRouted: RequestHandler = method !== 'tools/call'
      ? handler
      : async (request, ctx) => {
        const { name, arguments: args } = request.params as { name: string, arguments?: unknown }
        return this.routing.serves(name) ? await handler(request, ctx) : await this.routing.callUnserved(name, args, ctx)
      }
    // The SDK validates completion/complete inside its handler: a malformed request goes there to be refused.
    const routed: RequestHandler = method !== 'completion/complete'
      ? toolRouted
      : async (request, ctx) => isSpecType.CompleteRequestParams(request.params) && !this.routing.completes(request.params.ref) ? NOTHING_TO_COMPLETE : await handler(request, ctx)
    const wrapped = super._wrapHandler(method, routed)
    return async (request, ctx) => {
      try {
        return await wrapped(request, ctx)
      } catch (err) {
        throw asInvalidParams(method, err)
      }
    }
  }
}

/** An McpServer whose requests are dispatched by a RoutingServer. */
export function createMcpServer (info: Implementation, options: McpServerOptions, routing: ToolCallRouting): McpServer {
  const mcp = new McpServer(info, options)
  // McpServer builds a plain Server in its constructor and installs its handlers on first
  // registration, so a server swapped in before registering anything receives all of them.
  ;(mcp as { server: Server }).server = new RoutingServer(info, options, routing)
  return mcp
}

/**
 * SDK 2.4 re-throws a spec method's params validation failure (bad `initialize`, `tools/list`,
 * `resources/read` params …) as a bare Error carrying the schema issues as JSON, and answers it
 * -32603 Internal error (modelcontextprotocol/typescript-sdk#2284). Only that error is
 * rewritten: the SDK's other failures and ours are ProtocolErrors, and a bug is no issue list.
 */
function asInvalidParams (method: string, err: unknown): unknown {
  if (!(err instanceof Error) || Object.getPrototypeOf(err) !== Error.prototype) return err
  const issues = schemaIssues(err.message)
  return issues === undefined ? err : new ProtocolError(ProtocolErrorCode.InvalidParams, `Invalid params for ${method}: ${issues}`)
}

/** `params.cursor: Invalid input: expected string, received number; …`, or undefined when the text is no issue list. */
function schemaIssues (text: string): string | undefined {
  if (!text.startsWith('[')) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!Array.isArray(parsed) || parsed.length === 0) return undefined
  const issues: string[] = []
  for (const issue of parsed as Array<{ path?: unknown, message?: unknown }>) {
    if (issue === null || typeof issue !== 'object' || !Array.isArray(issue.path) || typeof issue.message !== 'string') return undefined
    issues.push(issue.path.length === 0 ? issue.message : `${issue.path.join('.')}: ${issue.message}`)
  }
  return issues.join('; ')
}
