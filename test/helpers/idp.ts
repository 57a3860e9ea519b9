import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'

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

export async function startIdp (): Promise<TestIdp> {
  let counter = 0
  const newKey = async (kid = `key-${++counter}`): Promise<SigningKey> => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
    return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } }
  }
  let key = await newKey()
  let issuer = ''
  const requests = { discovery: 0, jwks: 0 }
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      requests.discovery++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }))
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
