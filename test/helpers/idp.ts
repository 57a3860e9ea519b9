import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'

/**
 * A client registered at the provider beforehand (no dynamic registration): what a desktop
 * client's administrator sets up. The provider refuses any other redirect URI, scope or audience.
 */
export interface RegisteredClient {
  client_id: string
  redirect_uris: string[]
  scopes: string[]
  /** The resource indicators (RFC 8707) it may get tokens for: each becomes the token's `aud`. */
  audiences: string[]
}

export interface IdpOptions {
  /** With clients, the provider also signs users in: authorization code with PKCE S256 only. */
  clients?: RegisteredClient[]
  /** Who signs in at the authorization endpoint (it approves at once, as a user who clicks yes). */
  user?: { sub: string, groups?: string[] }
}

/** A local OpenID provider: discovery document and JWKS over HTTP, tokens signed with jose. */
export interface TestIdp {
  issuer: string
  server: Server
  /** Requests served so far, by path: proves how often the verifier asked. */
  requests: { discovery: number, jwks: number }
  /** Signs a token with the current key; `key` signs with another (e.g. rotated-out) key. */
  sign: (claims: JWTPayload, options?: { key?: SigningKey, header?: Record<string, unknown> }) => Promise<string>
  /** Replaces the published key set with a new key; returns the old one. */
  rotate: () => Promise<SigningKey>
  newKey: (kid: string) => Promise<SigningKey>
  current: () => SigningKey
  close: () => Promise<void>
}

export interface SigningKey {
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
}

export async function startIdp (options: IdpOptions = {}): Promise<TestIdp> {
  let counter = 0
  const newKey = async (kid = `key-${++counter}`): Promise<SigningKey> => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
    return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } }
  }
  let key = await newKey()
  let issuer = ''
  const requests = { discovery: 0, jwks: 0 }
  const signIn = options.clients === undefined ? undefined : authorizationServer(options.clients, options.user ?? { sub: 'alice' }, () => issuer, async (claims) => await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: key.kid }).sign(key.privateKey))
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      requests.discovery++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks`, ...signIn?.metadata() }))
    } else if (signIn !== undefined && signIn.handles(req)) {
      signIn.handle(req, res)
    } else if (req.url === '/jwks') {
      requests.jwks++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [key.publicJwk] }))
    } else {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    issuer,
    server,
    requests,
    current: () => key,
    newKey,
    rotate: async () => {
      const old = key
      key = await newKey()
      return old
    },
    sign: async (claims, options = {}) => {
      const signer = options.key ?? key
      return await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: signer.kid, ...options.header }).sign(signer.privateKey)
    },
    close: async () => { server.closeAllConnections(); await new Promise<void>((resolve) => server.close(() => resolve())) }
  }
}

/**
 * An issuer that accepts requests and never answers. It counts requests, one per fetch made:
 * Node's fetch opens one more, empty, connection after each aborted fetch, so connections
 * would count double.
 */
export interface HangingIssuer {
  issuer: string
  requests: () => number
  close: () => Promise<void>
}

export async function startHangingIssuer (): Promise<HangingIssuer> {
  let requests = 0
  const server = createServer(() => { requests++ })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: async () => { server.closeAllConnections(); await new Promise<void>((resolve) => server.close(() => resolve())) }
  }
}

interface PendingCode { client: RegisteredClient, redirectUri: string, challenge: string, scope: string, audience: string }

/**
 * OAuth 2.1's authorization code flow with PKCE, as a provider with pre-registered clients runs
 * it (OpenID discovery, no registration endpoint): /authorize approves at once and redirects with
 * a code, /token exchanges it for an access token for the requested resource.
 */
function authorizationServer (clients: RegisteredClient[], user: { sub: string, groups?: string[] }, issuer: () => string, sign: (claims: JWTPayload) => Promise<string>) {
  const codes = new Map<string, PendingCode>()
  const refuse = (res: ServerResponse, error: string, description: string): void => {
    res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error, error_description: description }))
  }
  const authorize = (url: URL, res: ServerResponse): void => {
    const q = url.searchParams
    const client = clients.find((c) => c.client_id === q.get('client_id'))
    if (client === undefined) return refuse(res, 'invalid_client', `unknown client ${q.get('client_id')}`)
    const redirectUri = q.get('redirect_uri') ?? ''
    if (!client.redirect_uris.includes(redirectUri)) return refuse(res, 'invalid_request', `redirect_uri ${redirectUri} is not registered for ${client.client_id}`)
    if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || q.get('code_challenge') === null) return refuse(res, 'invalid_request', 'only response_type=code with PKCE S256')
    const scopes = (q.get('scope') ?? '').split(' ').filter((s) => s !== '')
    const unknown = scopes.filter((s) => !client.scopes.includes(s))
    if (unknown.length > 0) return refuse(res, 'invalid_scope', `scopes not allowed for ${client.client_id}: ${unknown.join(' ')}`)
    const audience = q.get('resource') ?? ''
    if (!client.audiences.includes(audience)) return refuse(res, 'invalid_target', `resource ${audience} is not an audience of ${client.client_id}`)
    const code = randomBytes(16).toString('base64url')
    codes.set(code, { client, redirectUri, challenge: q.get('code_challenge')!, scope: scopes.join(' '), audience })
    const back = new URL(redirectUri)
    back.searchParams.set('code', code)
    if (q.get('state') !== null) back.searchParams.set('state', q.get('state')!)
    back.searchParams.set('iss', issuer())
    res.writeHead(302, { location: back.href }).end()
  }
  const token = async (form: URLSearchParams, res: ServerResponse): Promise<void> => {
    if (form.get('grant_type') !== 'authorization_code') return refuse(res, 'unsupported_grant_type', 'authorization_code only')
    const pending = codes.get(form.get('code') ?? '')
    codes.delete(form.get('code') ?? '')
    if (pending === undefined) return refuse(res, 'invalid_grant', 'unknown or used code')
    if (form.get('client_id') !== pending.client.client_id || form.get('redirect_uri') !== pending.redirectUri) return refuse(res, 'invalid_grant', 'the code was issued to another client or redirect_uri')
    if (createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url') !== pending.challenge) return refuse(res, 'invalid_grant', 'PKCE verifier does not match')
    const now = Math.floor(Date.now() / 1000)
    const accessToken = await sign({ iss: issuer(), sub: user.sub, aud: pending.audience, scope: pending.scope, client_id: pending.client.client_id, groups: user.groups ?? [], iat: now, exp: now + 600 })
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: accessToken, token_type: 'Bearer', expires_in: 600, scope: pending.scope }))
  }
  return {
    metadata: () => ({
      authorization_endpoint: `${issuer()}/authorize`,
      token_endpoint: `${issuer()}/token`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: [...new Set(clients.flatMap((c) => c.scopes))]
    }),
    handles: (req: IncomingMessage) => /^\/(authorize|token)(\?|$)/.test(req.url ?? ''),
    handle: (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', issuer())
      if (url.pathname === '/authorize' && req.method === 'GET') return authorize(url, res)
      if (url.pathname !== '/token' || req.method !== 'POST') {
        res.writeHead(405).end()
        return
      }
      let body = ''
      req.on('data', (chunk: Buffer) => { body += chunk.toString('utf8') })
      req.on('end', () => { void token(new URLSearchParams(body), res) })
    }
  }
}
