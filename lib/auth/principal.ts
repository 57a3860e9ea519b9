/** Who is calling, as the auth gate established it. */
export interface Principal {
  /** Stable identity for audit and session ownership: `oidc:<iss>|<sub>`, `static-token` or `anonymous` (limits key on `callerKey()`, plugins/abuse-limits.ts). */
  id: string
  method: 'oidc' | 'static' | 'none'
  subject: string
  issuer?: string
  clientId?: string
  groups: string[]
  /** Scopes of an OIDC token; undefined when the method has no scopes (static, none). */
  scopes?: string[]
  claims: Record<string, unknown>
}

export const ANONYMOUS: Principal = { id: 'anonymous', method: 'none', subject: 'anonymous', groups: [], claims: {} }
export const STATIC_TOKEN: Principal = { id: 'static-token', method: 'static', subject: 'static-token', groups: [], claims: {} }
