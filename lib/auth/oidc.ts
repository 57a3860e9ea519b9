import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { assertOptions, asymmetricAlgorithm, httpUrl, positive, problemOf } from '../config/checks.ts'
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
  /** Tokens whose exp - iat or exp - now exceeds this are refused: only short-lived tokens pass. */
  maxTokenLifetimeSec: number
  groupsClaim: string
  /** How long a fetched key set is trusted before it is fetched again. */
  jwksCacheMaxAgeMs: number
  timeoutMs: number
  /** After a failed discovery or key-set fetch, requests needing it are answered 503 at once for this long. */
  failureHoldMs?: number
}

/** Matches the Retry-After the gate sends with a 503. */
export const DEFAULT_FAILURE_HOLD_MS = 5000

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
  private readonly discovery: SharedFetch<string>
  private readonly keySet: SharedFetch<LocalKeySet>
  /** A token naming a key the set lacks triggers a refetch (key rotation), at most once per this. */
  private readonly refetchCooldownMs: number

  constructor (options: OidcOptions) {
    assertOptions('the OIDC verifier', [
      problemOf('issuer', options.issuer, httpUrl),
      options.jwksUrl === undefined ? undefined : problemOf('jwksUrl', options.jwksUrl, httpUrl),
      options.algorithms.length === 0 ? 'algorithms: name at least one' : undefined,
      ...options.algorithms.map((alg) => problemOf('algorithms', alg, asymmetricAlgorithm)),
      problemOf('maxTokenLifetimeSec', options.maxTokenLifetimeSec, positive),
      problemOf('timeoutMs', options.timeoutMs, positive)
    ])
    this.options = options
    const holdMs = options.failureHoldMs ?? DEFAULT_FAILURE_HOLD_MS
    this.discovery = new SharedFetch(async () => await this.discoverJwksUrl(), holdMs)
    this.keySet = new SharedFetch(async () => await this.fetchKeySet(), holdMs)
    this.refetchCooldownMs = Math.min(30_000, options.jwksCacheMaxAgeMs)
  }

  private async discoverJwksUrl (): Promise<string> {
    const discoveryUrl = `${this.options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
    const doc = await fetchJson(discoveryUrl, 'discovery document', { timeoutMs: this.options.timeoutMs, redirect: 'follow' }) as { issuer?: unknown, jwks_uri?: unknown } | null
    if (doc?.issuer !== this.options.issuer) throw new TokenError('unavailable', `the discovery document names issuer ${JSON.stringify(doc?.issuer)}, not the configured ${JSON.stringify(this.options.issuer)}`)
    if (typeof doc.jwks_uri !== 'string') throw new TokenError('unavailable', 'the discovery document has no jwks_uri')
    return doc.jwks_uri
  }

  private async fetchKeySet (): Promise<LocalKeySet> {
    const url = this.options.jwksUrl ?? await this.discovery.get()
    const jwks = await fetchJson(url, 'key set', { timeoutMs: this.options.timeoutMs, redirect: 'manual' })
    try {
      return createLocalJWKSet(jwks as JSONWebKeySet)
    } catch (err) {
      throw new TokenError('unavailable', `the identity provider's key set at ${url} is not a JWKS: ${(err as Error).message}`)
    }
  }

  // jose asks for the key only after the token parsed and its algorithm is allowed: a garbage
  // bearer string is refused without a fetch.
  private readonly key: JWTVerifyGetKey = async (header, token) => {
    const keys = await this.keySet.get(this.options.jwksCacheMaxAgeMs)
    try {
      return await keys(header, token)
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || this.keySet.ageMs() < this.refetchCooldownMs) throw err
      return await (await this.keySet.refresh())(header, token)
    }
  }

  async verify (token: string): Promise<Principal> {
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: this.options.algorithms,
        clockTolerance: this.options.clockToleranceSec,
        requiredClaims: ['sub', 'exp', 'iat']
      }))
    } catch (err) {
      throw translate(err)
    }
    this.checkLifetime(payload as JWTPayload & { exp: number, iat: number })
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

  /** jose checked that exp and iat are numbers and exp is not past; this bounds how long the token lives. */
  private checkLifetime ({ exp, iat }: { exp: number, iat: number }): void {
    const now = Math.floor(Date.now() / 1000)
    const { maxTokenLifetimeSec: max, clockToleranceSec: skew } = this.options
    if (exp - iat > max) throw new TokenError('invalid', `token lifetime ${exp - iat} s exceeds the allowed ${max} s`)
    // exp - iat alone trusts iat: a token "issued" in ten years' time passes it.
    if (exp - now > max + skew) throw new TokenError('invalid', `token expires in ${exp - now} s, later than the allowed lifetime of ${max} s from now`)
    if (iat - now > skew) throw new TokenError('invalid', `token issued in the future: iat is ${iat - now} s ahead of this server's clock (allowed skew ${skew} s)`)
  }
}

type LocalKeySet = ReturnType<typeof createLocalJWKSet>

/**
 * A value fetched from the identity provider, shared by every request: a request arriving while a
 * fetch is in flight waits for that one, and a failure is remembered for a short hold, so a hung or
 * failing provider costs one connection per hold instead of one per request.
 */
class SharedFetch<T> {
  private value: T | undefined
  private fetchedAt = 0
  private inFlight: Promise<T> | undefined
  private failure: { error: TokenError, until: number } | undefined
  private readonly fetchValue: () => Promise<T>
  private readonly holdMs: number

  constructor (fetchValue: () => Promise<T>, holdMs: number) {
    this.fetchValue = fetchValue
    this.holdMs = holdMs
  }

  /** The value, fetched again when older than maxAgeMs. */
  async get (maxAgeMs = Infinity): Promise<T> {
    if (this.value !== undefined && this.ageMs() < maxAgeMs) return this.value
    return await this.refresh()
  }

  ageMs (): number {
    return Date.now() - this.fetchedAt
  }

  async refresh (): Promise<T> {
    if (this.inFlight !== undefined) return await this.inFlight
    const held = this.failure
    if (held !== undefined && Date.now() < held.until) {
      throw new TokenError('unavailable', `${held.error.message} (not asked again for ${Math.ceil((held.until - Date.now()) / 1000)} s)`)
    }
    this.inFlight = this.fetchValue().then((value) => {
      this.value = value
      this.fetchedAt = Date.now()
      this.failure = undefined
      return value
    }, (err: unknown) => {
      const error = err instanceof TokenError ? err : new TokenError('unavailable', (err as Error).message)
      this.failure = { error, until: Date.now() + this.holdMs }
      throw error
    }).finally(() => { this.inFlight = undefined })
    return await this.inFlight
  }
}

async function fetchJson (url: string, what: string, options: { timeoutMs: number, redirect: RequestRedirect }): Promise<unknown> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs), redirect: options.redirect, headers: { accept: 'application/json' } })
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`)
    return await res.json()
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError'
      ? `no answer within ${options.timeoutMs} ms`
      : [(err as Error).message, ((err as Error).cause as Error | undefined)?.message].filter(Boolean).join(': ')
    throw new TokenError('unavailable', `cannot read the identity provider's ${what} at ${url}: ${reason}`)
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
  if (err instanceof errors.JOSEError) return new TokenError('invalid', `malformed token: ${err.message}`)
  // Not the token's fault: a fault on this side, so not a 401.
  return new TokenError('unavailable', `cannot verify the token: ${(err as Error).message}`)
}
