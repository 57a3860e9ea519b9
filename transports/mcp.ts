import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream, ReadableStreamDefaultReader, ReadableStreamReadResult } from 'node:stream/web'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { CLIENT_INFO_META_KEY, createMcpHandler, type AuthInfo } from '@modelcontextprotocol/server'
import { assertGated } from '../plugins/gate.ts'
import { requestCaller } from '../plugins/auth.ts'
import { buildMcpServer } from './mcp-server.ts'
import { liveUpdatesOf } from './live-updates.ts'
import { assertOptions, problemOf, wholeNumber } from '../lib/config/checks.ts'
import { InternalError } from '../lib/errors.ts'
import type { Caller } from '../core/tool.ts'

export interface McpPluginOptions {
  version: string
  bodyLimit: number
}

/**
 * Streamable HTTP at /mcp, stateless: the SDK's handler serves 2026-07-28 clients and, through
 * its stateless fallback, 2025-era clients that start with `initialize`. The gate (Host,
 * Origin, JSON body, auth, limits) wraps these routes from the enclosing scope.
 */
export default async function mcp (app: FastifyInstance, options: McpPluginOptions): Promise<void> {
  assertGated(app, 'mcp')
  assertOptions('kafscale-mcp', [problemOf('bodyLimit', options.bodyLimit, wholeNumber(1024))])
  const live = liveUpdatesOf(app)
  const handler = createMcpHandler(
    // Stateless in both eras: a 2025-era request's instance lives for that request alone.
    ({ authInfo, era }) => buildMcpServer(app.tools, app.kafscaleStore, options.version, callerOf(authInfo), { era, session: false, ...(live !== undefined ? { live } : {}) }, authInfo?.extra?.[TOOL_CALL_KEY] as string | undefined),
    {
      maxRequestBodySize: options.bodyLimit,
      ...(live !== undefined ? { bus: live.bus } : {}),
      onerror: (err) => { app.log.debug({ err: err.message }, 'mcp request rejected') }
    }
  )
  // Open SSE streams (e.g. subscriptions/listen) would hold app.close() until they end.
  const openStreams = new Set<FastifyReply['raw']>()
  app.addHook('preClose', async () => {
    await handler.close()
    for (const raw of openStreams) raw.end()
  })

  app.setErrorHandler(jsonRpcErrorHandler)

  const serve = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const abort = new AbortController()
    reply.raw.once('close', () => { if (!reply.raw.writableFinished) abort.abort() })
    // An absolute-form target (already matched to Host by the gate) is a whole URL itself.
    const webRequest = new Request(new URL(request.url, `http://${request.host}`), {
      method: request.method,
      headers: request.headers as Record<string, string>,
      signal: abort.signal
    })
    const caller: Caller = { ...requestCaller(request, 'mcp'), ...clientInfoOf(request.body) }
    const { principal } = caller
    // The token itself is not passed on: nothing past the gate needs it.
    const toolCall = toolCallOf(request.body)
    const authInfo: AuthInfo = { token: '', clientId: principal.clientId ?? principal.subject, scopes: principal.scopes ?? [], extra: { [CALLER_KEY]: caller, ...(toolCall !== undefined ? { [TOOL_CALL_KEY]: toolCall } : {}) } }
    if (app.resourceMetadataUrl !== undefined) authInfo.resourceMetadataUrl = app.resourceMetadataUrl
    const listens = opensSubscription(request)
    const fetchResponse = async (): Promise<Response> => await handler.fetch(webRequest, { authInfo, parsedBody: request.body })
    const response = listens && live !== undefined ? await live.withListenScope(caller, request.body, fetchResponse) : await fetchResponse()
    await sendWebResponse(reply, response, openStreams, listens)
  }
  for (const url of ['/mcp', '/mcp/']) {
    app.route({ method: ['GET', 'POST', 'DELETE'], url, bodyLimit: options.bodyLimit, config: { opensStream: opensSubscription }, handler: serve })
  }
}

// The SDK hands authInfo back to the server factory untouched; the caller rides in its extra,
// and so does the tool name of a request that is one tools/call (the server is built for it).
const CALLER_KEY = 'io.kafscale/caller'
const TOOL_CALL_KEY = 'io.kafscale/tool-call'

/** The caller serve() put in authInfo; without one the server would be built for nobody, so it is not built. */
function callerOf (authInfo: AuthInfo | undefined): Caller {
  const caller = authInfo?.extra?.[CALLER_KEY] as Caller | undefined
  if (caller?.principal === undefined) throw new InternalError('the MCP server was asked for without an authenticated caller')
  return caller
}

/** subscriptions/listen holds its SSE answer open; every other request's stream ends with its answer. */
function opensSubscription (request: FastifyRequest): boolean {
  const messages: unknown[] = Array.isArray(request.body) ? request.body : [request.body]
  return messages.some((m) => (m as { method?: unknown } | null)?.method === 'subscriptions/listen')
}

/** The tool a request body calls when it is a single tools/call (not a batch, not another method). */
function toolCallOf (body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined
  const { method, params } = body as { method?: unknown, params?: { name?: unknown } }
  return method === 'tools/call' && typeof params?.name === 'string' ? params.name : undefined
}

/** A 2026-07-28 request names its client in _meta; 2025-era tool calls do not. */
function clientInfoOf (body: unknown): Pick<Caller, 'client'> {
  const info = (body as { params?: { _meta?: Record<string, unknown> } } | undefined)?.params?._meta?.[CLIENT_INFO_META_KEY] as { name?: unknown, version?: unknown } | undefined
  if (info === undefined || info === null || typeof info !== 'object') return {}
  return { client: { ...(typeof info.name === 'string' ? { name: info.name } : {}), ...(typeof info.version === 'string' ? { version: info.version } : {}) } }
}

async function sendWebResponse (reply: FastifyReply, response: Response, openStreams: Set<FastifyReply['raw']>, holdsOpen: boolean): Promise<void> {
  const headers = Object.fromEntries(response.headers)
  if (response.body === null || !(headers['content-type'] ?? '').startsWith('text/event-stream')) {
    await reply.code(response.status).headers(headers).send(Buffer.from(await response.arrayBuffer()))
    return
  }
  let events: Readable
  if (holdsOpen) {
    events = Readable.fromWeb(response.body as WebReadableStream)
  } else {
    // An answer is one event, and the SDK ends the stream as it writes that event: sent whole,
    // with its headers, like a JSON answer, it is one socket write instead of a header write,
    // chunked writes and a stream pipeline (~12% of a small call's CPU). A stream still open a
    // turn after its first event (a long call's keep-alives) is streamed as it comes.
    const reader = (response.body as WebReadableStream<Uint8Array>).getReader()
    let first: ReadableStreamReadResult<Uint8Array>
    let second: Promise<ReadableStreamReadResult<Uint8Array>> | undefined
    let ended: boolean
    try {
      first = await reader.read()
      second = first.done ? undefined : reader.read()
      ended = first.done || (await Promise.race([second, nextTurn()]))?.done === true
    } catch {
      // The SDK's stream failed before its answer was out: cut the connection, as a failed
      // pipeline would.
      reply.hijack()
      reply.raw.destroy()
      return
    }
    if (ended) {
      await reply.code(response.status).headers(headers).send(first.done ? Buffer.alloc(0) : Buffer.from(first.value.buffer, first.value.byteOffset, first.value.byteLength))
      return
    }
    events = Readable.from(rest(first.value!, second!, reader), { objectMode: false })
  }
  // A stream: write the headers now (Node would hold them until the first event) and
  // stream events as the SDK produces them.
  reply.hijack()
  reply.raw.writeHead(response.status, headers)
  reply.raw.flushHeaders()
  openStreams.add(reply.raw)
  try {
    await pipeline(events, reply.raw)
  } catch {
    // The client went away or the server is closing: nothing left to send to.
  } finally {
    openStreams.delete(reply.raw)
  }
}

async function nextTurn (): Promise<undefined> {
  return await new Promise((resolve) => { setImmediate(() => { resolve(undefined) }) })
}

/** The events of a stream whose first event was read and whose second is on its way. */
async function * rest (first: Uint8Array, second: Promise<ReadableStreamReadResult<Uint8Array>>, reader: ReadableStreamDefaultReader<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield first
  for (let next = await second; !next.done; next = await reader.read()) yield next.value
}

// Fastify answers bad JSON and oversized bodies itself, in its own format; MCP clients expect
// JSON-RPC errors.
function jsonRpcErrorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const statusCode = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
  const code = error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
    ? -32700
    : statusCode < 500 ? -32600 : -32603
  const message = code === -32700
    ? `Parse error: ${error.message}`
    : statusCode === 413 ? `Invalid Request: body larger than the ${request.routeOptions.bodyLimit} byte limit` : statusCode < 500 ? `Invalid Request: ${error.message}` : 'Internal error'
  if (statusCode >= 500) request.log.error({ err: error }, 'mcp request failed')
  void reply.code(statusCode).header('content-type', 'application/json').send({ jsonrpc: '2.0', id: null, error: { code, message } })
}
