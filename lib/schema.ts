import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'

/** A compiled TypeBox schema whose failures read as one sentence per problem. */
export interface Validator {
  schema: TSchema
  check: (value: unknown) => boolean
  /** Every problem, worded with the schema's `errorMessage` where it has one. */
  problems: (value: unknown) => string[]
}

interface RawError {
  keyword: string
  schemaPath: string
  instancePath: string
  params: Record<string, unknown>
  message: string
}

export function compileSchema (schema: TSchema): Validator {
  const compiled = Compile(schema)
  return {
    schema,
    check: (value) => compiled.Check(value),
    problems: (value) => {
      const errors = ([...compiled.Errors(value)] as RawError[]).filter((e) => e.keyword !== 'boolean' && e.keyword !== 'anyOf')
      return [...new Set(pickUnionBranches(errors).map((e) => describe(schema, value, e)))]
    }
  }
}

function depth (pointer: string): number {
  return pointer === '' ? 0 : pointer.split('/').length
}

function unionBranch (schemaPath: string): string {
  const i = schemaPath.lastIndexOf('/anyOf/')
  return i < 0 ? '' : schemaPath.slice(0, i)
}

// Among errors inside the same anyOf, keep only those of the branch whose errors reach deepest.
function pickUnionBranches (errors: RawError[]): RawError[] {
  const groups = new Map<string, RawError[]>()
  const plain: RawError[] = []
  for (const e of errors) {
    const union = unionBranch(e.schemaPath)
    if (union === '') { plain.push(e); continue }
    let list = groups.get(union)
    if (list === undefined) groups.set(union, list = [])
    list.push(e)
  }
  for (const list of groups.values()) {
    const maxDepth = Math.max(...list.map((e) => depth(e.instancePath)))
    const kept = list.filter((e) => depth(e.instancePath) === maxDepth)
    if (kept.length > 1 && kept.every((e) => e.keyword === 'type' && e.instancePath === kept[0]!.instancePath)) {
      plain.push({ ...kept[0]!, message: `must be ${kept.map((e) => String(e.params.type)).join(' or ')}` })
    } else {
      plain.push(...kept)
    }
  }
  return plain
}

function describe (root: TSchema, value: unknown, e: RawError): string {
  const path = e.instancePath === '' ? 'arguments' : e.instancePath.slice(1).replaceAll('/', '.')
  const actual = resolvePointer(value, e.instancePath)
  const where = typeof actual === 'string' ? `${path} ${JSON.stringify(actual.length > 60 ? actual.slice(0, 60) + '…' : actual)}` : path
  if (e.keyword === 'additionalProperties') {
    const names = (e.params.additionalProperties as string[] | undefined) ?? []
    return `${where}: unknown field${names.length === 1 ? '' : 's'} ${names.map((n) => JSON.stringify(n)).join(', ')}`
  }
  if (e.keyword === 'required') {
    const names = (e.params.requiredProperties as string[] | undefined) ?? []
    return `${where}: missing required field${names.length === 1 ? '' : 's'} ${names.map((n) => JSON.stringify(n)).join(', ')}`
  }
  const node = resolvePointer(root, e.schemaPath)
  const custom = (node as { errorMessage?: unknown } | undefined)?.errorMessage
  return `${where}: ${typeof custom === 'string' && ['pattern', 'minLength', 'maxLength', 'format'].includes(e.keyword) ? custom : e.message}`
}

function resolvePointer (root: unknown, pointer: string): unknown {
  let node = root
  for (const part of pointer.replace(/^#\/?/, '').split('/').filter((p) => p !== '')) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<string, unknown>)[part.replaceAll('~1', '/').replaceAll('~0', '~')]
  }
  return node
}
