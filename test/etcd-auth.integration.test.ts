import t from 'tap'
import { Etcd3, Range } from 'etcd3'
import { EtcdBackend } from '../lib/store/etcd-backend.ts'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'

// etcd with user/password auth: the backend's own transactions (etcd-txn.ts on etcd3's
// connection) send etcd3's token, and when etcd has dropped the token they still answer.

let etcd: EtcdProcess
let root: Etcd3

t.before(async () => {
  etcd = await startEtcd()
  await etcd.client.put('/kafscale/topics/orders/config').value('c')
  await etcd.client.put('/kafscale/topics/orders/partitions/0/next_offset').value('7')
  await etcd.client.user('root').create('rootpw')
  await etcd.client.role('root').create()
  await etcd.client.user('root').addRole('root')
  await etcd.client.user('mcp').create('mcppw')
  await etcd.client.role('reader').create()
  await etcd.client.role('reader').grant({ permission: 'Read', range: Range.prefix('/kafscale/') })
  await etcd.client.user('mcp').addRole('reader')
  await etcd.client.auth.authEnable({})
  root = new Etcd3({ hosts: etcd.endpoint, auth: { username: 'root', password: 'rootpw' } })
})
t.teardown(async () => {
  root.close()
  await etcd.destroy()
})

t.test('reads authenticate, and log in again once etcd has dropped the token', async (t) => {
  const kv = new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000, username: 'mcp', password: 'mcppw' })
  t.teardown(async () => { await kv.close() })
  const read = async (): Promise<unknown> => ({
    values: (await kv.getMany(['/kafscale/topics/orders/config', '/kafscale/topics/none/config'])).map((v) => v?.toString()),
    ranges: (await kv.rangeMany(['/kafscale/topics/orders/partitions/'])).map((kvs) => kvs.map((p) => [p.key, p.value.toString()]))
  })
  const expected = { values: ['c', undefined], ranges: [[['/kafscale/topics/orders/partitions/0/next_offset', '7']]] }
  t.same(await read(), expected)
  // etcd invalidates a user's tokens when its password is set (here to the same one).
  await root.user('mcp').setPassword('mcppw')
  t.same(await read(), expected, 'after the token was dropped')
  t.same(await read(), expected, 'and with the new token')
  const stranger = new EtcdBackend({ endpoints: [etcd.endpoint], timeoutMs: 5000, username: 'mcp', password: 'wrong' })
  t.teardown(async () => { await stranger.close() })
  await t.rejects(stranger.getMany(['/kafscale/topics/orders/config']), { code: 'KSMCP_ERR_ETCD_UNAVAILABLE' }, 'a wrong password is refused')
})
