import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'

/** A compiled TypeBox schema whose failures read as one sentence per problem. */
export interface Validator {
  schema: TSchema
  check: (value: unknown) => boolean
  /** The problems (at most MAX_PROBLEMS, then how many more), worded with the schema's `errorMessage` where it has one. */
  problems: (value: unknown) => string[]
}

/** Problems reported one by one; the rest are counted, so a huge bad input gets a short answer. */
export const MAX_PROBLEMS = 10

interface RawError {
  keyword: string
  schemaPath: string
  instancePath: string
  params: Record<string, unknown>
  message: string
}

export function compileSchema (schema: TSchema): Validator {
  const compiled = Compile(schema)
  const limits = limitCheck(schema as SchemaNode, '#')
  // A compiled check walks every element of an array before it looks at the array's length,
  // and Errors() builds one error per bad element: the bounds are checked first, so an
  // over-limit input is refused without touching its elements.
  const overLimits = (value: unknown): RawError[] => {
    const found: RawError[] = []
    limits?.(value, '', found)
    return found
  }
  return {
    schema,
    check: (value) => (limits === undefined || overLimits(value).length === 0) && compiled.Check(value),
    problems: (value) => {
      const over = overLimits(value)
      const errors = over.length > 0 ? over : ([...compiled.Errors(value)] as RawError[]).filter((e) => e.keyword !== 'boolean' && e.keyword !== 'anyOf')
      return capped([...new Set(pickUnionBranches(errors).map((e) => describe(schema, value, e)))])
    }
  }
}

function capped (problems: string[]): string[] {
  if (problems.length <= MAX_PROBLEMS) return problems
  const more = problems.length - MAX_PROBLEMS
  return [...problems.slice(0, MAX_PROBLEMS), `and ${more} more problem${more === 1 ? '' : 's'}`]
}

/** The JSON Schema keywords this module reads; TypeBox schemas are plain JSON Schema objects. */
interface SchemaNode {
  type?: string | string[]
  properties?: Record<string, SchemaNode>
  additionalProperties?: boolean | SchemaNode
  patternProperties?: Record<string, SchemaNode>
  items?: SchemaNode
  anyOf?: SchemaNode[]
  oneOf?: SchemaNode[]
  maxItems?: number
  maxLength?: number
  contentEncoding?: string
  const?: unknown
  enum?: unknown[]
}

type LimitCheck = (value: unknown, instancePath: string, found: RawError[]) => void

function jsonType (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number'
  return typeof value
}

function accepts (node: SchemaNode, value: unknown): boolean {
  if (node.type === undefined) return true
  const type = jsonType(value)
  const types = Array.isArray(node.type) ? node.type : [node.type]
  return types.includes(type) || (type === 'integer' && types.includes('number'))
}

// TypeBox counts maxLength in code points; a UTF-16 length up to twice the limit may still fit.
function longerThan (text: string, max: number): boolean {
  if (text.length <= max) return false
  if (text.length > 2 * max) return true
  // Code points, as TypeBox counts maxLength; the text is at most twice max long here.
  return [...text].length > max
}

/** The bounds of a schema (maxItems, maxLength, known properties) as one check; undefined when it has none. */
function limitCheck (node: SchemaNode, schemaPath: string): LimitCheck | undefined {
  const checks: LimitCheck[] = []
  const { maxItems, maxLength } = node
  if (typeof maxLength === 'number') {
    checks.push((value, instancePath, found) => {
      if (typeof value === 'string' && longerThan(value, maxLength)) {
        found.push({ keyword: 'maxLength', schemaPath, instancePath, params: { limit: maxLength }, message: `must not have more than ${maxLength} characters` })
      }
    })
  }
  const items = node.items === undefined ? undefined : limitCheck(node.items, `${schemaPath}/items`)
  if (typeof maxItems === 'number' || items !== undefined) {
    checks.push((value, instancePath, found) => {
      if (!Array.isArray(value)) return
      if (typeof maxItems === 'number' && value.length > maxItems) {
        found.push({ keyword: 'maxItems', schemaPath, instancePath, params: { limit: maxItems }, message: `must not have more than ${maxItems} items (got ${value.length})` })
        return
      }
      // Elements are looked at only when the array is bounded: an unbounded one is the compiled check's.
      if (items !== undefined && typeof maxItems === 'number') value.forEach((item, i) => { items(item, `${instancePath}/${i}`, found) })
    })
  }
  if (node.properties !== undefined) {
    const known = Object.entries(node.properties)
      .map(([key, schema]) => [key, limitCheck(schema, `${schemaPath}/properties/${escapePointer(key)}`)] as const)
    const bounded = known.filter((entry): entry is readonly [string, LimitCheck] => entry[1] !== undefined)
    const closed = node.additionalProperties === false && node.patternProperties === undefined
    const names = new Set(known.map(([key]) => key))
    checks.push((value, instancePath, found) => {
      if (jsonType(value) !== 'object') return
      const object = value as Record<string, unknown>
      if (closed) {
        // Counted, not collected: 100,000 unknown keys make one short problem.
        const unknown: string[] = []
        let count = 0
        for (const key in object) {
          if (names.has(key) || !Object.hasOwn(object, key)) continue
          if (unknown.length < MAX_PROBLEMS) unknown.push(key)
          count++
        }
        if (count > 0) {
          found.push({ keyword: 'additionalProperties', schemaPath, instancePath, params: { additionalProperties: unknown, more: count - unknown.length }, message: 'must not have additional properties' })
          return
        }
      }
      for (const [key, check] of bounded) {
        if (Object.hasOwn(object, key)) check(object[key], `${instancePath}/${escapePointer(key)}`, found)
      }
    })
  }
  for (const keyword of ['anyOf', 'oneOf'] as const) {
    const branches = node[keyword]?.map((branch, i) => ({ branch, check: limitCheck(branch, `${schemaPath}/${keyword}/${i}`) }))
    if (branches === undefined || branches.every((b) => b.check === undefined)) continue
    // Only a value that one branch alone can take is held to that branch's bounds.
    checks.push((value, instancePath, found) => {
      const candidates = branches.filter((b) => accepts(b.branch, value))
      if (candidates.length === 1) candidates[0]!.check?.(value, instancePath, found)
    })
  }
  if (checks.length === 0) return undefined
  if (checks.length === 1) return checks[0]
  return (value, instancePath, found) => { for (const check of checks) check(value, instancePath, found) }
}

function escapePointer (key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1')
}

/**
 * The most bytes a JSON text of a value valid for `schema` can take, however the client writes
 * it: every character escaped (a code point as `\ud83d\ude00`, 12 bytes) and whitespace of a
 * pretty-printer around every value. Infinity when the schema leaves a string, array or object
 * unbounded (a plugin's schema may).
 */
export function maxJsonBytes (schema: TSchema): number {
  return jsonBytes(schema as SchemaNode)
}

const BYTES_PER_CODE_POINT = 12
/** Text in a content encoding (base64, base16, …) is ASCII: `\u0041` at most. */
const BYTES_PER_ENCODED_CHAR = 6
/** A comma or colon, a newline and the indentation a pretty-printer puts around one value. */
const SEPARATOR_BYTES = 24
/** -1.7976931348623157e+308, with room to spare for an exponent written out. */
const NUMBER_BYTES = 32

function stringBytes (codePoints: number, perCodePoint = BYTES_PER_CODE_POINT): number {
  return 2 + perCodePoint * codePoints
}

function literalBytes (value: unknown): number {
  return typeof value === 'string' ? stringBytes([...value].length) : JSON.stringify(value).length
}

function jsonBytes (node: SchemaNode): number {
  if (node.const !== undefined) return literalBytes(node.const)
  if (node.enum !== undefined) return Math.max(...node.enum.map(literalBytes))
  const branches = node.anyOf ?? node.oneOf
  if (branches !== undefined) return Math.max(...branches.map(jsonBytes))
  if (node.type === undefined) return Infinity
  const types = Array.isArray(node.type) ? node.type : [node.type]
  return Math.max(...types.map((type) => typedBytes(node, type)))
}

function typedBytes (node: SchemaNode, type: string): number {
  switch (type) {
    case 'null': return 4
    case 'boolean': return 5
    case 'integer':
    case 'number': return NUMBER_BYTES
    case 'string':
      if (node.maxLength === undefined) return Infinity
      return stringBytes(node.maxLength, node.contentEncoding === undefined ? BYTES_PER_CODE_POINT : BYTES_PER_ENCODED_CHAR)
    case 'array':
      if (node.maxItems === undefined || node.items === undefined) return node.maxItems === 0 ? 2 : Infinity
      return 2 + node.maxItems * (jsonBytes(node.items) + SEPARATOR_BYTES)
    case 'object': {
      if (node.additionalProperties !== false || node.patternProperties !== undefined) return Infinity
      let bytes = 2
      for (const [key, schema] of Object.entries(node.properties ?? {})) bytes += stringBytes([...key].length) + jsonBytes(schema) + 2 * SEPARATOR_BYTES
      return bytes
    }
    default: return Infinity
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
    const more = typeof e.params.more === 'number' && e.params.more > 0 ? ` and ${e.params.more} more` : ''
    return `${where}: unknown field${names.length === 1 && more === '' ? '' : 's'} ${names.map((n) => JSON.stringify(n)).join(', ')}${more}`
  }
  if (e.keyword === 'type' && Array.isArray(e.params.type)) return `${where}: must be ${e.params.type.join(' or ')}`
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
