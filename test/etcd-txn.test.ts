import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { loadSync, type MethodDefinition } from '@grpc/proto-loader'
import t from 'tap'
import { decodeRangeTxn, encodeRangeTxn } from '../lib/store/etcd-txn.ts'

// Our KV.Txn codec against the protobuf encoder etcd3 itself uses (its rpc.proto through
// @grpc/proto-loader), on requests and on responses with every field etcd fills in.

const proto = join(dirname(createRequire(import.meta.url).resolve('etcd3')), '../proto/rpc.proto')
const txn = loadSync(proto, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true })['etcdserverpb.KV'] as unknown as { Txn: MethodDefinition<object, object> }
const b = (s: string): Buffer => Buffer.from(s)

t.test('a transaction of range requests encodes as protobuf does', async (t) => {
  const long = b('/kafscale/topics/' + 'x'.repeat(300) + '/config')
  const requests = [{ key: b('/kafscale/topics/a/config') }, { key: b('/kafscale/topics/a/partitions/'), rangeEnd: b('/kafscale/topics/a/partitions0') }, { key: long }, { key: b('') }]
  const reference = txn.Txn.requestSerialize({ success: requests.map((r) => ({ request_range: { key: r.key, ...(r.rangeEnd !== undefined ? { range_end: r.rangeEnd } : {}) } })) })
  t.equal(encodeRangeTxn(requests).toString('hex'), reference.toString('hex'))
  t.equal(encodeRangeTxn([]).length, 0)
})

t.test('a transaction\'s response decodes to each range\'s keys and values, headers and revisions skipped', async (t) => {
  const header = { cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: '9007199254740993', raft_term: '7' }
  const kv = (key: string, value: string) => ({ key: b(key), value: b(value), create_revision: '5', mod_revision: '9007199254740993', version: '3', lease: '-1' })
  const encoded = txn.Txn.responseSerialize({
    header,
    succeeded: true,
    responses: [
      { response_range: { header, kvs: [kv('/a/config', 'conf\u00e9')], more: false, count: '1' } },
      { response_range: { header, kvs: [], count: '0' } },
      { response_range: { header, kvs: [kv('/b/partitions/0/next_offset', '42'), kv('/b/partitions/1/next_offset', ''), kv('', 'v')], more: true, count: '3' } },
      { response_put: { header } }
    ]
  })
  const plain = decodeRangeTxn(encoded).map((kvs) => kvs.map((x) => [x.key.toString(), x.value.toString()]))
  t.same(plain, [[['/a/config', 'conf\u00e9']], [], [['/b/partitions/0/next_offset', '42'], ['/b/partitions/1/next_offset', ''], ['', 'v']], []])
  t.same(decodeRangeTxn(Buffer.alloc(0)), [], 'an empty transaction')
})
