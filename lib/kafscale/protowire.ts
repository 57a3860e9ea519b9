// Minimal proto3 wire codec for KafScale's few etcd message types (contract §3). Hand-written
// rather than generated because the exact rules matter more than breadth: int64 decoded to
// bigint, negative ints as 10-byte varints, map entries always carrying key and value, zero
// values omitted, fields in number order. The contract's hex vectors pin it in the tests.

export const WIRE_VARINT = 0
export const WIRE_FIXED64 = 1
export const WIRE_LEN = 2
export const WIRE_FIXED32 = 5

export class WireFormatError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: false })
const utf8Encoder = new TextEncoder()

// Decoding runs per value on hot reads (a thousand configs, every group's metadata): a cursor
// that allocates nothing per field, varints in number arithmetic while they fit. A generator
// of field objects with a bigint per varint byte made decoding allocate more than the etcd
// read that fetched the values, and the garbage collector paid for it on every call.

/**
 * The fields of one message, in order: `next()` moves to the next varint or length-delimited
 * field (fixed-width fields, which KafScale's messages do not use, are skipped), and the
 * accessors read the current one.
 */
export class FieldReader {
  field = 0
  wireType = 0
  private readonly buf: Uint8Array
  private pos: number
  /** Where this message ends in buf: an embedded message is read in place, not from a view. */
  private readonly limit: number
  private value: number | bigint = 0
  private start = 0
  private end = 0

  constructor (buf: Uint8Array, from = 0, limit = buf.length) {
    // A Buffer's subarray builds a Buffer, which costs several times a plain view.
    this.buf = Buffer.isBuffer(buf) ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : buf
    this.pos = from
    this.limit = limit
  }

  next (): boolean {
    while (this.pos < this.limit) {
      const tag = this.varint()
      const field = typeof tag === 'number' ? Math.floor(tag / 8) : Number(tag >> 3n)
      const wireType = typeof tag === 'number' ? tag % 8 : Number(tag & 7n)
      if (field === 0) throw new WireFormatError('field number 0')
      this.field = field
      this.wireType = wireType
      switch (wireType) {
        case WIRE_VARINT:
          this.value = this.varint()
          return true
        case WIRE_LEN: {
          const len = Number(this.varint())
          if (this.pos + len > this.limit) throw new WireFormatError(`field ${field} runs past the end`)
          this.start = this.pos
          this.end = this.pos = this.pos + len
          return true
        }
        case WIRE_FIXED64:
          if (this.pos + 8 > this.limit) throw new WireFormatError('truncated fixed64')
          this.pos += 8
          break
        case WIRE_FIXED32:
          if (this.pos + 4 > this.limit) throw new WireFormatError('truncated fixed32')
          this.pos += 4
          break
        default:
          throw new WireFormatError(`unsupported wire type ${wireType} for field ${field}`)
      }
    }
    return false
  }

  int64 (): bigint {
    const v = this.varintValue()
    return typeof v === 'number' ? BigInt(v) : BigInt.asIntN(64, v)
  }

  int32 (): number {
    return toInt32(this.varintValue())
  }

  string (): string {
    if (this.wireType !== WIRE_LEN) throw new WireFormatError(`field ${this.field}: expected length-delimited bytes`)
    return utf8.decode(this.buf.subarray(this.start, this.end))
  }

  /** The fields of an embedded message. */
  message (): FieldReader {
    if (this.wireType !== WIRE_LEN) throw new WireFormatError(`field ${this.field}: expected an embedded message`)
    return new FieldReader(this.buf, this.start, this.end)
  }

  /** A bytes field as a Buffer sharing the message's memory. */
  bytes (): Buffer {
    if (this.wireType !== WIRE_LEN) throw new WireFormatError(`field ${this.field}: expected length-delimited bytes`)
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + this.start, this.end - this.start)
  }

  /** A repeated int32 field, packed (the proto3 default) or not. */
  int32List (): number[] {
    if (this.wireType === WIRE_VARINT) return [this.int32()]
    const packed = this.message()
    const out: number[] = []
    // A packed list has always read varints of any length.
    while (packed.pos < packed.limit) out.push(toInt32(packed.varint(`field ${this.field}: truncated packed varint`, Infinity)))
    return out
  }

  private varintValue (): number | bigint {
    if (this.wireType !== WIRE_VARINT) throw new WireFormatError(`field ${this.field}: expected a varint`)
    return this.value
  }

  /**
   * Seven bytes (49 bits) stay exact in a number: tags, lengths and the non-negative values
   * KafScale writes. Negative int64s (ten bytes) and larger values go on in bigint.
   */
  private varint (truncated = 'truncated varint', maxBytes = 10): number | bigint {
    const buf = this.buf
    // Tags and short lengths: one byte.
    if (this.pos < this.limit && buf[this.pos]! < 0x80) return buf[this.pos++]!
    let result = 0
    let scale = 1
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.limit) throw new WireFormatError(truncated)
      const b = buf[this.pos++]!
      result += (b & 0x7f) * scale
      if ((b & 0x80) === 0) return result
      scale *= 128
    }
    let big = BigInt(result)
    let shift = 49n
    for (let i = 7; i < maxBytes; i++) {
      if (this.pos >= this.limit) throw new WireFormatError(truncated)
      const b = buf[this.pos++]!
      big |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return big
      shift += 7n
    }
    throw new WireFormatError('varint longer than 10 bytes')
  }
}

// int32 keeps the low 32 bits, as Go's protowire does; `| 0` does that exactly for numbers below 2^53.
const toInt32 = (v: number | bigint): number => (typeof v === 'number' ? v | 0 : Number(BigInt.asIntN(32, v)))

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
