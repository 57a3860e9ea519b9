import { Type, type TObject, type TProperties } from 'typebox'
import { MAX_SEALED_CHARS } from '../lib/mutations/seal.ts'

// Every mutation tool takes its own arguments plus these, and answers one shape: the plan (a
// dry run, the default) or the plan and what the broker did (an apply).

const Token = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: MAX_SEALED_CHARS, description }))

export const MUTATION_CONTROLS = {
  dry_run: Type.Optional(Type.Boolean({ default: true, description: 'true (the default): change nothing and answer the plan with its plan_token. false: apply the plan named by plan_token' })),
  plan_token: Token('the plan_token of a dry run with exactly the same arguments, required when dry_run is false'),
  approval: Token('an approval of this plan by a second principal (approve_plan), where the environment or the tool needs one'),
  break_glass_reason: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description: 'with the break-glass scope in the token: why this apply cannot wait for an approval (logged and audited)' }))
}
export type MutationControlName = keyof typeof MUTATION_CONTROLS
export const MUTATION_CONTROL_NAMES = Object.keys(MUTATION_CONTROLS) as MutationControlName[]

/** A mutation tool's input: its own arguments and the plan/apply controls. */
export function mutationInput<P extends TProperties> (properties: P): TObject<P & typeof MUTATION_CONTROLS> {
  return Type.Object({ ...properties, ...MUTATION_CONTROLS }, { additionalProperties: false })
}

const Finding = Type.Object({
  level: Type.Union([Type.Literal('error'), Type.Literal('warning'), Type.Literal('info')], { description: 'error: the plan cannot be applied as asked' }),
  code: Type.String({ description: 'stable identifier of the finding' }),
  message: Type.String()
})

const Requirement = Type.Object({
  kind: Type.Union([Type.Literal('plan_token'), Type.Literal('human_confirmation'), Type.Literal('approval'), Type.Literal('approval_or_break_glass')]),
  message: Type.String()
})

const Change = Type.Object({
  path: Type.String({ description: 'what changes, e.g. partition_count or config.retention.ms' }),
  before: Type.Unknown(),
  after: Type.Unknown()
})

const State = Type.Record(Type.String(), Type.Unknown())

export const MutationOutput = Type.Object({
  tool: Type.String(),
  dry_run: Type.Boolean(),
  status: Type.Union([Type.Literal('planned'), Type.Literal('blocked'), Type.Literal('applied')], { description: 'planned: a plan_token to apply it; blocked: findings with level error, no token; applied: the broker made the change' }),
  environment: Type.String({ description: 'KAFSCALE_ENV of this service ("" when unset)' }),
  resource: Type.String({ description: 'what the plan changes, e.g. topic:orders' }),
  plan_id: Type.String(),
  before: State,
  after: State,
  changes: Type.Array(Change),
  findings: Type.Array(Finding),
  impact: Type.Object({ summary: Type.String() }, { additionalProperties: true }),
  requirements: Type.Array(Requirement, { description: 'what applying this plan needs besides the plan_token' }),
  plan_token: Type.Optional(Type.String({ description: 'pass it with dry_run: false and the same arguments to apply the plan' })),
  expires_at: Type.Optional(Type.String({ description: 'when the plan_token stops being accepted, RFC 3339' })),
  next_step: Type.String({ description: 'what to do next, in words' }),
  result: Type.Optional(Type.Object({
    broker_answer: Type.Unknown(),
    observed_after: Type.Union([State, Type.Null()], { description: 'the state read back after the change; null when it could not be read or there is nothing to read back' }),
    read_back: Type.Union([Type.Literal('confirmed'), Type.Literal('not_yet_visible'), Type.Literal('unreadable'), Type.Literal('not_applicable')], { description: 'not_applicable: a control-plane call, whose only confirmation is the broker\'s answer' }),
    confirmed_by: Type.Optional(Type.String({ description: 'how a human agreed: the user (client confirmation) or the approver\'s identity' })),
    break_glass: Type.Optional(Type.Boolean())
  }))
})

export const ApprovePlanInput = Type.Object({
  plan_token: Type.String({ minLength: 1, maxLength: MAX_SEALED_CHARS, description: 'the plan_token of another caller\'s dry run' }),
  comment: Type.Optional(Type.String({ maxLength: 1000, description: 'why it is approved (audited)' }))
}, { additionalProperties: false })

export const ApprovePlanOutput = Type.Object({
  approval: Type.String({ description: 'give it to the planner: they pass it as `approval` with dry_run: false' }),
  plan_id: Type.String(),
  tool: Type.String(),
  arguments: Type.Record(Type.String(), Type.Unknown()),
  resource: Type.String(),
  planned_by: Type.String(),
  approved_by: Type.String(),
  expires_at: Type.String(),
  changes: Type.Array(Change),
  findings: Type.Array(Finding),
  impact: Type.Object({ summary: Type.String() }, { additionalProperties: true })
})
