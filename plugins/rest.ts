import { STATUS_CODES } from 'node:http'
import type { FastifyInstance } from 'fastify'

/**
 * The REST mirror: POST /api/v1/tools/<name> with the tool's input as the JSON body answers
 * the tool's output (200) or an error with the same code and text an MCP client would get.
 */
export default async function rest (app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', app.authenticate)

  app.get('/api/v1/tools', async () => ({
    tools: app.tools.list().map(({ definition }) => ({
      name: definition.name,
      description: definition.description,
      annotations: definition.annotations,
      input_schema: definition.input,
      output_schema: definition.output
    }))
  }))

  app.post<{ Params: { name: string } }>('/api/v1/tools/:name', async (request, reply) => {
    const outcome = await app.tools.call(request.params.name, request.body, { caller: { principal: request.principal, transport: 'rest' } })
    if (outcome.ok) return outcome.output
    const { statusCode, code, message } = outcome.error
    return await reply.code(statusCode).send({ statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message })
  })
}

