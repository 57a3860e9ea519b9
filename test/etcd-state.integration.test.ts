import { Writable } from 'node:stream'
import t from 'tap'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { seedCluster } from './helpers/kafscale-data.ts'
import { callRest, startServer, type RunningServer } from './helpers/server.ts'

// The connection state reported by cluster_status, /readyz and cluster_health must follow what
// etcd does: frozen (SIGSTOP: the TCP connection stays open, nothing answers), gone, or back.

interface LogLine { level: number, msg: string, component?: string, err?: string }

/** The server's JSON log lines, kept in memory. */
function logCollector (): { lines: LogLine[], logger: { level: string, stream: Writable } } {
  const lines: LogLine[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as LogLine)
      done()
    }
  })
  return { lines, logger: { level: 'info', stream } }
}

async function waitFor (predicate: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (await predicate()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`never happened: ${what}`)
}

const codes = (health: { findings: Array<{ code: string }> }): string[] => health.findings.map((f) => f.code)

t.test('a frozen etcd is disconnected for cluster_status, /readyz and cluster_health; thawed, connected', async (t) => {
  const etcd = await startEtcd()
  t.teardown(async () => { await etcd.destroy() })
  await seedCluster(etcd.client)
  const server = await startServer(['--etcd-endpoints', etcd.endpoint, '--etcd-timeout', '500ms'])
  t.teardown(async () => { await server.close() })
  await server.app.kafscaleStore!.checkReady()
  t.equal((await callRest(server.base, 'cluster_status', {})).body.etcd.state, 'connected')

  etcd.pause()
  t.teardown(() => { etcd.resume() })
  const status = await callRest(server.base, 'cluster_status', {})
  t.equal(status.status, 200, 'the cached snapshot still answers')
  t.match(status.body.etcd, { state: 'disconnected', since: String, snapshot_loaded_at: String, error: `etcd did not answer within 500 ms at ${etcd.endpoint}` })
  t.same(status.body.topics.map((x: { name: string }) => x.name), ['orders', 'payments'])

  const ready = await fetch(`${server.base}/readyz`)
  t.equal(ready.status, 503)
  t.match(await ready.json(), { status: 'not_ready', reason: `etcd did not answer within 500 ms at ${etcd.endpoint}`, store: { connected: false, connectionError: String } })

  const health = await callRest(server.base, 'cluster_health', {})
  t.equal(health.status, 200)
  t.equal(health.body.status, 'critical')
  t.notOk(codes(health.body).includes('CHECK_UNAVAILABLE'), 'etcd being away is one finding, not one per check')
  const disconnected = health.body.findings.find((f: { code: string }) => f.code === 'ETCD_DISCONNECTED')
  t.match(disconnected, { severity: 'critical', subjects: ['etcd', 'partition-leases', 'consumer-groups', 'consumer-lag'] })
  t.match(disconnected.summary, `etcd did not answer within 500 ms at ${etcd.endpoint}`)
  t.match(health.body.diagnosis, /^Critical: etcd does not answer since /)

  etcd.resume()
  await waitFor(async () => (await callRest(server.base, 'cluster_status', {})).body.etcd.state === 'connected', 'connected after the thaw')
  const after = await callRest(server.base, 'cluster_status', {})
  t.notOk('error' in after.body.etcd, 'no error once connected')
  t.equal((await fetch(`${server.base}/readyz`)).status, 200)
  t.notOk(codes((await callRest(server.base, 'cluster_health', {})).body).includes('ETCD_DISCONNECTED'))
})

t.test('etcd down at start: cluster_health answers with a diagnosis, tools name the endpoint', async (t) => {
  const etcd = await startEtcd()
  t.teardown(async () => { await etcd.destroy() })
  await seedCluster(etcd.client)
  await etcd.stop()
  const server = await startServer(['--etcd-endpoints', etcd.endpoint, '--etcd-timeout', '500ms'])
  t.teardown(async () => { await server.close() })

  const health = await callRest(server.base, 'cluster_health', {})
  t.equal(health.status, 200, 'a diagnosis, not a 503')
  t.match(health.body, { status: 'critical', checked: ['etcd', 'snapshot'] })
  t.same(codes(health.body), ['ETCD_DISCONNECTED'])
  t.match(health.body.findings[0], { severity: 'critical', subjects: ['etcd'] })
  t.match(health.body.findings[0].summary, `etcd does not answer (etcd unavailable: ${etcd.endpoint}: `)
  t.match(health.body.diagnosis, /^Critical: etcd does not answer .*no metadata snapshot has been read since the start/)

  const listed = await callRest(server.base, 'list_topics', {})
  t.equal(listed.status, 503)
  t.equal(listed.body.code, 'KSMCP_ERR_SNAPSHOT_UNAVAILABLE')
  t.match(listed.body.message, `cluster metadata snapshot not loaded yet: etcd unavailable: ${etcd.endpoint}: `)
  const described = await callRest(server.base, 'describe_group', { group_id: 'billing' })
  t.equal(described.body.code, 'KSMCP_ERR_ETCD_UNAVAILABLE')
  t.match(described.body.message, `etcd unavailable: ${etcd.endpoint}: `)
  for (const message of [health.body.findings[0].summary, listed.body.message, described.body.message]) {
    t.notMatch(message, /Resolution note|watch stream was unexpectedly ended|^\d+ UNAVAILABLE/, 'no gRPC noise in the message')
  }

  await etcd.start()
  await waitFor(async () => (await callRest(server.base, 'cluster_health', {})).body.checked.includes('consumer-groups'), 'the full check once etcd is up')
  t.notOk(codes((await callRest(server.base, 'cluster_health', {})).body).includes('ETCD_DISCONNECTED'))
})

t.test('etcd gone for seconds: one warning when it goes, one line when it is back', async (t) => {
  const etcd: EtcdProcess = await startEtcd()
  t.teardown(async () => { await etcd.destroy() })
  await seedCluster(etcd.client)
  const { lines, logger } = logCollector()
  const server: RunningServer = await startServer(['--etcd-endpoints', etcd.endpoint, '--etcd-timeout', '500ms'], { logger })
  t.teardown(async () => { await server.close() })
  await server.app.kafscaleStore!.checkReady()
  const storeLines = (): LogLine[] => lines.filter((l) => l.component === 'store')

  await etcd.stop()
  // Long enough for the watch to retry several times, with failing reads in between.
  for (let i = 0; i < 6; i++) {
    await callRest(server.base, 'describe_group', { group_id: 'billing' })
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  const warnings = storeLines().filter((l) => l.level >= 40)
  t.equal(warnings.length, 1, `one warning while etcd is away, got: ${warnings.map((l) => l.msg).join(' | ')}`)
  t.match(warnings[0], { msg: 'etcd unreachable: answers use the cached snapshot until it is back', err: `etcd unavailable: ${etcd.endpoint}: ` })

  await etcd.start()
  await waitFor(async () => (await callRest(server.base, 'describe_group', { group_id: 'billing' })).status === 200, 'reads succeed again')
  await waitFor(() => storeLines().some((l) => l.msg === 'etcd reachable again'), 'the recovery is logged')
  t.equal(storeLines().filter((l) => l.msg === 'etcd reachable again').length, 1)
  t.equal(storeLines().filter((l) => l.level >= 40).length, 1, 'no further warning after the recovery')
})
