import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose'
import type { Principal } from './principal.ts'

export interface OidcOptions {
  issuer: string
  /** This service's resource identifier; tokens must name it in `aud`. */
  audience: string
  /** Explicit JWKS URL; otherwise taken from the issuer's discovery document. */
  jwksUrl?: string
  /** Asymmetric algorithms only. */
  algorithms: string[]
  clockToleranceSec: number
  /** Tokens whose exp - iat exceeds this are refused: only short-lived tokens pass. */
  maxTokenLifetimeSec: number
  groupsClaim: string
  /** How long a fetched key set is trusted before it is fetched again. */
  jwksCacheMaxAgeMs: number
  timeoutMs: number
}

export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

/** Why a token was not accepted: `invalid` → 401, `unavailable` (the IdP could not be asked) → 503. */
export class TokenError extends Error {
  readonly kind: 'invalid' | 'unavailable'
  constructor (kind: 'invalid' | 'unavailable', message: string) {
    super(message)
    this.kind = kind
  }
}

export class OidcVerifier {
  private readonly options: OidcOptions
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined

  constructor (options: OidcOptions) {
    for (const alg of options.algorithms) {
      if (!ASYMMETRIC_ALGORITHMS.includes(alg)) throw new Error(`OIDC: algorithm ${alg} is not allowed; use asymmetric ones (${ASYMMETRIC_ALGORITHMS.join(', ')})`)
    }
    this.options = options
  }

  private async keySet (): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.jwks !== undefined) return this.jwks
    let url = this.options.jwksUrl
    if (url === undefined) {
      const discoveryUrl = `${this.options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
      let doc: { issuer?: string, jwks_uri?: string }
      try {
        const res = await fetch(discoveryUrl, { signal: AbortSignal.timeout(this.options.timeoutMs) })
        if (!res.ok) throw new Error(`${res.status} ${res.statusText}`)
        doc = await res.json() as typeof doc
      } catch (err) {
        throw new TokenError('unavailable', `cannot read the identity provider's discovery document: ${(err as Error).message}`)
      }
      if (doc.issuer !== this.options.issuer) throw new TokenError('unavailable', `the discovery document names issuer ${JSON.stringify(doc.issuer)}, not the configured ${JSON.stringify(this.options.issuer)}`)
      if (typeof doc.jwks_uri !== 'string') throw new TokenError('unavailable', 'the discovery document has no jwks_uri')
      url = doc.jwks_uri
    }
    this.jwks = createRemoteJWKSet(new URL(url), { timeoutDuration: this.options.timeoutMs, cacheMaxAge: this.options.jwksCacheMaxAgeMs, cooldownDuration: Math.min(30_000, this.options.jwksCacheMaxAgeMs) })
    return this.jwks
  }

  async verify (token: string): Promise<Principal> {
    const keys = await this.keySet()
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: this.options.algorithms,
        clockTolerance: this.options.clockToleranceSec,
        requiredClaims: ['sub', 'exp', 'iat']
      }))
    } catch (err) {
      throw translate(err)
    }
    const lifetime = (payload.exp ?? 0) - (payload.iat ?? 0)
    if (lifetime > this.options.maxTokenLifetimeSec) {
      throw new TokenError('invalid', `token lifetime ${lifetime} s exceeds the allowed ${this.options.maxTokenLifetimeSec} s`)
    }
    const groups = payload[this.options.groupsClaim]
    const clientId = typeof payload.client_id === 'string' ? payload.client_id : typeof payload.azp === 'string' ? payload.azp : undefined
    return {
      id: `oidc:${payload.iss ?? ''}|${payload.sub ?? ''}`,
      method: 'oidc',
      subject: payload.sub ?? '',
      issuer: payload.iss,
      ...(clientId !== undefined ? { clientId } : {}),
      groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : typeof groups === 'string' ? [groups] : [],
      scopes: scopesOf(payload),
      claims: payload
    }
  }
}

function scopesOf (payload: JWTPayload): string[] {
  if (typeof payload.scope === 'string') return payload.scope.split(' ').filter((s) => s !== '')
  if (Array.isArray(payload.scp)) return payload.scp.filter((s): s is string => typeof s === 'string')
  if (typeof payload.scp === 'string') return payload.scp.split(' ').filter((s) => s !== '')
  return []
}

function translate (err: unknown): TokenError {
  if (err instanceof TokenError) return err
  if (err instanceof errors.JWTExpired) return new TokenError('invalid', 'token expired')
  if (err instanceof errors.JWTClaimValidationFailed) return new TokenError('invalid', `token claim "${err.claim}" is not acceptable: ${err.reason}`)
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenError('invalid', 'token algorithm not allowed')
  if (err instanceof errors.JWKSNoMatchingKey) return new TokenError('invalid', 'no key of the identity provider matches the token')
  if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenError('invalid', 'token signature verification failed')
  if (err instanceof errors.JWKSTimeout) return new TokenError('unavailable', 'the identity provider\'s key set did not answer in time')
  if (err instanceof errors.JOSEError) return new TokenError('invalid', `malformed token: ${err.message}`)
  // A failed key-set fetch with nothing cached surfaces as a plain fetch error.
  return new TokenError('unavailable', `cannot fetch the identity provider's keys: ${(err as Error).message}`)
}
