import { errorBody } from '../lib/errors.ts'

/** A refusal or a failed call, as the registry and the gate report it. */
export interface Failure {
  code: string
  statusCode: number
  message: string
  /** Scopes to ask the identity provider for: answered with an insufficient_scope challenge. */
  missingScopes?: string[]
  /** RFC 6750 parameters of a 401's challenge (realm, error, error_description). */
  challenge?: Record<string, string>
}

export interface FailureReply {
  statusCode: number
  body: ReturnType<typeof errorBody>
  /** The `WWW-Authenticate` value, for a 401 or an insufficient_scope 403. */
  wwwAuthenticate?: string
}

/**
 * The one HTTP form of a failure, for every route that answers one: status, Fastify's error
 * body, and the Bearer challenge OAuth clients act on (RFC 6750 §3, RFC 9728's resource_metadata).
 */
export function failureReply (failure: Failure, resourceMetadataUrl: string | undefined): FailureReply {
  const params = failure.missingScopes !== undefined
    ? { error: 'insufficient_scope', scope: failure.missingScopes.join(' '), error_description: failure.message }
    : failure.challenge
  return {
    statusCode: failure.statusCode,
    body: errorBody(failure),
    ...(params !== undefined ? { wwwAuthenticate: bearerChallenge(params, resourceMetadataUrl) } : {})
  }
}

/** A `WWW-Authenticate: Bearer …` value (RFC 6750), with RFC 9728's resource_metadata when known. */
export function bearerChallenge (params: Record<string, string>, metadataUrl: string | undefined): string {
  const all = Object.entries({ ...params, ...(metadataUrl !== undefined ? { resource_metadata: metadataUrl } : {}) })
    .map(([k, v]) => `${k}="${v.replace(/["\\]/g, "'")}"`)
  return all.length === 0 ? 'Bearer' : `Bearer ${all.join(', ')}`
}
