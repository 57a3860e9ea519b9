import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { DEFAULT_FAILURE_HOLD_MS, OidcVerifier, TokenError, type OidcOptions } from '../lib/auth/oidc.ts'
import { PolicyStore } from '../lib/auth/policy.ts'
import { ANONYMOUS, STATIC_TOKEN, type Principal } from '../lib/auth/principal.ts'
import { StaticToken } from '../lib/auth/static-token.ts'
import { assertOptions, httpUrl, problemOf } from '../lib/config/checks.ts'
import { failureReply, type Failure } from '../core/http-errors.ts'
import type { Caller } from '../core/tool.ts'
import { AuthUnavailableError, InsufficientScopeError, InternalError, OAuthNotOfferedError, UnauthorizedError } from '../lib/errors.ts'

export type AuthMode = 'oidc' | 'static' | 'none'

// A static token is not OAuth, and clients assume OAuth at any 401: with no metadata to find they
// register at /register (the MCP 2025-03-26 fallback; mcp-remote), and report only that failing.
// So every static-mode refusal, that registration included, says what to send instead.
const SEND_STATIC_TOKEN = 'send `Authorization: Bearer <token>` with the server\'s static token (this server offers no OAuth sign-in; `kafscale-mcp print-config` prints client configurations that send it)'

export interface AuthPluginOptions {
  mode: AuthMode
  staticToken?: { value?: string, file?: string }
  oidc?: OidcOptions
  /** The public URL of /mcp: the resource identifier in protected-resource metadata. */
  resource?: string
  policyFile?: string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook for routes behind the gate (/mcp, /api/*). */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    policy: PolicyStore
    /** RFC 9728 metadata URL announced in challenges (OIDC mode). */
    resourceMetadataUrl: string | undefined
  }
  interface FastifyRequest {
    /** Set by authenticate; read it through requestCaller, which refuses a request the gate skipped. */
    principal: Principal
  }
}

/**
 * The gate: establishes who calls (request.principal) and answers 401/403/503 with the
 * challenges OAuth clients need. What a principal may call is the policy's job (app.policy),
 * checked again at every tool dispatch.
 */
export default fp<AuthPluginOptions>(async function auth (app, options) {
  assertOptions('kafscale-auth', [
    options.mode === 'static' && options.staticToken === undefined ? 'static mode needs staticToken (a value or a file)' : undefined,
    options.mode === 'oidc' && options.oidc === undefined ? 'oidc mode needs the oidc options' : undefined,
    options.mode === 'oidc' && options.resource === undefined ? 'oidc mode needs resource, the public URL of /mcp' : undefined,
    options.resource === undefined ? undefined : problemOf('resource', options.resource, httpUrl)
  ])
  const policy = new PolicyStore(options.policyFile, (err) => { app.log.error({ err: err.message }, 'policy reload failed; keeping the previous policy') })
  app.decorate('policy', policy)
  app.decorateRequest('principal', null as unknown as Principal)

  let metadataUrl: string | undefined
  let verify: (token: string) => Promise<Principal>
  switch (options.mode) {
    case 'none':
      verify = async () => ANONYMOUS
      break
    case 'static': {
      const token = new StaticToken(options.staticToken!)
      verify = async (presented) => {
        if (!token.matches(presented)) throw new TokenError('invalid', `unknown token: ${SEND_STATIC_TOKEN}`)
        return STATIC_TOKEN
      }
      app.post('/register', async (_request, reply) => { await refuse(reply, new OAuthNotOfferedError(SEND_STATIC_TOKEN)) })
      break
    }
    case 'oidc': {
      const oidc = options.oidc!
      const verifier = new OidcVerifier(oidc)
      verify = async (token) => await verifier.verify(token)
      const resource = new URL(options.resource!)
      metadataUrl = new URL(`/.well-known/oauth-protected-resource${resource.pathname === '/' ? '' : resource.pathname}`, resource).href
      const document = {
        resource: options.resource,
        authorization_servers: [oidc.issuer],
        scopes_supported: policy.scopesSupported(),
        bearer_methods_supported: ['header'],
        resource_name: 'KafScale MCP'
      }
      app.get('/.well-known/oauth-protected-resource', async () => document)
      if (resource.pathname !== '/') app.get(`/.well-known/oauth-protected-resource${resource.pathname}`, async () => document)
      break
    }
  }
  app.decorate('resourceMetadataUrl', metadataUrl)

  const refuse = async (reply: FastifyReply, err: Error & { code: string, statusCode?: number }, challenge?: Pick<Failure, 'challenge' | 'missingScopes'>): Promise<void> => {
    const { statusCode, body, wwwAuthenticate } = failureReply({ code: err.code, statusCode: err.statusCode ?? 500, message: err.message, ...challenge }, metadataUrl)
    if (wwwAuthenticate !== undefined) void reply.header('www-authenticate', wwwAuthenticate)
    await reply.code(statusCode).send(body)
  }

  app.decorate('authenticate', async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    if (options.mode === 'none') {
      request.principal = ANONYMOUS
      return
    }
    const header = request.headers.authorization
    if (header === undefined || header === '') {
      // RFC 6750 §3 asks for no error code when no credentials came; a description of what to
      // send is what a static-token client needs, and an OAuth one finds resource_metadata.
      const needed = options.mode === 'static' ? `a bearer token is required: ${SEND_STATIC_TOKEN}` : 'a bearer token is required'
      await refuse(reply, new UnauthorizedError(needed), { challenge: { realm: 'kafscale-mcp', ...(options.mode === 'static' ? { error_description: SEND_STATIC_TOKEN } : {}) } })
      return
    }
    const presented = header.startsWith('Bearer ') ? header.slice(7).trim() : ''
    try {
      if (presented === '') throw new TokenError('invalid', 'the Authorization header is not "Bearer <token>"')
      request.principal = await verify(presented)
    } catch (err) {
      const tokenError = err instanceof TokenError ? err : new TokenError('unavailable', (err as Error).message)
      if (tokenError.kind === 'unavailable') {
        request.log.warn({ reason: tokenError.message }, 'token verification unavailable')
        await refuse(reply.header('retry-after', String(Math.ceil(DEFAULT_FAILURE_HOLD_MS / 1000))), new AuthUnavailableError(tokenError.message))
        return
      }
      await refuse(reply, new UnauthorizedError(tokenError.message), { challenge: { realm: 'kafscale-mcp', error: 'invalid_token', error_description: tokenError.message } })
      return
    }
    // A token that can reach no tool at all is refused here, naming the scope to ask for.
    const scopes = request.principal.scopes
    if (scopes !== undefined) {
      const supported = policy.scopesSupported()
      if (!supported.some((s) => scopes.includes(s))) {
        await refuse(reply, new InsufficientScopeError(`the token carries none of ${supported.join(', ')}: it needs ${supported[0]}`), { missingScopes: [supported[0]!] })
      }
    }
  })
}, { name: 'kafscale-auth', fastify: '5.x' })

/**
 * Who calls, for a request behind the gate. A request without a principal means the gate did
 * not run for its route: that is the service's fault (500), never an anonymous caller.
 */
export function requestCaller (request: FastifyRequest, transport: Caller['transport']): Caller {
  const principal = request.principal as Principal | null
  if (principal === null) throw new InternalError(`no authenticated caller for ${request.method} ${request.routeOptions.url ?? '(no route)'}: the gate did not run`)
  return { principal, transport, requestId: request.id }
}
