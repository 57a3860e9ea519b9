import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { BILLING_GROUP } from './helpers/kafscale-data.ts'
import { encoded, putMany, snapshotWith } from './helpers/cluster-builder.ts'
import { callRest, startServer } from './helpers/server.ts'

const FIXTURE_METRICS = readFileSync(new URL('./fixtures/broker-metrics.txt', import.meta.url), 'utf8')
const commit = (offset: number): string => `{"offset":${offset},"metadata":"","committed_at":"2026-03-01T12:00:00Z"}`
// The lag fields of a row or total, without the status fields judged beside them (test/lag-status.integration.test.ts).
const LAG_FIELDS = new Set(['group_id', 'topic', 'partition', 'committed_offset', 'log_end_offset', 'lag', 'reason', 'total_lag', 'max_lag', 'partition_count', 'uncommitted_partitions', 'topics'])
const lagOnly = (o: any): any => Object.fromEntries(Object.entries(o).filter(([k]) => LAG_FIELDS.has(k)).map(([k, v]) => [k, k === 'topics' ? (v as any[]).map(lagOnly) : v]))

t.test('consumer lag against a real etcd', async (t) => {
  const etcd: EtcdProcess = await startEtcd()
  t.teardown(etcd.destroy)
  const BIG = 2100
  await etcd.client.put('/kafscale/metadata/snapshot').value(encoded(snapshotWith([['big', BIG]])))
  const entries: Array<[string, string]> = []
  for (let p = 0; p < BIG; p++) {
    if (p !== 5) entries.push([`/kafscale/topics/big/partitions/${p}/next_offset`, String(1000 + p)])
    if (p === 7) continue // never committed
    const committed = p === 11 ? 1000 + p + 5 : 1000 + p - (p % 10)
    entries.push([`/kafscale/consumers/bulk/offsets/big/${p}`, commit(committed)])
  }
  // A small group whose every value is worked out by hand below.
  entries.push(['/kafscale/topics/orders/partitions/0/next_offset', '100'], ['/kafscale/topics/orders/partitions/1/next_offset', '100'], ['/kafscale/topics/orders/partitions/2/next_offset', '100'])
  entries.push(['/kafscale/consumers/small/offsets/orders/0', commit(40)], ['/kafscale/consumers/small/offsets/orders/2', commit(120)])
  await putMany(etcd.client, entries)
  const server = await startServer(['--etcd-endpoints', etcd.endpoint])
  t.teardown(server.close)
  await server.app.kafscaleStore!.checkReady()

  const small = (await callRest(server.base, 'consumer_lag', { group_id: 'small' })).body
  t.same(small.partitions.map(lagOnly), [
    { group_id: 'small', topic: 'orders', partition: 0, committed_offset: 40, log_end_offset: 100, lag: 60 },
    { group_id: 'small', topic: 'orders', partition: 2, committed_offset: 120, log_end_offset: 100, lag: -20, reason: 'committed offset is ahead of the log end' },
    { group_id: 'small', topic: 'orders', partition: 1, committed_offset: null, log_end_offset: 100, lag: null, reason: 'never committed' }
  ])
  t.match(small, { total_lag: 40, max_lag: 60, partition_count: 3, uncommitted_partitions: 1 })
  t.same(small.groups.map(lagOnly), [{ group_id: 'small', total_lag: 40, max_lag: 60, partition_count: 3, uncommitted_partitions: 1, topics: [{ topic: 'orders', total_lag: 40, max_lag: 60, partition_count: 3, uncommitted_partitions: 1 }] }])

  const kv = server.app.kafscaleStore!.kv
  const before = kv.requestCount
  const rows: any[] = []
  let cursor: string | undefined
  let first: any
  for (;;) {
    const before2 = kv.requestCount
    const { status, body } = await callRest(server.base, 'consumer_lag', { group_id: 'bulk', ...(cursor !== undefined ? { cursor } : {}) })
    t.equal(status, 200)
    if (first === undefined) {
      first = body
      t.ok(kv.requestCount - before2 <= 3, `a ${BIG}-partition group takes ${kv.requestCount - before2} etcd requests`)
    }
    rows.push(...body.partitions)
    if (body.truncated !== true) break
    cursor = body.next_cursor
  }
  t.ok(kv.requestCount > before)
  t.equal(rows.length, BIG, 'every partition once, across pages')
  const byPartition = new Map(rows.map((r) => [r.partition, r]))
  t.same(lagOnly(byPartition.get(7)), { group_id: 'bulk', topic: 'big', partition: 7, committed_offset: null, log_end_offset: 1007, lag: null, reason: 'never committed' })
  t.same(lagOnly(byPartition.get(5)), { group_id: 'bulk', topic: 'big', partition: 5, committed_offset: 1000, log_end_offset: 0, lag: -1000, reason: 'no next_offset in etcd: nothing flushed to S3 yet' })
  t.same(lagOnly(byPartition.get(11)), { group_id: 'bulk', topic: 'big', partition: 11, committed_offset: 1016, log_end_offset: 1011, lag: -5, reason: 'committed offset is ahead of the log end' })
  t.same(lagOnly(byPartition.get(2099)), { group_id: 'bulk', topic: 'big', partition: 2099, committed_offset: 3090, log_end_offset: 3099, lag: 9 })
  let total = 0
  for (let p = 0; p < BIG; p++) {
    if (p === 7) continue
    if (p === 5) total += -1000
    else if (p === 11) total += -5
    else total += p % 10
  }
  t.match(first, { total_lag: total, max_lag: 9, partition_count: BIG, uncommitted_partitions: 1 })
  t.equal(rows[0].lag, 9, 'most lag first')
  t.equal(rows.at(-1).lag, null, 'never committed last')
})

interface FakeBroker { url: string, setText: (text: string) => void, server: Server }

async function fakeBroker (text: string): Promise<FakeBroker> {
  let body = text
  const server = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, setText: (t) => { body = t }, server }
}

t.test('cluster_health: nothing on a healthy cluster, each planted problem reported', async (t) => {
  const etcd = await startEtcd()
  t.teardown(etcd.destroy)
  const brokers = await Promise.all([0, 1, 2].map(async () => await fakeBroker(FIXTURE_METRICS)))
  t.teardown(() => { for (const b of brokers) b.server.close() })
  await etcd.client.put('/kafscale/metadata/snapshot').value(encoded(snapshotWith([])))
  const lease = etcd.client.lease(30)
  // payments/1 never had traffic: KafScale takes leases on first use, so it has none, and that is healthy.
  for (const [topic, n] of [['orders', 3], ['payments', 1]] as const) {
    for (let p = 0; p < n; p++) await lease.put(`/kafscale/partition-leases/${topic}/${p}`).value(String(p % 3))
  }
  await lease.put('/kafscale/group-leases/billing').value('1')
  const orders1 = etcd.client.lease(30)
  await etcd.client.delete().key('/kafscale/partition-leases/orders/1')
  await orders1.put('/kafscale/partition-leases/orders/1').value('1')
  await putMany(etcd.client, [
    ['/kafscale/consumers/billing/metadata', BILLING_GROUP as unknown as string],
    ['/kafscale/consumers/billing/offsets/orders/0', commit(90)],
    ['/kafscale/topics/orders/partitions/0/next_offset', '100'],
    ['/kafscale/topics/orders/partitions/1/next_offset', '5']
  ])
  const server = await startServer(['--etcd-endpoints', etcd.endpoint, '--broker-metrics-urls', brokers.map((b, i) => `${i}=${b.url}`).join(','), '--metrics-cache-ttl', '0s'])
  t.teardown(server.close)
  t.teardown(async () => { await lease.revoke().catch(() => {}) })
  await server.app.kafscaleStore!.checkReady()

  const healthy = (await callRest(server.base, 'cluster_health', {})).body
  t.same(healthy.findings, [], 'no findings on a healthy cluster')
  t.equal(healthy.status, 'healthy')
  t.match(healthy.diagnosis, /^Healthy: 3 broker\(s\), 2 topic\(s\) with 5 partition\(s\), 1 consumer group\(s\); S3 healthy; etcd connected/)
  t.same(healthy.checked, ['etcd', 'snapshot', 'broker-metrics', 'partition-leases', 'consumer-groups', 'group-leases', 'consumer-lag', 'stored-values'])

  await orders1.revoke() // the lease of orders/1, which holds records, ends: its key goes with it
  brokers[1]!.setText(FIXTURE_METRICS.replace('state="healthy"} 1', 'state="healthy"} 0').replace('state="degraded"} 0', 'state="degraded"} 1'))
  await etcd.client.put('/kafscale/consumers/ghosts/offsets/payments/1').value(commit(3))
  await etcd.client.put('/kafscale/topics/orders/partitions/0/next_offset').value('50000')

  const sick = (await callRest(server.base, 'cluster_health', { lag_threshold: 10000 })).body
  t.equal(sick.status, 'degraded')
  const byCode = Object.fromEntries(sick.findings.map((f: any) => [f.code, f]))
  t.same(Object.keys(byCode).sort(), ['CONSUMER_LAG_HIGH', 'GROUP_WITHOUT_MEMBERS', 'PARTITIONS_WITHOUT_LEASE', 'S3_DEGRADED'])
  t.match(byCode.PARTITIONS_WITHOUT_LEASE, { severity: 'warning', subjects: ['orders/1 (next_offset 5)', 'payments/1 (committed by ghosts)'], count: 2 }, 'partitions in use, each with why')
  t.match(byCode.S3_DEGRADED, { severity: 'warning', subjects: ['broker 1 (kafscale-broker-1.kafscale-broker-headless.kafscale.svc.cluster.local)'] })
  t.match(byCode.GROUP_WITHOUT_MEMBERS, { subjects: ['ghosts'] })
  t.match(byCode.CONSUMER_LAG_HIGH, { subjects: ['billing (max lag 49910)'] })
  t.match(sick.diagnosis, /^Degraded: .*S3 as degraded.*no live lease holder.*no members.*lag more than 10000 records/)

  const strict = (await callRest(server.base, 'cluster_health', { lag_threshold: 100000 })).body
  t.notOk(strict.findings.some((f: any) => f.code === 'CONSUMER_LAG_HIGH'), 'the lag threshold is an input')
  const judged = (await callRest(server.base, 'cluster_health', {})).body
  t.notOk(judged.findings.some((f: any) => f.code === 'CONSUMER_LAG_HIGH'), 'without one, lag is judged by behaviour only')
})
