// Minimal proto3 wire codec for KafScale's few etcd message types (contract §3). Hand-written
// rather than generated because the exact rules matter more than breadth: int64 decoded to
// bigint, negative ints as 10-byte varints, map entries always carrying key and value, zero
// values omitted, fields in number order. The contract's hex vectors pin it in the tests.

export const WIRE_VARINT = 0
export const WIRE_FIXED64 = 1
export const WIRE_LEN = 2
export const WIRE_FIXED32 = 5

export interface WireField {
  field: number
  wireType: number
  /** varint fields */
  varint?: bigint
  /** length-delimited fields */
  bytes?: Uint8Array
}

export class WireFormatError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: false })
const utf8Encoder = new TextEncoder()

export function * readFields (buf: Uint8Array): Generator<WireField> {
  let pos = 0
  const readVarint = (): bigint => {
    let result = 0n
    let shift = 0n
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new WireFormatError('truncated varint')
      const b = buf[pos++]!
      result |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return result
      shift += 7n
    }
    throw new WireFormatError('varint longer than 10 bytes')
  }
  while (pos < buf.length) {
    const tag = readVarint()
    const field = Number(tag >> 3n)
    const wireType = Number(tag & 7n)
    if (field === 0) throw new WireFormatError('field number 0')
    switch (wireType) {
      case WIRE_VARINT:
        yield { field, wireType, varint: readVarint() }
        break
      case WIRE_LEN: {
        const len = Number(readVarint())
        if (pos + len > buf.length) throw new WireFormatError(`field ${field} runs past the end`)
        yield { field, wireType, bytes: buf.subarray(pos, pos + len) }
        pos += len
        break
      }
      case WIRE_FIXED64:
        if (pos + 8 > buf.length) throw new WireFormatError('truncated fixed64')
        pos += 8
        break
      case WIRE_FIXED32:
        if (pos + 4 > buf.length) throw new WireFormatError('truncated fixed32')
        pos += 4
        break
      default:
        throw new WireFormatError(`unsupported wire type ${wireType} for field ${field}`)
    }
  }
}

export function asInt64 (f: WireField): bigint {
  if (f.varint === undefined) throw new WireFormatError(`field ${f.field}: expected a varint`)
  return BigInt.asIntN(64, f.varint)
}

export function asInt32 (f: WireField): number {
  return Number(BigInt.asIntN(32, asInt64(f)))
}

export function asString (f: WireField): string {
  if (f.bytes === undefined) throw new WireFormatError(`field ${f.field}: expected length-delimited bytes`)
  return utf8.decode(f.bytes)
}

export function asMessage (f: WireField): Uint8Array {
  if (f.bytes === undefined) throw new WireFormatError(`field ${f.field}: expected an embedded message`)
  return f.bytes
}

/** A repeated int32 field, packed (the proto3 default) or not. */
export function asInt32List (f: WireField): number[] {
  if (f.varint !== undefined) return [asInt32(f)]
  const out: number[] = []
  let value = 0n
  let shift = 0n
  for (const b of asMessage(f)) {
    value |= BigInt(b & 0x7f) << shift
    if ((b & 0x80) !== 0) {
      shift += 7n
      continue
    }
    out.push(Number(BigInt.asIntN(32, value)))
    value = 0n
    shift = 0n
  }
  if (shift !== 0n) throw new WireFormatError(`field ${f.field}: truncated packed varint`)
  return out
}

export class WireWriter {
  private chunks: number[] = []

  private varint (value: bigint): void {
    let v = BigInt.asUintN(64, value)
    while (v >= 0x80n) {
      this.chunks.push(Number(v & 0x7fn) | 0x80)
      v >>= 7n
    }
    this.chunks.push(Number(v))
  }

  private tag (field: number, wireType: number): void {
    this.varint(BigInt((field << 3) | wireType))
  }

  int (field: number, value: number | bigint): this {
    const v = BigInt(value)
    if (v === 0n) return this
    this.tag(field, WIRE_VARINT)
    this.varint(v)
    return this
  }

  string (field: number, value: string): this {
    if (value === '') return this
    return this.bytesField(field, utf8Encoder.encode(value))
  }

  /** Always written, even when empty: map entries and embedded messages need their presence. */
  bytesField (field: number, bytes: Uint8Array): this {
    this.tag(field, WIRE_LEN)
    this.varint(BigInt(bytes.length))
    for (const b of bytes) this.chunks.push(b)
    return this
  }

  packedInt32 (field: number, values: readonly number[]): this {
    if (values.length === 0) return this
    const inner = new WireWriter()
    for (const v of values) inner.varint(BigInt(v))
    return this.bytesField(field, inner.finish())
  }

  finish (): Uint8Array {
    return Uint8Array.from(this.chunks)
  }
}
