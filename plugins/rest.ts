import type { FastifyInstance } from 'fastify'
import { bearerChallenge } from './auth.ts'
import { assertGated } from './gate.ts'
import { serializedJson } from '../lib/paging.ts'
import { errorBody } from '../lib/errors.ts'

/**
 * The REST mirror: POST /api/v1/tools/<name> with the tool's input as the JSON body answers
 * the tool's output (200) or an error with the same code and text an MCP client would get.
 */
export default async function rest (app: FastifyInstance): Promise<void> {
  assertGated(app, 'rest')

  app.get('/api/v1/tools', async (request) => ({
    tools: app.tools.visibleTo(request.principal).map(({ definition }) => ({
      name: definition.name,
      description: definition.description,
      annotations: definition.annotations,
      input_schema: definition.input,
      output_schema: definition.output
    }))
  }))

  app.post<{ Params: { name: string } }>('/api/v1/tools/:name', async (request, reply) => {
    const outcome = await app.tools.call(request.params.name, request.body, { caller: { principal: request.principal, transport: 'rest', requestId: request.id } })
    if (outcome.ok) {
      const text = serializedJson(outcome.output)
      return text === undefined ? outcome.output : await reply.type('application/json; charset=utf-8').send(text)
    }
    const { statusCode, message, missingScopes } = outcome.error
    if (missingScopes !== undefined) {
      void reply.header('www-authenticate', bearerChallenge({ error: 'insufficient_scope', scope: missingScopes.join(' '), error_description: message }, app.resourceMetadataUrl))
    }
    return await reply.code(statusCode).send(errorBody(outcome.error))
  })
}

