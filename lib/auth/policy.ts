import { readFileSync, statSync } from 'node:fs'
import { Type, type Static } from 'typebox'
import { parse as parseYaml } from 'yaml'
import { compileSchema } from '../schema.ts'
import type { Principal } from './principal.ts'

// Who may call which tool. The policy file is the server's ceiling; a token's scopes can only
// narrow what it grants. Tool sets: "@observe" (every tool with readOnlyHint true, plugin tools
// included), "@mutate" (every tool that changes the cluster), "@approve" (approving another
// caller's plan: approve_plan), a tool name, or a glob such as "describe_*".

const ToolPatterns = Type.Array(Type.String({ minLength: 1, pattern: '^(@observe|@mutate|@approve|[a-z0-9_*?]+)$' }), { minItems: 1 })
/** A claim matches only a claim value of the same JSON type that is equal to it. */
const ClaimValue = Type.Union([Type.String(), Type.Number(), Type.Boolean()])

export const PolicySchema = Type.Object({
  roles: Type.Record(Type.String({ pattern: '^[A-Za-z0-9._-]+$' }), Type.Object({
    description: Type.Optional(Type.String()),
    tools: ToolPatterns
  }, { additionalProperties: false })),
  bindings: Type.Array(Type.Object({
    name: Type.Optional(Type.String({ description: 'names the rule in audit records' })),
    /** Matches when any listed value matches; a binding with several kinds needs each kind to match. */
    subjects: Type.Optional(Type.Array(Type.String())),
    groups: Type.Optional(Type.Array(Type.String())),
    clients: Type.Optional(Type.Array(Type.String())),
    claims: Type.Optional(Type.Record(Type.String(), ClaimValue)),
    /** Matches every authenticated caller. */
    everyone: Type.Optional(Type.Boolean()),
    roles: Type.Array(Type.String(), { minItems: 1 })
  }, { additionalProperties: false })),
  scopes: Type.Optional(Type.Object({
    observe: Type.String({ minLength: 1 }),
    mutate: Type.String({ minLength: 1 }),
    /** Lets an apply pass the prod fence without an approval, with a reason (default kafscale:break-glass). */
    break_glass: Type.Optional(Type.String({ minLength: 1 }))
  }, { additionalProperties: false }))
}, { additionalProperties: false })
export type Policy = Static<typeof PolicySchema>

/** Without a policy file: every authenticated caller may observe, nobody may mutate. */
export const DEFAULT_POLICY: Policy = {
  roles: { observer: { description: 'every read-only tool', tools: ['@observe'] } },
  bindings: [{ name: 'default-observe', everyone: true, roles: ['observer'] }]
}

const DEFAULT_SCOPES = { observe: 'kafscale:observe', mutate: 'kafscale:mutate' }
const DEFAULT_BREAK_GLASS_SCOPE = 'kafscale:break-glass'
const validator = compileSchema(PolicySchema)

export interface ToolFacts {
  name: string
  readOnly: boolean
  /** An approval of another caller's plan: in "@approve" only, and it needs the mutate scope. */
  approval?: boolean
}

export interface Decision {
  allowed: boolean
  /** The binding and role that granted the tool, or why it was refused. */
  rule: string
  roles: string[]
  /** Scopes the token lacks for this tool (OIDC only). */
  missingScopes?: string[]
  reason?: string
}

export function parsePolicy (text: string, source: string): Policy {
  let raw: unknown
  try {
    raw = source.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new Error(`policy ${source}: not valid ${source.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`)
  }
  if (!validator.check(raw)) throw new Error(`policy ${source}: ${validator.problems(raw).join('; ')}`)
  const policy = raw as Policy
  // Without a prototype, "toString" or "constructor" is a role only when the file defines one.
  const roles: Policy['roles'] = Object.create(null)
  for (const [name, role] of Object.entries(policy.roles)) roles[name] = role
  for (const binding of policy.bindings) {
    for (const role of binding.roles) {
      if (!Object.hasOwn(roles, role)) {
        throw new Error(`policy ${source}: binding ${binding.name ?? JSON.stringify(binding)} names unknown role ${JSON.stringify(role)} (defined: ${Object.keys(roles).join(', ') || 'none'})`)
      }
    }
  }
  return { ...policy, roles }
}

function globToRegExp (glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`)
}

function patternMatches (pattern: string, tool: ToolFacts): boolean {
  if (pattern === '@observe') return tool.readOnly && tool.approval !== true
  if (pattern === '@mutate') return !tool.readOnly && tool.approval !== true
  if (pattern === '@approve') return tool.approval === true
  return globToRegExp(pattern).test(tool.name)
}

function bindingMatches (binding: Policy['bindings'][number], p: Principal): boolean {
  if (binding.everyone === true) return true
  const kinds: boolean[] = []
  if (binding.subjects !== undefined) kinds.push(binding.subjects.includes(p.subject))
  if (binding.groups !== undefined) kinds.push(binding.groups.some((g) => p.groups.includes(g)))
  if (binding.clients !== undefined) kinds.push(p.clientId !== undefined && binding.clients.includes(p.clientId))
  if (binding.claims !== undefined) kinds.push(Object.entries(binding.claims).every(([name, value]) => claimEquals(p.claims, name, value)))
  return kinds.length > 0 && kinds.every(Boolean)
}

/** Exact: the string "acme" matches neither ["acme"] nor a number, and only the token's own claims count. */
function claimEquals (claims: Record<string, unknown>, name: string, value: string | number | boolean): boolean {
  return Object.hasOwn(claims, name) && claims[name] === value
}

/** The policy in force, re-read when its file changes (an invalid new file keeps the old policy). */
export class PolicyStore {
  private policy: Policy
  private readonly file: string | undefined
  private stamp = ''
  private checkedAt = 0
  private readonly onReloadError: (err: Error) => void

  constructor (file: string | undefined, onReloadError: (err: Error) => void = () => {}) {
    this.file = file
    this.onReloadError = onReloadError
    this.policy = DEFAULT_POLICY
    if (file !== undefined) this.load()
  }

  private load (): void {
    const stat = statSync(this.file!)
    const stamp = `${stat.mtimeMs}:${stat.size}:${stat.ino}`
    if (stamp === this.stamp) return
    this.policy = parsePolicy(readFileSync(this.file!, 'utf8'), this.file!)
    this.stamp = stamp
  }

  current (): Policy {
    if (this.file !== undefined && Date.now() - this.checkedAt >= 250) {
      this.checkedAt = Date.now()
      try {
        this.load()
      } catch (err) {
        this.onReloadError(err as Error)
      }
    }
    return this.policy
  }

  decide (principal: Principal, tool: ToolFacts): Decision {
    const policy = this.current()
    const scopes = policy.scopes ?? DEFAULT_SCOPES
    const roles: string[] = []
    let grantedBy: string | undefined
    policy.bindings.forEach((binding, i) => {
      if (!bindingMatches(binding, principal)) return
      for (const role of binding.roles) {
        if (!roles.includes(role)) roles.push(role)
        if (grantedBy === undefined && policy.roles[role]!.tools.some((pattern) => patternMatches(pattern, tool))) {
          grantedBy = `${binding.name ?? `bindings[${i}]`}/${role}`
        }
      }
    })
    if (grantedBy === undefined) {
      return { allowed: false, rule: 'no-role-grants-tool', roles, reason: `tool ${JSON.stringify(tool.name)} is not granted to ${principal.subject} (roles: ${roles.length === 0 ? 'none' : roles.join(', ')})` }
    }
    // A static shared token can never mutate, whatever the policy says.
    if (principal.method === 'static' && !tool.readOnly) {
      return { allowed: false, rule: 'static-token-read-only', roles, reason: `tool ${JSON.stringify(tool.name)} changes the cluster and needs an OIDC identity; the static token is read-only` }
    }
    if (principal.scopes !== undefined) {
      const needed = tool.readOnly ? scopes.observe : scopes.mutate
      // The mutate scope includes observing.
      const held = principal.scopes.includes(needed) || (tool.readOnly && principal.scopes.includes(scopes.mutate))
      if (!held) return { allowed: false, rule: 'token-scope', roles, missingScopes: [needed], reason: `tool ${JSON.stringify(tool.name)} needs scope ${needed}, which the token lacks` }
    }
    return { allowed: true, rule: grantedBy, roles }
  }

  /** Whether the principal's token carries the break-glass scope (an OIDC token only). */
  holdsBreakGlass (principal: Principal): boolean {
    return principal.method === 'oidc' && principal.scopes !== undefined && principal.scopes.includes(this.breakGlassScope())
  }

  breakGlassScope (): string {
    return this.current().scopes?.break_glass ?? DEFAULT_BREAK_GLASS_SCOPE
  }

  /** Every scope this server's tools can need, for protected-resource metadata. */
  scopesSupported (): string[] {
    const scopes = this.current().scopes ?? DEFAULT_SCOPES
    return [scopes.observe, scopes.mutate]
  }
}
