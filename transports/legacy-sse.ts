import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { fastifySSE } from '@fastify/sse'
import { parseJSONRPCMessage, type JSONRPCMessage, type McpServer, type Transport } from '@modelcontextprotocol/server'
import { buildMcpServer } from './mcp-server.ts'
import { liveUpdatesOf } from './live-updates.ts'
import type { Caller } from '../core/tool.ts'
import { errorBody, ForbiddenError, InvalidMessageError, UnknownSessionError } from '../lib/errors.ts'
import { requestCaller } from '../plugins/auth.ts'
import { assertGated } from '../plugins/gate.ts'

export interface LegacySsePluginOptions {
  version: string
}

/** One SSE stream is one session: messages POSTed for it are answered on the stream. */
class SseSessionTransport implements Transport {
  onclose?: () => void
  onerror?: (error: Error) => void
  onmessage?: <T extends JSONRPCMessage>(message: T) => void
  private readonly reply: FastifyReply

  constructor (reply: FastifyReply) {
    this.reply = reply
  }

  async start (): Promise<void> {}

  async send (message: JSONRPCMessage): Promise<void> {
    await this.reply.sse.send({ event: 'message', data: JSON.stringify(message) })
  }

  deliver (message: JSONRPCMessage): void {
    this.onmessage?.(message)
  }

  async close (): Promise<void> {
    this.reply.sse.close()
    this.onclose?.()
  }
}

interface Session {
  transport: SseSessionTransport
  server: McpServer
  principalId: string
}

/**
 * The deprecated HTTP+SSE transport (protocol 2024-11-05) for clients that predate streamable
 * HTTP: GET /sse opens a session stream whose first event names the endpoint to POST messages
 * to. The gate covers both routes as it covers /mcp; a session is a stream, so the stream caps
 * (per caller and in all) bound the sessions. A session answers only the principal that opened it.
 */
export default async function legacySse (app: FastifyInstance, options: LegacySsePluginOptions): Promise<void> {
  assertGated(app, 'legacy-sse')
  const sessions = new Map<string, Session>()
  const live = liveUpdatesOf(app)
  await app.register(fastifySSE, { heartbeatInterval: 15_000 })
  app.addHook('preClose', async () => {
    await Promise.all([...sessions.values()].map(async (s) => { await s.transport.close() }))
  })

  // The endpoint event carries a bare URI; every other event is JSON text already.
  app.get('/sse', { exposeHeadRoute: false, config: { opensStream: true }, sse: { kind: 'only', serializer: (data: unknown) => String(data) } }, async (request, reply) => {
    const id = randomUUID()
    const caller: Caller = { ...requestCaller(request, 'mcp'), requestId: `sse-${id}` }
    const transport = new SseSessionTransport(reply)
    // Protocol 2024-11-05 on a stream that lives as long as the session: elicitation can come back on it.
    const server = buildMcpServer(app.tools, app.kafscaleStore, options.version, caller, { era: 'legacy', session: true, ...(live !== undefined ? { live } : {}) })
    sessions.set(id, { transport, server, principalId: caller.principal.id })
    reply.sse.onClose(() => {
      sessions.delete(id)
      void server.close()
    })
    reply.sse.keepAlive()
    await server.connect(transport)
    await reply.sse.send({ event: 'endpoint', data: `/messages?sessionId=${id}` })
  })

  // A probe (HEAD) learns that the stream exists without opening a session it would never read.
  app.head('/sse', async (_request, reply) => await reply.header('content-type', 'text/event-stream').header('cache-control', 'no-cache').send())

  app.post<{ Querystring: { sessionId?: string } }>('/messages', async (request, reply) => {
    const message = jsonRpcMessageOf(request.body)
    const session = sessions.get(request.query.sessionId ?? '')
    if (session === undefined) {
      return await reply.code(404).send(errorBody(new UnknownSessionError()))
    }
    if (session.principalId !== requestCaller(request, 'mcp').principal.id) {
      return await reply.code(403).send(errorBody(new ForbiddenError('this session belongs to another caller')))
    }
    session.transport.deliver(message)
    return await reply.code(202).send({ accepted: true })
  })
}

function jsonRpcMessageOf (body: unknown): JSONRPCMessage {
  try {
    return parseJSONRPCMessage(body)
  } catch {
    throw new InvalidMessageError(body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body !== 'object' ? `a ${typeof body}` : 'an object without a valid "jsonrpc", "method" or "id"')
  }
}
