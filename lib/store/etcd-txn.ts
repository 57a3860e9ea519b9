import { FieldReader } from '../kafscale/protowire.ts'

// etcd's KV.Txn for a batch of range requests, encoded and decoded here (etcdserverpb's
// rpc.proto, mvccpb's kv.proto) instead of by etcd3: etcd3 turns every response into plain
// objects, each header's and each key's four int64s into strings, which for 1,000 configs
// allocated more than half of what the read cost (4.8 MB a call) and as much CPU as etcd's
// answer took to decode. Here only keys and values are read, as views of the response.

export interface RangeRequest {
  key: Buffer
  /** Absent: the one key. */
  rangeEnd?: Buffer
}

export interface RangeKv {
  key: Buffer
  value: Buffer
}

// Field numbers: TxnRequest.success 2, RequestOp.request_range 1, RangeRequest.key 1 and
// range_end 2; TxnResponse.responses 3, ResponseOp.response_range 1, RangeResponse.kvs 2,
// KeyValue.key 1 and value 5. Tags of length-delimited fields: (number << 3) | 2.
const TAG_SUCCESS = 0x12
const TAG_REQUEST_RANGE = 0x0a
const TAG_KEY = 0x0a
const TAG_RANGE_END = 0x12

const varintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5)
const fieldSize = (length: number): number => 1 + varintSize(length) + length

/** A TxnRequest without compares (it always takes its success branch) of these range requests. */
export function encodeRangeTxn (requests: readonly RangeRequest[]): Buffer {
  const sizes = requests.map((r) => {
    const range = fieldSize(r.key.length) + (r.rangeEnd === undefined ? 0 : fieldSize(r.rangeEnd.length))
    return { range, op: fieldSize(range) }
  })
  const out = Buffer.allocUnsafe(sizes.reduce((total, s) => total + fieldSize(s.op), 0))
  let pos = 0
  const varint = (n: number): void => {
    for (; n >= 0x80; n >>>= 7) out[pos++] = (n & 0x7f) | 0x80
    out[pos++] = n
  }
  const bytes = (tag: number, value: Buffer): void => {
    out[pos++] = tag
    varint(value.length)
    pos += value.copy(out, pos)
  }
  requests.forEach((r, i) => {
    out[pos++] = TAG_SUCCESS
    varint(sizes[i]!.op)
    out[pos++] = TAG_REQUEST_RANGE
    varint(sizes[i]!.range)
    bytes(TAG_KEY, r.key)
    if (r.rangeEnd !== undefined) bytes(TAG_RANGE_END, r.rangeEnd)
  })
  return out
}

/** Each range response's keys and values, in request order. */
export function decodeRangeTxn (buf: Uint8Array): RangeKv[][] {
  const out: RangeKv[][] = []
  const txn = new FieldReader(buf)
  while (txn.next()) {
    if (txn.field !== 3) continue
    const kvs: RangeKv[] = []
    const op = txn.message()
    while (op.next()) {
      if (op.field !== 1) continue
      const range = op.message()
      while (range.next()) if (range.field === 2) kvs.push(decodeKeyValue(range.message()))
    }
    out.push(kvs)
  }
  return out
}

const EMPTY = Buffer.alloc(0)

function decodeKeyValue (f: FieldReader): RangeKv {
  const kv: RangeKv = { key: EMPTY, value: EMPTY }
  while (f.next()) {
    if (f.field === 1) kv.key = f.bytes()
    else if (f.field === 5) kv.value = f.bytes()
  }
  return kv
}
