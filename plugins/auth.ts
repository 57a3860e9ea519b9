import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'

export interface AuthPluginOptions {
  /** The reference server's static bearer token (KAFSCALE_MCP_AUTH_TOKEN); unset: no auth. */
  token?: string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook for routes behind the gate (/mcp, /api/*). */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
  interface FastifyRequest {
    principal: string
  }
}


/**
 * The reference's gate: `Authorization: Bearer <token>`, compared in constant time. The
 * digests make the comparison independent of the token's length too.
 */
export default fp<AuthPluginOptions>(async function auth (app, options) {
  const token = options.token === undefined || options.token === '' ? undefined : options.token
  const expected = token === undefined ? undefined : digest(token)
  app.decorateRequest('principal', 'anonymous')
  app.decorate('authenticate', async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    if (expected === undefined) return
    const header = request.headers.authorization
    const presented = header?.startsWith('Bearer ') === true ? header.slice(7) : undefined
    if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
      await reply.code(401)
        .header('www-authenticate', 'Bearer realm="kafscale-mcp"')
        .send({ statusCode: 401, code: 'KSMCP_ERR_UNAUTHORIZED', error: 'Unauthorized', message: 'unauthorized' })
      return
    }
    request.principal = 'static-token'
  })
}, { name: 'kafscale-auth', fastify: '5.x' })

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}
