import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import { assertGated } from './gate.ts'

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
    // Routes of the gate's scope outside the REST API are left out whatever order they are declared in.
    transform: ({ schema, url }) => ({ schema: url.startsWith(DOCUMENTED_PREFIX) ? schema : { ...schema, hide: true }, url })
  })
  app.get(`${DOCUMENTED_PREFIX}openapi.json`, { schema: { hide: true } }, async () => app.swagger())
}, { name: 'kafscale-openapi', fastify: '5.x', dependencies: ['kafscale-gate'] })
