import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import type { SwaggerTransformObject } from '@fastify/swagger'
import { assertGated } from '../plugins/gate.ts'

export interface OpenApiPluginOptions {
  version: string
  /** Whether the gate asks for a bearer token (the document then says so for every operation). */
  bearerAuth: boolean
}

/** The document describes the REST API; the MCP and legacy SSE endpoints speak JSON-RPC, not it. */
const DOCUMENTED_PREFIX = '/api/v1/'

/**
 * GET /api/v1/openapi.json: an OpenAPI 3.1 document of the REST routes, built by
 * @fastify/swagger from the schemas those routes declare (each tool's own TypeBox input and
 * output). Registered inside the gate's scope and before the REST routes, so it sees them and
 * serves the document to authenticated callers only.
 */
export default fp<OpenApiPluginOptions>(async function openapi (app, options) {
  assertGated(app, 'openapi')
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'kafscale-mcp REST API',
        description: 'The REST mirror of the MCP tools: POST a tool\'s arguments as JSON, get its structured result.',
        version: options.version
      },
      ...(options.bearerAuth
        ? { components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } }, security: [{ bearer: [] }] }
        : {})
    },
    convertConstToEnum: false,
    // Routes of the gate's scope outside the REST API are left out whatever order they are declared in.
    transform: ({ schema, url }) => {
      if (!url.startsWith(DOCUMENTED_PREFIX)) return { schema: { ...schema, hide: true }, url }
      declared.set(url, schema as RouteSchema)
      return { schema, url }
    },
    transformObject: (document) => withDeclaredSchemas(('openapiObject' in document ? document.openapiObject : {}) as Document, declared) as ReturnType<SwaggerTransformObject>
  })
  const declared = new Map<string, RouteSchema>()
  app.get(`${DOCUMENTED_PREFIX}openapi.json`, { schema: { hide: true } }, async () => app.swagger())
}, { name: 'kafscale-openapi', fastify: '5.x', dependencies: ['kafscale-gate'] })

interface RouteSchema { body?: unknown, response?: Record<string, unknown> }
interface Media { content?: Record<string, { schema?: unknown }> }
interface Document { paths?: Record<string, Record<string, { requestBody?: Media, responses?: Record<string, Media> }>> }

/**
 * Puts back the JSON Schemas the routes declare. @fastify/swagger rewrites them toward OpenAPI
 * 3.0 even for a 3.1 document (it drops `contentEncoding`, turns `patternProperties` into
 * `additionalProperties`); 3.1 takes JSON Schema 2020-12 as it is, so clients see exactly what
 * the tools validate against. JSON text drops TypeBox's symbol-keyed metadata.
 */
function withDeclaredSchemas (document: Document, declared: Map<string, RouteSchema>): Document {
  for (const [url, schema] of declared) {
    for (const operation of Object.values(document.paths?.[url] ?? {})) {
      const body = operation.requestBody?.content?.['application/json']
      if (body !== undefined && schema.body !== undefined) body.schema = asJson(schema.body)
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const media = response.content?.['application/json']
        const own = schema.response?.[status] ?? schema.response?.[status.toLowerCase()]
        if (media !== undefined && own !== undefined) media.schema = asJson(own)
      }
    }
  }
  return document
}

function asJson (schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema))
}
