import { InvalidInputError } from '../lib/errors.ts'

/** Items whose name starts with prefix (all items without one). */
export function withPrefix<T> (items: readonly T[], prefix: string | undefined, name: (item: T) => string): readonly T[] {
  return prefix === undefined || prefix === '' ? items : items.filter((item) => name(item).startsWith(prefix))
}

// Key-based pages: a cursor names the last key a page returned, so a page boundary stays
// right even when items are added or removed between calls. Items must be sorted so that
// their keys ascend in plain string order.

export interface PageRequest {
  limit?: number
  cursor?: string
  /** The whole answer must stay under this many characters of JSON. */
  maxChars: number
  /** Characters the answer spends outside the paged list (totals, wrappers). */
  reservedChars?: number
}

export interface Page<R> {
  items: R[]
  /** Each item's JSON, measured anyway for the size cap; `pagedOutput` reuses it. */
  json: string[]
  /** Present only when the answer stopped early: `truncated: true` and where to go on. */
  more?: { truncated: true, next_cursor: string }
}

const CURSOR_VERSION = 1

export function encodeCursor (afterKey: string): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, after: afterKey })).toString('base64url')
}

function decodeCursor (cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { v?: unknown, after?: unknown }
    if (parsed.v === CURSOR_VERSION && typeof parsed.after === 'string') return parsed.after
  } catch {}
  throw new InvalidInputError('cursor: not a cursor of this server; pass the next_cursor of the previous answer unchanged')
}

/** One page of `items` (sorted by `key`), rendered with `render`, sized on the rendered form. */
export function paginate<T, R> (items: readonly T[], key: (item: T) => string, render: (item: T) => R, request: PageRequest): Page<R> {
  let start = 0
  if (request.cursor !== undefined) {
    const after = decodeCursor(request.cursor)
    // Binary search: the first item whose key is greater than the cursor's.
    let lo = 0
    let hi = items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (key(items[mid]!) <= after) lo = mid + 1
      else hi = mid
    }
    start = lo
  }
  const limit = request.limit ?? Infinity
  const budget = request.maxChars - (request.reservedChars ?? 200) - 200
  const page: R[] = []
  const json: string[] = []
  let used = 0
  let i = start
  for (; i < items.length && page.length < limit; i++) {
    const rendered = render(items[i]!)
    const text = JSON.stringify(rendered)
    if (page.length > 0 && used + text.length + 1 > budget) break
    used += text.length + 1
    page.push(rendered)
    json.push(text)
  }
  if (i >= items.length) return { items: page, json }
  return { items: page, json, more: { truncated: true, next_cursor: encodeCursor(key(items[i - 1]!)) } }
}

// Answers whose JSON text is already known: the pager serialised every item to measure it,
// so the transports reuse that text instead of serialising a large answer a second time.
const serialized = new WeakMap<object, string>()
const SLOT = `\u0000paged-${Math.random().toString(36).slice(2)}\u0000`

// A page remembered across calls (snapshotAnswer) is joined once, not on every call.
const joined = new WeakMap<Page<unknown>, string>()

/** The output, remembered with its JSON text built from the page's item texts. */
export function pagedOutput<T extends object> (output: T, key: keyof T & string, page: Page<unknown>): T {
  let list = joined.get(page)
  if (list === undefined) joined.set(page, list = `[${page.json.join(',')}]`)
  const text = JSON.stringify({ ...output, [key]: SLOT }).replace(JSON.stringify(SLOT), () => list)
  serialized.set(output, text)
  return output
}

/** The JSON text of an answer: the one the pager built, or built now. */
export function answerJson (output: object): string {
  return serialized.get(output) ?? JSON.stringify(output)
}
