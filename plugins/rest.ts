import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { bearerChallenge } from './auth.ts'
import { assertGated } from './gate.ts'
import { serializedJson } from '../lib/paging.ts'
import { BodyTooLargeError, errorBody } from '../lib/errors.ts'

export interface RestPluginOptions {
  /** The service's body limit; a tool's own route takes less when its largest valid input is smaller. */
  bodyLimit: number
}

// A name that is no tool gets a 404 whatever its body says, so its body need not be large.
const UNKNOWN_TOOL_BODY_LIMIT = 16 * 1024

/**
 * The REST mirror: POST /api/v1/tools/<name> with the tool's input as the JSON body answers
 * the tool's output (200) or an error with the same code and text an MCP client would get.
 * Each tool has its own route, so an oversized body is refused by its size before it is parsed.
 */
export default async function rest (app: FastifyInstance, options: RestPluginOptions): Promise<void> {
  assertGated(app, 'rest')
  if (!(options.bodyLimit > 0)) throw new Error('rest: bodyLimit must be positive')
  app.setErrorHandler(bodyTooLargeHandler)

  app.get('/api/v1/tools', async (request) => ({
    tools: app.tools.visibleTo(request.principal).map(({ definition }) => ({
      name: definition.name,
      description: definition.description,
      annotations: definition.annotations,
      input_schema: definition.input,
      output_schema: definition.output
    }))
  }))

  const callTool = async (name: string, request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const outcome = await app.tools.call(name, request.body, { caller: { principal: request.principal, transport: 'rest', requestId: request.id } })
    if (outcome.ok) {
      const text = serializedJson(outcome.output)
      return text === undefined ? outcome.output : await reply.type('application/json; charset=utf-8').send(text)
    }
    const { statusCode, message, missingScopes } = outcome.error
    if (missingScopes !== undefined) {
      void reply.header('www-authenticate', bearerChallenge({ error: 'insufficient_scope', scope: missingScopes.join(' '), error_description: message }, app.resourceMetadataUrl))
    }
    return await reply.code(statusCode).send(errorBody(outcome.error))
  }

  for (const { definition, bodyLimit } of app.tools.list()) {
    app.post(`/api/v1/tools/${definition.name}`, { bodyLimit: Math.min(options.bodyLimit, bodyLimit), config: { tool: definition.name } },
      async (request, reply) => await callTool(definition.name, request, reply))
  }
  app.post<{ Params: { name: string } }>('/api/v1/tools/:name', { bodyLimit: UNKNOWN_TOOL_BODY_LIMIT },
    async (request, reply) => await callTool(request.params.name, request, reply))
}

// Fastify's own 413 says only "Request body is too large"; this one says which limit and why.
function bodyTooLargeHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw error
  const tool = (request.routeOptions.config as { tool?: string }).tool
  const err = new BodyTooLargeError(request.routeOptions.bodyLimit ?? 0, tool === undefined ? 'an unknown tool' : `tool ${tool}`)
  void reply.code(413).send(errorBody(err))
}
