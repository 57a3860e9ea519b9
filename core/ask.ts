// A tool that needs its caller's *user* to answer (a human's yes before a destructive change)
// throws UserInputRequired. MCP clients of the 2026-07-28 era get an input_required result and
// call again with the answer; 2025-era clients get the same question as an elicitation where a
// session carries it (stdio, legacy SSE). Where the client cannot ask its user at all, the tool
// sees `interaction.canAsk === false` and must not throw this: it refuses in its own words.

/** The form a question asks for: MCP's restricted elicitation schema (flat object of primitives). */
export interface QuestionSchema {
  type: 'object'
  properties: Record<string, { type: 'boolean' | 'string' | 'number' | 'integer', title?: string, description?: string, default?: unknown, enum?: string[] }>
  required?: string[]
}

export interface Question {
  /** The key the answer comes back under. */
  key: string
  message: string
  requestedSchema: QuestionSchema
  /** Opaque state the client echoes on its retry; the tool seals it (it passes through the client). */
  state: string
}

/** How the user answered, as the client reported it; values are untrusted input. */
export type UserAnswer =
  | { action: 'accept', content: Record<string, unknown> }
  | { action: 'decline' | 'cancel' }

/** What a call's transport can do about questions, and the answers a retry brought. */
export interface Interaction {
  /** Whether this client can put a question to its user and call again with the answer. */
  canAsk: boolean
  /** Answers by key, as the client sent them on a retry. */
  responses?: Record<string, unknown>
  /** The state of the question answered, echoed by the client. */
  state?: string
}

export const NO_INTERACTION: Interaction = Object.freeze({ canAsk: false })

export class UserInputRequired extends Error {
  readonly question: Question

  constructor (question: Question) {
    super(question.message)
    this.name = 'UserInputRequired'
    this.question = question
  }
}

/** The user's answer under `key`, or undefined when the retry carried none (or not an elicitation result). */
export function answerOf (interaction: Interaction, key: string): UserAnswer | undefined {
  const raw = interaction.responses?.[key]
  if (raw === null || typeof raw !== 'object') return undefined
  const { action, content } = raw as { action?: unknown, content?: unknown }
  if (action === 'accept') return { action, content: content !== null && typeof content === 'object' && !Array.isArray(content) ? content as Record<string, unknown> : {} }
  if (action === 'decline' || action === 'cancel') return { action }
  return undefined
}
