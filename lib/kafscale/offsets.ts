import { asObject, asStringOrNull, field, GoJsonError, goJsonStringify } from './gojson.ts'

// A committed consumer offset: JSON `{"offset":N,"metadata":"…","committed_at":"…"}` (contract §3.4).

export interface OffsetRecord {
  /** int64: parsed from the JSON source text, so values beyond 2^53 stay exact. */
  offset: bigint
  metadata: string
  committedAt: string
}

// The exact bytes Go's encoding/json writes (contract §3.4): offset, metadata, committed_at
// in that order, compact. Such records skip the general decoder, which is several times slower.
const CANONICAL = /^\{"offset":(-?\d{1,19}),"metadata":"((?:[^"\\]|\\.)*)","committed_at":"([^"\\]*)"\}$/

export function decodeOffsetRecord (text: string): OffsetRecord {
  const canonical = CANONICAL.exec(text)
  if (canonical !== null) {
    const offset = BigInt(canonical[1]!)
    if (offset === BigInt.asIntN(64, offset)) {
      const metadata = canonical[2]!
      return { offset, metadata: metadata.includes('\\') ? JSON.parse(`"${metadata}"`) as string : metadata, committedAt: canonical[3]! }
    }
  }
  return decodeGeneralOffsetRecord(text)
}

/** Any JSON Go would accept: keys in any case and order, extra keys, nulls. */
function decodeGeneralOffsetRecord (text: string): OffsetRecord {
  const numberSources = new Map<object, string>()
  let raw: unknown
  try {
    raw = JSON.parse(text, function (this: object, key: string, value: unknown, context?: { source?: string }) {
      if (key.toLowerCase() === 'offset' && typeof value === 'number' && context?.source !== undefined) {
        numberSources.set(this, context.source)
      }
      return value
    })
  } catch (err) {
    throw new GoJsonError(`not JSON: ${(err as Error).message}`)
  }
  const obj = asObject(raw, 'offset record')
  const offsetValue = field(obj, 'offset')
  let offset = 0n
  if (offsetValue !== undefined && offsetValue !== null) {
    const source = numberSources.get(obj)
    if (typeof offsetValue !== 'number' || source === undefined || !/^-?\d+$/.test(source)) {
      throw new GoJsonError(`offset: expected an int64, got ${JSON.stringify(offsetValue)}`)
    }
    offset = BigInt(source)
    if (offset !== BigInt.asIntN(64, offset)) throw new GoJsonError(`offset: ${source} overflows int64`)
  }
  return {
    offset,
    metadata: asStringOrNull(field(obj, 'metadata'), 'metadata') ?? '',
    committedAt: asStringOrNull(field(obj, 'committed_at'), 'committed_at') ?? ''
  }
}

export function encodeOffsetRecord (r: OffsetRecord): string {
  // The offset is spliced in as text so that int64 values beyond 2^53 survive.
  return goJsonStringify({ offset: 0, metadata: r.metadata, committed_at: r.committedAt }).replace('"offset":0', `"offset":${r.offset}`)
}

/** `next_offset`: ASCII decimal; whitespace trimmed; empty or missing means 0 (contract §1.1). */
export function decodeNextOffset (text: string): bigint {
  const trimmed = text.trim()
  if (trimmed === '') return 0n
  if (!/^-?\d+$/.test(trimmed)) throw new GoJsonError(`next_offset: expected a decimal int64, got ${JSON.stringify(trimmed.slice(0, 40))}`)
  return BigInt(trimmed)
}

/** Go's time.RFC3339Nano in UTC: trailing zeros of the fraction trimmed, no fraction at 0 ns. */
export function rfc3339Nano (date: Date): string {
  return date.toISOString().replace(/\.?0+Z$/, 'Z')
}

/** Go's time.RFC3339 in UTC: whole seconds. */
export function rfc3339 (date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z')
}
