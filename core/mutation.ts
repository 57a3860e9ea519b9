import { randomUUID } from 'node:crypto'
import type { Static, TObject, TProperties } from 'typebox'
import type { AuditRecord } from '../lib/audit.ts'
import {
  ApprovalRefusedError, ApprovalRequiredError, AuditUnavailableError, ConfirmationRequiredError, DeclinedError,
  isCodedError, PlanBlockedError, PlanRefusedError, PlanRequiredError, SelfApprovalError, StateChangedError
} from '../lib/errors.ts'
import { sha256 } from '../lib/crypto.ts'
import { canonicalDigest, canonicalJson, type Sealer } from '../lib/mutations/seal.ts'
import { rfc3339 } from '../lib/kafscale/offsets.ts'
import { ApprovePlanInput, ApprovePlanOutput, MUTATION_CONTROL_NAMES, MutationOutput, mutationInput, type MUTATION_CONTROLS } from '../schemas/mutations.ts'
import { answerOf, UserInputRequired, type QuestionSchema } from './ask.ts'
import { callRecord } from './registry.ts'
import { defineTool, markApprovalTool, type Caller, type ToolContext, type ToolDefinition, type ToolLogger } from './tool.ts'

// The guarded path of every change: plan (a dry run, the default) → apply (only a sealed plan,
// re-checked against the state now) → fences (prod approval or break-glass, a human's yes for
// destructive tools) → an intent record on disk → the broker's admin API → read back → outcome
// record. The specs (tools/mutations/) only read state, compute plans and send one request.

export interface Finding {
  level: 'error' | 'warning' | 'info'
  code: string
  message: string
}

/** What a change would do, computed here from the state read, never by the broker. */
export interface Plan {
  /** The resource as it is now; its digest binds the plan token. */
  before: Record<string, unknown>
  /** The resource as the change leaves it. */
  after: Record<string, unknown>
  findings: Finding[]
  impact: { summary: string } & Record<string, unknown>
}

export type MutationArgs<P extends TProperties> = Omit<Static<TObject<P>>, keyof typeof MUTATION_CONTROLS>

export interface MutationSpec<P extends TProperties, State, Deps> {
  name: string
  title: string
  /** Written for an LLM: what it changes, what the plan shows, which acknowledgements it may ask for. */
  description: string
  /** The tool's own arguments; the plan/apply controls are added. */
  properties: P
  destructive: boolean
  idempotent: boolean
  /** The key applies are serialised on, e.g. `topic:orders`. */
  resource: (args: MutationArgs<P>) => string
  /** The state the plan is computed from; read-only, and never a request that could create what it names. */
  read: (args: MutationArgs<P>, deps: Deps, signal: AbortSignal) => Promise<State>
  plan: (args: MutationArgs<P>, state: State) => Plan
  /** Sends the change; answers what the broker said. */
  apply: (args: MutationArgs<P>, state: State, deps: Deps) => Promise<unknown>
  /**
   * Whether a state read after the apply shows the change. Absent where nothing can be read back
   * but the broker's own answer (control-plane calls): the apply then reports `not_applicable`.
   */
  visible?: (args: MutationArgs<P>, state: State) => boolean
}

/** Which applies need what, by tool. */
export interface Fences {
  environment: string
  /** prod: every apply needs an approval or break-glass. */
  production: boolean
  /** Tools whose applies need a second principal's approval (or break-glass) outside prod too. */
  approvalTools: ReadonlySet<string>
  /** Tools whose applies need a human's yes: the client's user, or an approval. */
  confirmTools: ReadonlySet<string>
}

export interface MutationAudit {
  record: (record: AuditRecord, options: { durable: boolean }) => Promise<boolean>
}

export interface MutationMetrics {
  breakGlass: (tool: string) => void
  outcome: (tool: string, result: string) => void
}

export interface MutationServiceOptions<Deps> {
  deps: Deps
  sealer: Sealer
  fences: Fences
  audit: MutationAudit
  /** Whether the principal's token holds the break-glass scope, and that scope's name. */
  holdsBreakGlass: (principal: Caller['principal']) => boolean
  breakGlassScope: () => string
  metrics: MutationMetrics
  log: ToolLogger
  planTtlMs: number
  /** Read-backs after an apply, and the pause between them. */
  readBack?: { attempts: number, intervalMs: number }
  now?: () => number
}

interface PlanClaims {
  id: string
  tool: string
  args: Record<string, unknown>
  caller: string
  before_sha256: string
  env: string
  iat: number
  exp: number
}

/** One mutex per resource: applies of the same resource within this replica run one after another. */
class ResourceLocks {
  private readonly tails = new Map<string, Promise<void>>()

  async run<T> (key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((resolve) => { release = resolve })
    const tail = previous.then(async () => await mine)
    this.tails.set(key, tail)
    await previous
    try {
      return await work()
    } finally {
      release()
      if (this.tails.get(key) === tail) this.tails.delete(key)
    }
  }
}

const READ_BACK = { attempts: 25, intervalMs: 200 }

interface ReadBack {
  after: Record<string, unknown> | null
  readBack: 'confirmed' | 'not_yet_visible' | 'unreadable' | 'not_applicable'
}
const NOTHING_TO_READ_BACK: ReadBack = { after: null, readBack: 'not_applicable' }

const CONFIRM_KEY = 'confirm'
const CONFIRM_SCHEMA: QuestionSchema = {
  type: 'object',
  properties: { confirm: { type: 'boolean', title: 'Apply this change', description: 'Yes applies exactly the plan shown; no changes nothing' } },
  required: ['confirm']
}
/** A question's text is shown to a person: long plans are cut. */
const MAX_QUESTION_CHARS = 4000

export class MutationService<Deps> {
  private readonly options: MutationServiceOptions<Deps>
  private readonly locks = new ResourceLocks()
  /** Plans applied by this replica (until they expire): a token is good for one apply. */
  private readonly consumed = new Map<string, number>()
  /** When each resource was last changed through this replica: older plans of it are stale. */
  private readonly lastApplied = new Map<string, { at: number, planId: string }>()
  private readonly specs = new Map<string, MutationSpec<any, any, Deps>>()

  constructor (options: MutationServiceOptions<Deps>) {
    this.options = options
  }

  private now (): number {
    return (this.options.now ?? Date.now)()
  }

  /** The tool definition of a mutation: dry run by default, apply only a sealed plan. */
  tool<P extends TProperties, State> (spec: MutationSpec<P, State, Deps>): ToolDefinition<TObject<P & typeof MUTATION_CONTROLS>, typeof MutationOutput> {
    this.specs.set(spec.name, spec)
    return {
      name: spec.name,
      title: spec.title,
      description: `${spec.description} ${this.fenceWords(spec)}`,
      input: mutationInput(spec.properties),
      output: MutationOutput,
      annotations: { readOnlyHint: false, destructiveHint: spec.destructive, idempotentHint: spec.idempotent, openWorldHint: false },
      handler: async (input, ctx) => await this.handle(spec, input as Record<string, unknown>, ctx)
    }
  }

  /** approve_plan: a second principal approves a plan it did not make, after seeing it recomputed now. */
  approvalTool (): ToolDefinition<typeof ApprovePlanInput, typeof ApprovePlanOutput> {
    return markApprovalTool(defineTool({
      name: 'approve_plan',
      title: 'Approve another caller\'s plan',
      description: 'Approve a change another principal planned (their plan_token from a mutation tool\'s dry run). The plan is ' +
        'recomputed from the cluster now and shown back (changes, findings, impact); a plan you made yourself, an expired one, or one ' +
        'whose state changed is refused. Returns an `approval` the planner passes with dry_run: false. Approving is a decision of its own: ' +
        'read the changes before approving.',
      input: ApprovePlanInput,
      output: ApprovePlanOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      handler: async ({ plan_token: token, comment }, ctx) => await this.approve(token, comment, ctx)
    }))
  }

  private fenceWords (spec: MutationSpec<any, any, Deps>): string {
    const needs = this.requirementsOf(spec.name).filter((r) => r.kind !== 'plan_token').map((r) => r.message)
    return `Always call it first with dry_run: true (the default) and show the plan to the user; apply with dry_run: false and the plan_token.${needs.length > 0 ? ` Applying also needs: ${needs.join('; ')}` : ''}`
  }

  private requirementsOf (tool: string): Array<{ kind: 'plan_token' | 'human_confirmation' | 'approval' | 'approval_or_break_glass', message: string }> {
    const { fences } = this.options
    const list: Array<{ kind: 'plan_token' | 'human_confirmation' | 'approval' | 'approval_or_break_glass', message: string }> = [
      { kind: 'plan_token', message: 'the plan_token of this dry run, with the same arguments, before it expires' }
    ]
    if (fences.production || fences.approvalTools.has(tool)) {
      list.push({ kind: 'approval_or_break_glass', message: `${fences.production ? 'in prod, ' : ''}an approval by a second principal (approve_plan), or break-glass: the ${this.options.breakGlassScope()} scope and a break_glass_reason` })
    }
    if (fences.confirmTools.has(tool)) {
      list.push({ kind: 'human_confirmation', message: 'a human\'s yes: the MCP client asks its user to confirm the plan, or a second principal approves it (approve_plan)' })
    }
    return list
  }

  private async handle (spec: MutationSpec<any, any, Deps>, input: Record<string, unknown>, ctx: ToolContext): Promise<Static<typeof MutationOutput>> {
    const args = ownArguments(input)
    const resource = spec.resource(args)
    const env = this.options.fences.environment
    const base = { phase: 'plan', resource, env }
    if (input.dry_run !== false) {
      const state = await spec.read(args, this.options.deps, ctx.signal)
      const plan = spec.plan(args, state)
      const planId = randomUUID()
      const beforeSha = canonicalDigest(plan.before)
      const blocked = plan.findings.some((f) => f.level === 'error')
      const now = this.now()
      const claims: PlanClaims = { id: planId, tool: spec.name, args, caller: ctx.caller.principal.id, before_sha256: beforeSha, env, iat: now, exp: now + this.options.planTtlMs }
      ctx.noteAudit({ diff: { before: plan.before, after: plan.after }, mutation: { ...base, plan_id: planId, result: blocked ? 'refused' : 'planned', before_sha256: beforeSha } })
      this.options.metrics.outcome(spec.name, blocked ? 'blocked' : 'planned')
      return this.answer(spec, resource, plan, planId, blocked
        ? { status: 'blocked', next: `Not applicable as asked: ${errorsOf(plan)}. Change the arguments and plan again.` }
        : { status: 'planned', token: this.options.sealer.seal('plan', claims), expires: claims.exp, next: this.nextStep(spec.name, claims.exp) })
    }

    const token = input.plan_token
    if (typeof token !== 'string') throw new PlanRequiredError(spec.name)
    const note = { ...base, phase: 'outcome' } as Record<string, unknown>
    let sent = false
    try {
      const claims = this.openPlan(token, spec.name, args, ctx.caller.principal.id)
      note.plan_id = claims.id
      return await this.locks.run(resource, async () => {
        const applied = this.lastApplied.get(resource)
        if (this.consumed.has(claims.id)) throw new PlanRefusedError('this plan was already applied')
        if (applied !== undefined && applied.at >= claims.iat) throw new StateChangedError(resource, `plan ${applied.planId} was applied to it at ${new Date(applied.at).toISOString()}, after this plan was made`)
        const state = await spec.read(args, this.options.deps, ctx.signal)
        const plan = spec.plan(args, state)
        const beforeSha = canonicalDigest(plan.before)
        note.before_sha256 = beforeSha
        ctx.noteAudit({ diff: { before: plan.before, after: plan.after } })
        if (beforeSha !== claims.before_sha256) throw new StateChangedError(resource, 'the state read now differs from the planned before-state')
        if (plan.findings.some((f) => f.level === 'error')) throw new PlanBlockedError(errorsOf(plan))
        const fence = this.passFences(spec, plan, claims, token, input, ctx, note)
        Object.assign(note, fence.audit)
        // The intent is on disk before the broker hears of the change; without it, nothing is sent.
        const intent = { ...note, phase: 'intent' }
        const written = await this.options.audit.record({
          ...callRecord(spec.name, input, ctx.caller, ctx.grant),
          outcome: 'ok',
          duration_ms: 0,
          diff: { before: plan.before, after: plan.after },
          mutation: intent
        } as AuditRecord, { durable: true })
        if (!written) throw new AuditUnavailableError()
        sent = true
        const answer = await spec.apply(args, state, this.options.deps)
        this.consumed.set(claims.id, claims.exp)
        this.lastApplied.set(resource, { at: this.now(), planId: claims.id })
        this.forgetExpired()
        const observed = spec.visible === undefined ? NOTHING_TO_READ_BACK : await this.readBack(spec, spec.visible, args, ctx.signal)
        note.result = 'applied'
        note.broker_answer = answer
        ctx.noteAudit({ diff: { before: plan.before, after: observed.after ?? plan.after, observed: observed.after !== null } })
        this.options.metrics.outcome(spec.name, 'applied')
        return {
          ...this.answer(spec, resource, plan, claims.id, { status: 'applied', next: afterApply(observed.readBack) }),
          result: { broker_answer: answer, observed_after: observed.after, read_back: observed.readBack, ...fence.result }
        }
      })
    } catch (err) {
      note.result = resultOfFailure(err, sent)
      if (isCodedError(err)) note.reason = err.message
      this.options.metrics.outcome(spec.name, note.result as string)
      throw err
    } finally {
      ctx.noteAudit({ mutation: note })
    }
  }

  private nextStep (tool: string, expires: number): string {
    const needs = this.requirementsOf(tool).filter((r) => r.kind !== 'plan_token').map((r) => r.message)
    return `Show this plan to the user. To apply it, call ${tool} again with the same arguments, dry_run: false and this plan_token before ${rfc3339(new Date(expires))}` +
      `${needs.length > 0 ? `; applying also needs ${needs.join('; and ')}` : ''}.`
  }

  private answer (spec: MutationSpec<any, any, Deps>, resource: string, plan: Plan, planId: string, how: { status: 'planned' | 'blocked' | 'applied', token?: string, expires?: number, next: string }): Static<typeof MutationOutput> {
    return {
      tool: spec.name,
      dry_run: how.status !== 'applied',
      status: how.status,
      environment: this.options.fences.environment,
      resource,
      plan_id: planId,
      before: plan.before,
      after: plan.after,
      changes: changesBetween(plan.before, plan.after),
      findings: plan.findings,
      impact: plan.impact,
      requirements: this.requirementsOf(spec.name),
      ...(how.token !== undefined ? { plan_token: how.token, expires_at: rfc3339(new Date(how.expires!)) } : {}),
      next_step: how.next
    }
  }

  private openPlan (token: string, tool: string, args: Record<string, unknown>, caller: string): PlanClaims {
    const opened = this.options.sealer.open('plan', token)
    if ('problem' in opened) throw new PlanRefusedError(opened.problem)
    const claims = opened.payload as unknown as PlanClaims
    if (claims.tool !== tool) throw new PlanRefusedError(`it is a plan of ${claims.tool}, not of ${tool}`)
    if (claims.env !== this.options.fences.environment) throw new PlanRefusedError(`it was made for environment ${JSON.stringify(claims.env)}, this service serves ${JSON.stringify(this.options.fences.environment)}`)
    if (claims.caller !== caller) throw new PlanRefusedError('it was made by another caller; a plan can only be applied by the principal that made it')
    if (canonicalJson(claims.args) !== canonicalJson(args)) throw new PlanRefusedError(`the arguments differ from the planned ones (${changedArguments(claims.args, args)})`)
    if (this.now() >= claims.exp) throw new PlanRefusedError(`it expired at ${new Date(claims.exp).toISOString()}`)
    return claims
  }

  /** The prod fence, the tool's approval rule and the human's yes; what passed them goes to the audit. */
  private passFences (spec: MutationSpec<any, any, Deps>, plan: Plan, claims: PlanClaims, token: string, input: Record<string, unknown>, ctx: ToolContext, note: Record<string, unknown>): { audit: Record<string, unknown>, result: { confirmed_by?: string, break_glass?: boolean } } {
    const { fences } = this.options
    const audit: Record<string, unknown> = {}
    const result: { confirmed_by?: string, break_glass?: boolean } = {}
    const approver = typeof input.approval === 'string' ? this.openApproval(input.approval, claims, token) : undefined
    if (approver !== undefined) {
      audit.approval = { approved_by: approver }
      result.confirmed_by = approver
    }
    if ((fences.production || fences.approvalTools.has(spec.name)) && approver === undefined) {
      const reason = typeof input.break_glass_reason === 'string' ? input.break_glass_reason.trim() : ''
      const scoped = this.options.holdsBreakGlass(ctx.caller.principal)
      if (!scoped || reason === '') {
        const where = fences.production ? `in ${fences.environment} every apply` : `an apply of ${spec.name}`
        const missing = !scoped ? `the token lacks the ${this.options.breakGlassScope()} scope` : 'break_glass_reason is empty'
        throw new ApprovalRequiredError(`${where} needs an approval by a second principal: ask one with an approver role to call approve_plan with this plan_token and pass its approval; or break-glass (${missing})`)
      }
      audit.break_glass = { reason }
      result.break_glass = true
      this.options.metrics.breakGlass(spec.name)
      this.options.log.warn({ tool: spec.name, principal: ctx.caller.principal.id, plan_id: claims.id, reason }, 'BREAK-GLASS: applying without an approval')
    }
    if (fences.confirmTools.has(spec.name) && approver === undefined) {
      this.confirmWithUser(spec, plan, claims, ctx, note)
      audit.confirmation = { by: 'client-user', answer: 'accept' }
      result.confirmed_by = 'user'
    }
    return { audit, result }
  }

  /** A human's yes through the client: asks (the client calls again with the answer), or refuses where it cannot. */
  /** `note` is the outcome record's mutation part: a refusal's answer is kept there. */
  private confirmWithUser (spec: MutationSpec<any, any, Deps>, plan: Plan, claims: PlanClaims, ctx: ToolContext, note: Record<string, unknown>): void {
    const { interaction } = ctx
    const state = interaction.state === undefined ? undefined : this.options.sealer.open('confirmation', interaction.state)
    const forThisPlan = state !== undefined && 'payload' in state && state.payload.plan_id === claims.id
    const answer = forThisPlan ? answerOf(interaction, CONFIRM_KEY) : undefined
    if (answer !== undefined) {
      if (answer.action === 'accept' && answer.content.confirm === true) return
      note.confirmation = { by: 'client-user', answer: answer.action === 'accept' ? 'no' : answer.action }
      throw new DeclinedError(`${spec.name} of ${spec.resource(claims.args)}`)
    }
    if (!interaction.canAsk) throw new ConfirmationRequiredError(`${spec.name} of ${spec.resource(claims.args)}`)
    note.confirmation = { by: 'client-user', answer: 'asked' }
    throw new UserInputRequired({
      key: CONFIRM_KEY,
      message: questionText(spec, plan),
      requestedSchema: CONFIRM_SCHEMA,
      state: this.options.sealer.seal('confirmation', { plan_id: claims.id, exp: claims.exp })
    })
  }

  private openApproval (approval: string, claims: PlanClaims, token: string): string {
    const opened = this.options.sealer.open('approval', approval)
    if ('problem' in opened) throw new ApprovalRefusedError(opened.problem)
    const { plan_id: planId, plan_sha256: planSha, approver, exp } = opened.payload as { plan_id: string, plan_sha256: string, approver: string, exp: number }
    if (planId !== claims.id || planSha !== sha256(token)) throw new ApprovalRefusedError('it approves another plan')
    if (approver === claims.caller) throw new ApprovalRefusedError('it was given by the principal that made the plan; a different principal must approve')
    if (this.now() >= exp) throw new ApprovalRefusedError(`it expired at ${new Date(exp).toISOString()}`)
    return approver
  }

  private async approve (token: string, comment: string | undefined, ctx: ToolContext): Promise<Static<typeof ApprovePlanOutput>> {
    const approver = ctx.caller.principal.id
    const opened = this.options.sealer.open('plan', token)
    if ('problem' in opened) throw new PlanRefusedError(opened.problem)
    const claims = opened.payload as unknown as PlanClaims
    const spec = this.specs.get(claims.tool)
    if (spec === undefined) throw new PlanRefusedError(`it is a plan of ${claims.tool}, which this service does not serve`)
    const resource = spec.resource(claims.args)
    const note: Record<string, unknown> = { phase: 'approval', plan_id: claims.id, resource, env: this.options.fences.environment, planned_by: claims.caller, ...(comment !== undefined ? { comment } : {}) }
    try {
      if (claims.env !== this.options.fences.environment) throw new PlanRefusedError(`it was made for environment ${JSON.stringify(claims.env)}`)
      if (this.now() >= claims.exp) throw new PlanRefusedError(`it expired at ${new Date(claims.exp).toISOString()}`)
      if (claims.caller === approver) throw new SelfApprovalError(approver)
      const plan = spec.plan(claims.args, await spec.read(claims.args, this.options.deps, ctx.signal))
      ctx.noteAudit({ diff: { before: plan.before, after: plan.after } })
      if (canonicalDigest(plan.before) !== claims.before_sha256) throw new StateChangedError(resource, 'the state read now differs from the planned before-state')
      const exp = claims.exp
      note.result = 'approved'
      return {
        approval: this.options.sealer.seal('approval', { plan_id: claims.id, plan_sha256: sha256(token), approver, exp }),
        plan_id: claims.id,
        tool: claims.tool,
        arguments: claims.args,
        resource,
        planned_by: claims.caller,
        approved_by: approver,
        expires_at: rfc3339(new Date(exp)),
        changes: changesBetween(plan.before, plan.after),
        findings: plan.findings,
        impact: plan.impact
      }
    } catch (err) {
      note.result = 'refused'
      if (isCodedError(err)) note.reason = err.message
      throw err
    } finally {
      ctx.noteAudit({ mutation: note })
    }
  }

  private async readBack (spec: MutationSpec<any, any, Deps>, visible: NonNullable<MutationSpec<any, any, Deps>['visible']>, args: Record<string, unknown>, signal: AbortSignal): Promise<ReadBack> {
    const { attempts, intervalMs } = this.options.readBack ?? READ_BACK
    let last: Record<string, unknown> | null = null
    for (let i = 0; i < attempts && !signal.aborted; i++) {
      try {
        const state = await spec.read(args, this.options.deps, signal)
        last = spec.plan(args, state).before
        if (visible(args, state)) return { after: last, readBack: 'confirmed' }
      } catch (err) {
        this.options.log.warn({ err: (err as Error).message, tool: spec.name }, 'reading back a change failed')
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs))
    }
    return { after: last, readBack: last === null ? 'unreadable' : 'not_yet_visible' }
  }

  private forgetExpired (): void {
    const now = this.now()
    for (const [id, exp] of this.consumed) if (exp <= now) this.consumed.delete(id)
    for (const [resource, { at }] of this.lastApplied) if (at + this.options.planTtlMs <= now) this.lastApplied.delete(resource)
  }
}

/** The tool's own arguments: the plan/apply controls are not part of what a plan binds. */
function ownArguments (input: Record<string, unknown>): Record<string, unknown> {
  const args: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(input)) if (!(MUTATION_CONTROL_NAMES as string[]).includes(key)) args[key] = value
  return args
}

function changedArguments (planned: Record<string, unknown>, given: Record<string, unknown>): string {
  const keys = [...new Set([...Object.keys(planned), ...Object.keys(given)])].filter((k) => canonicalJson(planned[k]) !== canonicalJson(given[k]))
  return keys.map((k) => `${k}: planned ${canonicalJson(planned[k]) ?? 'nothing'}, given ${canonicalJson(given[k]) ?? 'nothing'}`).join('; ')
}

function errorsOf (plan: Plan): string {
  return plan.findings.filter((f) => f.level === 'error').map((f) => f.message).join('; ')
}

function afterApply (readBack: ReadBack['readBack']): string {
  if (readBack === 'confirmed') return 'Done: the change is visible in the cluster.'
  if (readBack === 'not_applicable') return 'Done: the broker\'s answer (result.broker_answer) is the confirmation; there is nothing else to read back.'
  return 'The broker accepted the change, but reading it back does not show it yet: check again shortly.'
}

/** Refusals before anything was sent change nothing; a failure after sending may have. */
function resultOfFailure (err: unknown, sent: boolean): string {
  if (err instanceof UserInputRequired) return 'confirmation_requested'
  if (err instanceof DeclinedError) return 'declined'
  return sent ? 'failed' : 'refused'
}

/** Every leaf that differs, by dotted path; lists compare as wholes. */
export function changesBetween (before: Record<string, unknown>, after: Record<string, unknown>, prefix = ''): Array<{ path: string, before: unknown, after: unknown }> {
  const changes: Array<{ path: string, before: unknown, after: unknown }> = []
  for (const key of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const a = before[key]
    const b = after[key]
    const path = `${prefix}${key}`
    if (isPlainObject(a) && isPlainObject(b)) changes.push(...changesBetween(a, b, `${path}.`))
    else if (canonicalJson(a) !== canonicalJson(b)) changes.push({ path, before: a ?? null, after: b ?? null })
  }
  return changes
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function questionText (spec: MutationSpec<any, any, any>, plan: Plan): string {
  const lines = [`${spec.title}: ${plan.impact.summary}`]
  for (const c of changesBetween(plan.before, plan.after)) lines.push(`- ${c.path}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`)
  for (const f of plan.findings.filter((f) => f.level !== 'info')) lines.push(`! ${f.message}`)
  lines.push('Apply this change?')
  const text = lines.join('\n')
  return text.length > MAX_QUESTION_CHARS ? `${text.slice(0, MAX_QUESTION_CHARS - 40)}…\n(plan cut; see the dry run) Apply?` : text
}
