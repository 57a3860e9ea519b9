import { Type } from 'typebox'
import { AuditUnavailableError, InvalidInputError, StoreNotConfiguredError } from '../lib/errors.ts'
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
  names: (source: NameSource) => Promise<SortedNames>
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
    names: async (source) => new SortedNames((await source.listGroups()).groups.map((g) => g.groupId))
  }
}

// A snapshot is replaced, never changed: its names (and their lower case) are made once, not on
// every keystroke. 10,000 names: about 1 ms to lower-case, per keystroke without this.
const namesOfSnapshot = new WeakMap<readonly unknown[], SortedNames>()
function topicNames (sorted: ReadonlyArray<{ name: string }>): SortedNames {
  let names = namesOfSnapshot.get(sorted)
  if (names === undefined) {
    names = new SortedNames(sorted.map((t) => t.name))
    namesOfSnapshot.set(sorted, names)
  }
  return names
}

/**
 * Topic names and group ids for one caller's completions, as the policy lets it list them: the
 * same decision as a call of list_topics or list_groups, taken when the completion is asked for
 * (a reloaded policy applies at once). Audited like the listing it answers for, one record per
 * request (a client asks on every keystroke: that is the trail of what it was shown).
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

  /** Every name of this kind that starts with `value` (SortedNames.matching); none when the caller may not list them. */
  async complete (kind: NameKind, value: string): Promise<string[]> {
    const started = performance.now()
    const { listing, value: bound, names } = KINDS[kind]
    if (!bound.check({ value })) throw new InvalidInputError(bound.problems({ value }).join('; '))
    const tool = this.registry.get(listing)
    if (tool === undefined) return []
    const decision = this.registry.decide(this.caller.principal, tool)
    let failed: (Error & { code: string }) | undefined
    let found: string[] = []
    if (decision.allowed) {
      try {
        if (this.source === undefined) throw new StoreNotConfiguredError()
        found = (await names(this.source)).matching(value)
      } catch (err) {
        failed = err as Error & { code: string }
      }
    }
    const audited = await this.registry.auditAccess('completion/complete', { value }, this.caller, tool, decision, failed, performance.now() - started)
    if (failed !== undefined) throw failed
    // Names whose showing left no trail do not go out.
    if (!audited && found.length > 0) throw new AuditUnavailableError()
    return found
  }
}

/** Names sorted by code unit, as the listings sort them. */
class SortedNames {
  private readonly names: readonly string[]
  private lowerCase: readonly string[] | undefined

  constructor (sorted: readonly string[]) {
    this.names = sorted
  }

  /**
   * The names that start with `prefix`, in order, then those that start with it only when case is
   * ignored, in order. Kafka names are case-sensitive, so exact matches come first; the rest help
   * an agent that typed "orders" find "Orders".
   */
  matching (prefix: string): string[] {
    const { names } = this
    if (prefix === '') return [...names]
    // Sorted: the names with the prefix are one run, from the first name not below it.
    let lo = 0
    let hi = names.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (names[mid]! < prefix) lo = mid + 1
      else hi = mid
    }
    let end = lo
    while (end < names.length && names[end]!.startsWith(prefix)) end++
    const found = names.slice(lo, end)
    const folded = prefix.toLowerCase()
    const lowerCase = this.lowerCase ??= names.map((name) => name.toLowerCase())
    for (let i = 0; i < names.length; i++) {
      if ((i < lo || i >= end) && lowerCase[i]!.startsWith(folded)) found.push(names[i]!)
    }
    return found
  }
}
