import { answerJson } from './paging.ts'

/**
 * Answers computed from the cluster snapshot alone, remembered per snapshot and question. The
 * store replaces its view object with every snapshot it applies, so an answer is only ever
 * reused for the snapshot it was computed from, and is dropped with that snapshot. Each
 * snapshot keeps at most MAX_ANSWERS answers and MAX_CHARS characters of their JSON; the least
 * recently used go first, and an answer too large to be worth keeping is computed every time.
 */
const MAX_ANSWERS = 64
const MAX_CHARS = 4_000_000
const MAX_ANSWER_CHARS = MAX_CHARS / 4
/** A question naming many things (a long list of topics) is computed, not remembered. */
const MAX_QUESTION_CHARS = 2048

interface Remembered {
  value: unknown
  chars: number
}

interface Answers {
  entries: Map<string, Remembered>
  chars: number
}

const bySnapshot = new WeakMap<object, Answers>()

/**
 * The answer to `question` about the snapshot `view` (`ctx.require('store').snapshotView()`):
 * remembered, or computed now by `compute` and remembered. The question must name everything
 * the answer depends on besides the snapshot (the tool, its arguments, the size cap). `chars`
 * measures an answer's JSON, which is what the bounds count (default: a tool output's JSON). A
 * compute that throws is not remembered. What is returned may be returned again: never change it.
 */
export function snapshotAnswer<T> (view: object, question: string, compute: () => T, chars: (answer: T) => number = (answer) => answerJson(answer as object).length): T {
  if (question.length > MAX_QUESTION_CHARS) return compute()
  let answers = bySnapshot.get(view)
  const known = answers?.entries.get(question)
  if (known !== undefined) {
    // Map order is the recency order: a hit moves to the end.
    answers!.entries.delete(question)
    answers!.entries.set(question, known)
    return known.value as T
  }
  const value = compute()
  const size = chars(value)
  if (size > MAX_ANSWER_CHARS) return value
  if (answers === undefined) bySnapshot.set(view, answers = { entries: new Map(), chars: 0 })
  answers.entries.set(question, { value, chars: size })
  answers.chars += size
  for (const [oldest, entry] of answers.entries) {
    if (answers.entries.size <= MAX_ANSWERS && answers.chars <= MAX_CHARS) break
    answers.entries.delete(oldest)
    answers.chars -= entry.chars
  }
  return value
}
