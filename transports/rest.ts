import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import { Type, type TSchema } from 'typebox'
import { requestCaller } from '../plugins/auth.ts'
import { assertGated } from '../plugins/gate.ts'
import { failureReply } from '../core/http-errors.ts'
import { assertOptions, problemOf, wholeNumber } from '../lib/config/checks.ts'
import { BodyTooLargeError, errorBody, MethodNotAllowedError } from '../lib/errors.ts'

export interface RestPluginOptions {
  /** The service's body limit; a tool's own route takes less when its largest valid input is smaller. */
  bodyLimit: number
}

// A name that is no tool gets a 404 whatever its body says, so its body need not be large.
const UNKNOWN_TOOL_BODY_LIMIT = 16 * 1024

/** Every refusal, whoever answers it (the gate, the parser, the registry): the body of lib/errors.ts errorBody. */
export const ErrorBody = Type.Object({
  statusCode: Type.Integer({ minimum: 400, maximum: 599 }),
  code: Type.String({ description: 'stable KSMCP_ERR_* (or Fastify FST_ERR_*) code to match on' }),
  error: Type.String({ description: 'the HTTP status text' }),
  message: Type.String({ description: 'what was wrong and how to fix it' })
}, { additionalProperties: false })

// A tool's schemas are JSON Schema documents of their own; the listing passes them on as they are.
const JsonSchemaDocument = Type.Object({}, { additionalProperties: true })
const ToolListing = Type.Object({
  tools: Type.Array(Type.Object({
    name: Type.String(),
    description: Type.String(),
    annotations: Type.Object({ readOnlyHint: Type.Boolean(), destructiveHint: Type.Boolean(), idempotentHint: Type.Boolean(), openWorldHint: Type.Boolean() }),
    input_schema: JsonSchemaDocument,
    output_schema: JsonSchemaDocument
  }))
})

/**
 * A tool's body schema is declared for the document; the registry checks it, with the same
 * compiled TypeBox validator an MCP call meets. Checking it here as well would change what
 * callers see: Fastify validates before the policy and the per-caller limits run (a caller
 * denied the tool would learn about its arguments first), its refusal would not be audited,
 * its text would not be the registry's, and TypeBox's plain Check walks every element of an
 * over-long list before it looks at the list's length, which lib/schema.ts avoids.
 * Any other part of a request keeps TypeBox's compiler (no coercion, no stripping).
 */
const validatorCompiler: FastifySchemaCompiler<TSchema> = (route) =>
  route.httpPart === 'body' && route.url.startsWith('/api/v1/tools/') ? (body) => ({ value: body }) : TypeBoxValidatorCompiler(route)

/**
 * The REST mirror: POST /api/v1/tools/<name> with the tool's input as the JSON body answers
 * the tool's output (200) or an error with the same code and text an MCP client would get.
 * Each tool has its own route, so an oversized body is refused by its size before it is parsed.
 */
export default async function rest (app: FastifyInstance, options: RestPluginOptions): Promise<void> {
  assertGated(app, 'rest')
  assertOptions('kafscale-rest', [problemOf('bodyLimit', options.bodyLimit, wholeNumber(1024))])
  app.setErrorHandler(bodyTooLargeHandler)
  app.setValidatorCompiler(validatorCompiler)

  refuseOtherMethods(app, '/api/v1/tools', ['GET', 'HEAD'])
  app.get('/api/v1/tools', { schema: { summary: 'The tools this caller may see, with their input and output schemas', response: { 200: ToolListing, '4xx': ErrorBody, '5xx': ErrorBody } } }, async (request) => ({
    tools: app.tools.visibleTo(requestCaller(request, 'rest').principal).map(({ definition }) => ({
      name: definition.name,
      description: definition.description,
      annotations: definition.annotations,
      input_schema: definition.input,
      output_schema: definition.output
    }))
  }))

  const callTool = async (name: string, request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const outcome = await app.tools.call(name, request.body, { caller: requestCaller(request, 'rest') })
    if (outcome.ok) return await reply.type('application/json; charset=utf-8').send(outcome.json)
    const { statusCode, body, wwwAuthenticate } = failureReply(outcome.error, app.resourceMetadataUrl)
    if (wwwAuthenticate !== undefined) void reply.header('www-authenticate', wwwAuthenticate)
    return await reply.code(statusCode).send(body)
  }

  for (const { definition, bodyLimit } of app.tools.list()) {
    const schema = {
      operationId: definition.name,
      summary: definition.title ?? definition.name,
      description: definition.description,
      // The very schema objects the MCP tool lists; a 200 is sent as the JSON text the
      // registry measured, so the serializer compiled from `output` never re-encodes it.
      body: definition.input,
      response: { 200: definition.output, '4xx': ErrorBody, '5xx': ErrorBody }
    }
    refuseOtherMethods(app, `/api/v1/tools/${definition.name}`, ['POST'])
    app.post(`/api/v1/tools/${definition.name}`, { schema, bodyLimit: Math.min(options.bodyLimit, bodyLimit), config: { tool: definition.name } },
      async (request, reply) => await callTool(definition.name, request, reply))
  }
  // Not in the document: it exists so that a name that is no tool is refused (and audited) like a call.
  app.post<{ Params: { name: string } }>('/api/v1/tools/:name', { schema: { hide: true }, bodyLimit: UNKNOWN_TOOL_BODY_LIMIT },
    async (request, reply) => await callTool(request.params.name, request, reply))
}

/** A documented path answers 405 with Allow to the methods it does not serve (Fastify's own answer is a 404). */
function refuseOtherMethods (app: FastifyInstance, url: string, allowed: string[]): void {
  const allow = allowed.join(', ')
  const refuse = async (request: FastifyRequest, reply: FastifyReply): Promise<never> => {
    void reply.header('allow', allow)
    throw new MethodNotAllowedError(request.method, url, allow)
  }
  app.route({
    // Every method Fastify parses (QUERY and WebDAV's included) but the served ones. Refused
    // at onRequest, before the body: Fastify would otherwise ask a QUERY for a Content-Type.
    method: app.supportedMethods.filter((method) => !allowed.includes(method)),
    url,
    schema: { hide: true },
    onRequest: refuse,
    handler: refuse
  })
}

// Fastify's own 413 says only "Request body is too large"; this one says which limit and why.
function bodyTooLargeHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw error
  const tool = (request.routeOptions.config as { tool?: string }).tool
  const err = new BodyTooLargeError(request.routeOptions.bodyLimit ?? 0, tool === undefined ? 'an unknown tool' : `tool ${tool}`)
  void reply.code(413).send(errorBody(err))
}
