import { Type } from 'typebox'
import { InvalidInputError, StoreNotConfiguredError } from '../lib/errors.ts'
import { GROUP_ID_MAX_LENGTH, TOPIC_NAME_MAX_LENGTH } from '../lib/kafscale/names.ts'
import { compileSchema, type Validator } from '../lib/schema.ts'
import type { MetadataReader } from '../lib/store/kafscale-store.ts'
import type { ToolRegistry } from './registry.ts'
import type { Caller } from './tool.ts'

/** Where completions find names: the snapshot's topics and the store's group listing (the group mirror when it is up). */
export type NameSource = Pick<MetadataReader, 'snapshotView' | 'listGroups'>

export type NameKind = 'topic' | 'group'

interface Kind {
  /** The tool that lists these names: a caller it is not granted to is offered none. */
  listing: string
  /** `{ value }`, the typed text bounded like the names it completes (lib/schema.ts checks the bound before anything else). */
  value: Validator
  names: (source: NameSource) => Promise<readonly string[]>
}

// An object around the text, so that a refusal names it as a tool's refusal names an argument.
function typedText (maxLength: number): Validator {
  return compileSchema(Type.Object({ value: Type.String({ maxLength }) }))
}

const KINDS: Record<NameKind, Kind> = {
  topic: {
    listing: 'list_topics',
    value: typedText(TOPIC_NAME_MAX_LENGTH),
    names: async (source) => topicNames(source.snapshotView().sortedTopics)
  },
  group: {
    listing: 'list_groups',
    value: typedText(GROUP_ID_MAX_LENGTH),
    // The summaries without per-group reads: from the mirror, or one range read of the group keys.
    names: async (source) => (await source.listGroups()).groups.map((g) => g.groupId)
  }
}

// A snapshot is replaced, never changed: its names are mapped once, not on every keystroke.
const namesOfSnapshot = new WeakMap<readonly unknown[], readonly string[]>()
function topicNames (sorted: ReadonlyArray<{ name: string }>): readonly string[] {
  let names = namesOfSnapshot.get(sorted)
  if (names === undefined) {
    names = sorted.map((t) => t.name)
    namesOfSnapshot.set(sorted, names)
  }
  return names
}

/**
 * Topic names and group ids for one caller's completions, as the policy lets it list them: the
 * same decision as a call of list_topics or list_groups, taken when the completion is asked for
 * (a reloaded policy applies at once). Not audited: a client asks on every keystroke, and the
 * names are those the caller may list anyway.
 */
export class NameCompletions {
  private readonly registry: ToolRegistry
  private readonly source: NameSource | undefined
  private readonly caller: Caller

  constructor (registry: ToolRegistry, source: NameSource | undefined, caller: Caller) {
    this.registry = registry
    this.source = source
    this.caller = caller
  }

  /** Every name of this kind that `value` starts, as `matching` orders them; none when the caller may not list them. */
  async complete (kind: NameKind, value: string): Promise<string[]> {
    const { listing, value: bound, names } = KINDS[kind]
    if (!bound.check({ value })) throw new InvalidInputError(bound.problems({ value }).join('; '))
    const tool = this.registry.get(listing)
    if (tool === undefined || !this.registry.decide(this.caller.principal, tool).allowed) return []
    if (this.source === undefined) throw new StoreNotConfiguredError()
    return matching(await names(this.source), value)
  }
}

/**
 * The names that start with `prefix`, in the names' own order (sorted by code unit, as the
 * listings are), then those that start with it only when case is ignored, in the same order.
 * Kafka names are case-sensitive, so exact matches come first; the rest help an agent that typed
 * "orders" find "Orders". `sorted` must be sorted by code unit: the exact matches are one run.
 */
export function matching (sorted: readonly string[], prefix: string): string[] {
  if (prefix === '') return [...sorted]
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! < prefix) lo = mid + 1
    else hi = mid
  }
  let end = lo
  while (end < sorted.length && sorted[end]!.startsWith(prefix)) end++
  const found = sorted.slice(lo, end)
  const folded = prefix.toLowerCase()
  for (const name of sorted) {
    if (!name.startsWith(prefix) && name.toLowerCase().startsWith(folded)) found.push(name)
  }
  return found
}
