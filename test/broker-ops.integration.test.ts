import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { SNAPSHOT_KEY } from '../lib/kafscale/keys.ts'
import { auditLines, type AuditRecord } from './helpers/audit-file.ts'
import { encoded, snapshotWith } from './helpers/cluster-builder.ts'
import { startControlServer, type ControlServer, type WirePartition } from './helpers/control-server.ts'
import { startEtcd, type EtcdProcess } from './helpers/etcd.ts'
import { startIdp, type TestIdp } from './helpers/idp.ts'
import { callRest, connectClient, startServer, type RunningServer } from './helpers/server.ts'

// drain_partitions and trigger_flush on the guarded mutation path, against real gRPC
// BrokerControl servers (today's broker: UNIMPLEMENTED; a full one that records what it is sent),
// a real etcd holding the snapshot that says who leads what, and a real OIDC issuer. No Kafka:
// these tools never use the admin API, whose client is made only on first use.

const RESOURCE = 'http://127.0.0.1/mcp'
const dir = mkdtempSync(join(tmpdir(), 'kafscale-broker-ops-'))
const policyFile = join(dir, 'policy.yaml')
writeFileSync(policyFile, `
roles:
  operator: { tools: ['@observe', '@mutate'] }
  approver: { tools: ['@observe', '@approve'] }
bindings:
  - { name: operators, subjects: [alice, bob], roles: [operator] }
  - { name: approvers, subjects: [carol], roles: [approver] }
`)

let idp: TestIdp
let etcd: EtcdProcess
const servers: RunningServer[] = []
const controls: ControlServer[] = []
const now = (): number => Math.floor(Date.now() / 1000)

async function tokenOf (sub: string, scope = 'kafscale:observe kafscale:mutate'): Promise<Record<string, string>> {
  const token = await idp.sign({ iss: idp.issuer, aud: RESOURCE, sub, iat: now(), exp: now() + 600, scope })
  return { authorization: `Bearer ${token}` }
}

async function control (...args: Parameters<typeof startControlServer>): Promise<ControlServer> {
  const server = await startControlServer(...args)
  controls.push(server)
  return server
}

let audits = 0
/** The service with mutations on and these control-plane addresses by node id; a broker not named has none. */
async function serve (addresses: Record<number, string>, extra: string[] = []): Promise<RunningServer & { auditFile: string }> {
  const auditFile = join(dir, `audit-${++audits}.jsonl`)
  const addrs = Object.entries(addresses).map(([id, address]) => `${id}=${address}`).join(',')
  const server = await startServer(['--oidc-issuer', idp.issuer, '--resource-url', RESOURCE, '--policy-file', policyFile, '--rate-limit', '0',
    '--audit-file', auditFile, '--mutations', '--kafka-bootstrap', '127.0.0.1:1', '--etcd-endpoints', etcd.endpoint,
    // A loaded machine must not read as a broker that did not answer.
    '--broker-control-port', '0', '--broker-control-timeout', '30s', ...(addrs !== '' ? ['--broker-control-addrs', addrs] : []), ...extra])
  servers.push(server)
  await server.app.kafscaleStore!.checkReady()
  return { ...server, auditFile }
}

function auditOf (file: string, planId: string): AuditRecord[] {
  return auditLines(file).filter((r) => r.mutation?.plan_id === planId)
}

const phases = (records: AuditRecord[]): Array<[string, string | null]> => records.map((r) => [r.mutation.phase, r.mutation.result ?? null])

// The fixture cluster: orders/0..2 led by brokers 0, 1, 2; payments/0..1 by 0, 1; orphan/0 by none.
t.before(async () => {
  ;[idp, etcd] = await Promise.all([startIdp(), startEtcd()])
  const snapshot = snapshotWith([['orphan', 1]], 3)
  const orphan = snapshot.topics.find((topic) => topic.name === 'orphan')!
  orphan.partitions[0]!.leader = -1
  await etcd.client.put(SNAPSHOT_KEY).value(encoded({ ...snapshot, brokers: snapshot.brokers.map((b) => ({ ...b, host: '127.0.0.1' })) }))
})
t.teardown(async () => {
  for (const server of servers) await server.close()
  for (const server of controls) await server.close()
  await Promise.all([idp?.close(), etcd?.destroy()])
  rmSync(dir, { recursive: true, force: true })
})

const DRAIN = { partitions: [{ topic: 'orders', partition: 0 }, { topic: 'payments', partition: 0 }], reason: 'rollout of broker 0', deadline_seconds: 30 }

t.test('registered with the mutation tools, annotated truthfully', async (t) => {
  const server = await serve({})
  const client = await connectClient(server.base, 'modern', await tokenOf('alice'))
  const { tools } = await client.listTools()
  await client.close()
  const annotations = Object.fromEntries(tools.filter((tool) => ['drain_partitions', 'trigger_flush'].includes(tool.name)).map((tool) => [tool.name, tool.annotations]))
  t.same(annotations, {
    drain_partitions: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false, title: 'Drain partitions from their brokers' },
    trigger_flush: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false, title: 'Flush buffered segments to S3' }
  })

  // No port and no addresses: the control plane is not configured.
  const unconfigured = await callRest(server.base, 'drain_partitions', DRAIN, await tokenOf('alice'))
  t.same([unconfigured.status, unconfigured.body.code], [503, 'KSMCP_ERR_CONTROL_NOT_CONFIGURED'], 'no control plane: the "not configured" error')
})

t.test('today\'s broker: the plan shows leaders and unknown states; the apply is refused by the broker, in plain words, after the intent', async (t) => {
  const zero = await control({ behaviour: 'today', nodeId: 0 })
  const one = await control({ behaviour: 'today', nodeId: 1 })
  const server = await serve({ 0: zero.address, 1: one.address }, ['--confirm-tools', 'none'])
  const alice = await tokenOf('alice')

  const plan = await callRest(server.base, 'drain_partitions', DRAIN, alice)
  t.equal(plan.status, 200)
  t.match(plan.body, {
    status: 'planned',
    resource: 'drain:orders[0], payments[0]',
    before: { partitions: { 'orders/0': { topic: 'orders', partition: 0, leader: 0, state: 'unknown' }, 'payments/0': { topic: 'payments', partition: 0, leader: 0, state: 'unknown' } } },
    impact: { summary: 'asks broker 0 to drain orders[0], payments[0] within 30 s (reason: "rollout of broker 0")', partitions: 2, brokers: [0], deadline_seconds: 30 }
  })
  t.same(plan.body.changes, [
    { path: 'partitions.orders/0.state', before: 'unknown', after: 'drained' },
    { path: 'partitions.payments/0.state', before: 'unknown', after: 'drained' }
  ])
  t.same(plan.body.findings.map((f: any) => [f.level, f.code]), [['warning', 'STATE_NOT_REPORTED'], ['warning', 'DRAIN_NOT_IMPLEMENTED'], ['info', 'DRAIN_OUTCOME']])
  t.equal(plan.body.findings[0].message, 'broker 0 reports no status for orders[0], payments[0] (today\'s KafScale brokers report only S3 health): the plan shows their state as unknown')

  const applied = await callRest(server.base, 'drain_partitions', { ...DRAIN, dry_run: false, plan_token: plan.body.plan_token }, alice)
  t.equal(applied.status, 501)
  t.same([applied.body.code, applied.body.message], ['KSMCP_ERR_CONTROL_NOT_IMPLEMENTED', `broker 0 (${zero.address}) does not implement DrainPartitions yet`])
  const records = auditOf(server.auditFile, plan.body.plan_id)
  t.same(phases(records), [['plan', 'planned'], ['intent', null], ['outcome', 'failed']], 'the intent was on disk before the broker was asked')
  t.equal(records[2]!.mutation.reason, `broker 0 (${zero.address}) does not implement DrainPartitions yet`)

  const flushArgs = { partitions: [{ topic: 'orders', partition: 1 }] }
  const flushPlan = await callRest(server.base, 'trigger_flush', flushArgs, alice)
  t.match(flushPlan.body, { status: 'planned', resource: 'flush:orders[1]', changes: [{ path: 'partitions.orders/1.flushed', before: null, after: true }] })
  t.ok(flushPlan.body.findings.some((f: any) => f.code === 'FLUSH_NOT_IMPLEMENTED'))
  const flushed = await callRest(server.base, 'trigger_flush', { ...flushArgs, dry_run: false, plan_token: flushPlan.body.plan_token }, alice)
  t.same([flushed.status, flushed.body.message], [501, `broker 1 (${one.address}) does not implement TriggerFlush yet`])
  t.same(phases(auditOf(server.auditFile, flushPlan.body.plan_id)), [['plan', 'planned'], ['intent', null], ['outcome', 'failed']])
})

t.test('what the plan refuses: unknown topics and partitions, no leader, a leader without a control address or down', async (t) => {
  const zero = await control({ behaviour: 'full', nodeId: 0, partitions: [{ topic: 'orders', partition: 0, leader: false, state: 'online', log_start_offset: 0, log_end_offset: 0, high_watermark: 0 }] })
  const downAddress = `127.0.0.1:${(await control({ behaviour: 'today', nodeId: 1 })).port}`
  await controls.at(-1)!.close()
  const server = await serve({ 0: zero.address, 1: downAddress })
  const alice = await tokenOf('alice')
  const plan = await callRest(server.base, 'drain_partitions', {
    partitions: [{ topic: 'ghost', partition: 0 }, { topic: 'orders', partition: 9 }, { topic: 'orphan', partition: 0 }, { topic: 'orders', partition: 1 }, { topic: 'orders', partition: 2 }, { topic: 'orders', partition: 0 }],
    reason: 'test'
  }, alice)
  t.equal(plan.body.status, 'blocked')
  t.notOk('plan_token' in plan.body)
  const errors = plan.body.findings.filter((f: any) => f.level === 'error').map((f: any) => [f.code, f.message])
  t.same(errors, [
    ['TOPIC_NOT_FOUND', 'not in the cluster snapshot, no such topic: ghost[0]'],
    ['PARTITION_NOT_FOUND', 'no such partition in the cluster snapshot: orders[9]'],
    ['NO_LEADER', 'no leader among the snapshot\'s brokers: orphan[0]'],
    ['LEADER_UNREACHABLE', `broker 1 (${downAddress}) control plane unavailable: connect ECONNREFUSED ${downAddress}; it leads orders[1]`],
    ['LEADER_UNREACHABLE', 'broker 2 has no control-plane address (the control port is 0): name it in KAFSCALE_MCP_BROKER_CONTROL_ADDRS (--broker-control-addrs) as NODEID=host:port; it leads orders[2]']
  ])
  t.match(plan.body.findings.find((f: any) => f.code === 'LEADER_DISAGREES'), { level: 'warning', message: 'the snapshot names broker 0 as leader of orders[0], but the broker reports that it does not lead them' })
  t.same([zero.drains, zero.flushes], [[], []], 'nothing was sent to the broker that could be reached')

  const twice = await callRest(server.base, 'drain_partitions', { partitions: [{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 0 }], reason: 'x' }, alice)
  t.equal(twice.status, 400, 'a partition named twice is refused by the schema')
  const noBroker = await callRest(server.base, 'trigger_flush', { all_assigned: true, broker_id: 7 }, alice)
  t.match(noBroker.body, { status: 'blocked', findings: [{ code: 'BROKER_NOT_FOUND', message: 'broker 7 is not in the cluster snapshot (brokers: 0, 1, 2)' }] })
  for (const [args, message] of [
    [{ partitions: [{ topic: 'orders', partition: 0 }], all_assigned: true, broker_id: 0 }, /name either partitions or all_assigned: true, not both/],
    [{ all_assigned: true }, /all_assigned: true needs broker_id/],
    [{}, /name the partitions to flush, or all_assigned: true with a broker_id/],
    [{ partitions: [{ topic: 'orders', partition: 0 }], broker_id: 0 }, /broker_id goes with all_assigned: true/]
  ] as const) {
    const refused = await callRest(server.base, 'trigger_flush', args, alice)
    t.match([refused.status, refused.body.code, refused.body.message], [400, 'KSMCP_ERR_INVALID_INPUT', message])
  }
})

/** Broker 0 leads orders/0 and payments/0 and reports them; its log offsets move on every produce. */
function brokerZeroPartitions (): WirePartition[] {
  return [
    { topic: 'orders', partition: 0, leader: true, state: 'online', log_start_offset: 0, log_end_offset: 120, high_watermark: 118 },
    { topic: 'payments', partition: 0, leader: true, state: 'online', log_start_offset: 0, log_end_offset: 40, high_watermark: 40 }
  ]
}

t.test('a broker that drains: the dry run sends nothing, the apply sends exactly the plan, after a human\'s yes', async (t) => {
  const zeroPartitions = brokerZeroPartitions()
  const zero = await control({ behaviour: 'full', nodeId: 0, partitions: zeroPartitions })
  const one = await control({ behaviour: 'full', nodeId: 1, pending: [{ topic: 'orders', partition: 1 }] })
  const server = await serve({ 0: zero.address, 1: one.address })
  const alice = await tokenOf('alice')
  const args = { partitions: [{ topic: 'payments', partition: 0 }, { topic: 'orders', partition: 1 }, { topic: 'orders', partition: 0 }], reason: 'rollout of 1.6', deadline_seconds: 45 }

  const plan = await callRest(server.base, 'drain_partitions', args, alice)
  t.equal(plan.body.status, 'planned', JSON.stringify(plan.body.findings))
  t.match(plan.body.before.partitions, { 'orders/0': { leader: 0, state: 'online' }, 'orders/1': { leader: 1, state: 'unknown' }, 'payments/0': { leader: 0, state: 'online' } })
  t.match(plan.body.requirements, [{ kind: 'plan_token' }, { kind: 'human_confirmation' }], 'drain_partitions needs a human by default')
  t.same([zero.drains, one.drains], [[], []], 'the dry run sent nothing')

  const apply = { ...args, dry_run: false, plan_token: plan.body.plan_token }
  const stranger = await callRest(server.base, 'drain_partitions', apply, await tokenOf('bob'))
  t.match(stranger.body, { code: 'KSMCP_ERR_PLAN_REFUSED', message: /made by another caller/ })
  const changed = await callRest(server.base, 'drain_partitions', { ...apply, reason: 'something else' }, alice)
  t.match(changed.body, { code: 'KSMCP_ERR_PLAN_REFUSED', message: /arguments differ from the planned ones \(reason: planned "rollout of 1.6", given "something else"\)/ })
  const unconfirmed = await callRest(server.base, 'drain_partitions', apply, alice)
  t.same([unconfirmed.status, unconfirmed.body.code], [403, 'KSMCP_ERR_CONFIRMATION_REQUIRED'])
  t.same([zero.drains, one.drains], [[], []], 'refused applies sent nothing')

  // Produce moves the log offsets between plan and apply; the plan stays good.
  zeroPartitions[0]!.log_end_offset = 150
  zeroPartitions[0]!.high_watermark = 150
  const approval = await callRest(server.base, 'approve_plan', { plan_token: plan.body.plan_token }, await tokenOf('carol'))
  t.equal(approval.status, 200, JSON.stringify(approval.body))
  const applied = await callRest(server.base, 'drain_partitions', { ...apply, approval: approval.body.approval }, alice)
  t.equal(applied.status, 200, JSON.stringify(applied.body))
  t.same(zero.drains, [{ partitions: [{ topic: 'payments', partition: 0 }, { topic: 'orders', partition: 0 }], reason: 'rollout of 1.6', deadline_seconds: 45 }])
  t.same(one.drains, [{ partitions: [{ topic: 'orders', partition: 1 }], reason: 'rollout of 1.6', deadline_seconds: 45 }])
  t.same(applied.body.result.broker_answer, {
    brokers: [
      { node_id: 0, address: zero.address, drained: [{ topic: 'payments', partition: 0 }, { topic: 'orders', partition: 0 }], pending: [] },
      { node_id: 1, address: one.address, drained: [], pending: [{ topic: 'orders', partition: 1 }] }
    ]
  })
  t.match(applied.body.result, { read_back: 'not_applicable', observed_after: null, confirmed_by: /carol$/ })
  t.match(applied.body.next_step, /broker's answer \(result\.broker_answer\) is the confirmation/)
  t.same(phases(auditOf(server.auditFile, plan.body.plan_id)), [['plan', 'planned'], ['outcome', 'refused'], ['approval', 'approved'], ['intent', null], ['outcome', 'applied']],
    'the unconfirmed apply is audited as refused; the approval, intent and outcome follow')
  t.match((await callRest(server.base, 'drain_partitions', { ...apply, approval: approval.body.approval }, alice)).body, { code: 'KSMCP_ERR_PLAN_REFUSED', message: /already applied/ })
  t.equal(zero.drains.length, 1, 'a replay sent nothing')
})

t.test('a partition whose state changed since the plan: refused, nothing sent', async (t) => {
  const zeroPartitions = brokerZeroPartitions()
  const zero = await control({ behaviour: 'full', nodeId: 0, partitions: zeroPartitions })
  const server = await serve({ 0: zero.address }, ['--confirm-tools', 'none'])
  const alice = await tokenOf('alice')
  const plan = await callRest(server.base, 'drain_partitions', DRAIN, alice)
  zeroPartitions[1]!.state = 'draining'
  const stale = await callRest(server.base, 'drain_partitions', { ...DRAIN, dry_run: false, plan_token: plan.body.plan_token }, alice)
  t.match(stale.body, { code: 'KSMCP_ERR_STATE_CHANGED', message: /state of drain:orders\[0\], payments\[0\] changed since the plan was made/ })
  t.same(zero.drains, [])
})

t.test('brokers of which only some drain: the error says what each did', async (t) => {
  const zero = await control({ behaviour: 'full', nodeId: 0 })
  const one = await control({ behaviour: 'today', nodeId: 1 })
  const server = await serve({ 0: zero.address, 1: one.address }, ['--confirm-tools', 'none'])
  const alice = await tokenOf('alice')
  const args = { partitions: [{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 1 }], reason: 'split' }
  const plan = await callRest(server.base, 'drain_partitions', args, alice)
  const applied = await callRest(server.base, 'drain_partitions', { ...args, dry_run: false, plan_token: plan.body.plan_token }, alice)
  t.same([applied.status, applied.body.code], [502, 'KSMCP_ERR_CONTROL_PARTIAL'])
  t.equal(applied.body.message, `DrainPartitions reached only some brokers: broker 0 (${zero.address}) drained orders[0], pending none; broker 1 (${one.address}) does not implement DrainPartitions yet`)
  t.same(zero.drains, [{ partitions: [{ topic: 'orders', partition: 0 }], reason: 'split', deadline_seconds: 60 }], 'the default deadline')
  t.same(phases(auditOf(server.auditFile, plan.body.plan_id)), [['plan', 'planned'], ['intent', null], ['outcome', 'failed']])
})

t.test('a broker that flushes: no human needed; named partitions go to their leaders, all_assigned to the broker named', async (t) => {
  const zero = await control({ behaviour: 'full', nodeId: 0, partitions: brokerZeroPartitions() })
  const one = await control({ behaviour: 'full', nodeId: 1 })
  const server = await serve({ 0: zero.address, 1: one.address })
  const alice = await tokenOf('alice')
  const args = { partitions: [{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 1 }] }
  const plan = await callRest(server.base, 'trigger_flush', args, alice)
  t.match(plan.body, { status: 'planned', requirements: [{ kind: 'plan_token' }] }, JSON.stringify(plan.body.findings))
  t.equal(plan.body.requirements.length, 1, 'trigger_flush needs only its plan token')
  t.same([zero.flushes, one.flushes], [[], []], 'the dry run sent nothing')
  const stranger = await callRest(server.base, 'trigger_flush', { ...args, dry_run: false, plan_token: plan.body.plan_token }, await tokenOf('bob'))
  t.match(stranger.body, { code: 'KSMCP_ERR_PLAN_REFUSED', message: /made by another caller/ })
  const changed = await callRest(server.base, 'trigger_flush', { partitions: [{ topic: 'orders', partition: 0 }], dry_run: false, plan_token: plan.body.plan_token }, alice)
  t.match(changed.body, { code: 'KSMCP_ERR_PLAN_REFUSED', message: /arguments differ/ })
  t.same([zero.flushes, one.flushes], [[], []])

  const applied = await callRest(server.base, 'trigger_flush', { ...args, dry_run: false, plan_token: plan.body.plan_token }, alice)
  t.equal(applied.status, 200, JSON.stringify(applied.body))
  t.same(zero.flushes, [{ partitions: [{ topic: 'orders', partition: 0 }], all_assigned: false }])
  t.same(one.flushes, [{ partitions: [{ topic: 'orders', partition: 1 }], all_assigned: false }])
  t.match(applied.body.result, { read_back: 'not_applicable', broker_answer: { brokers: [{ node_id: 0, flushed: [{ topic: 'orders', partition: 0 }] }, { node_id: 1, flushed: [{ topic: 'orders', partition: 1 }] }] } })

  const all = { all_assigned: true, broker_id: 0 }
  const allPlan = await callRest(server.base, 'trigger_flush', all, alice)
  t.match(allPlan.body, {
    status: 'planned',
    resource: 'flush:broker 0',
    before: { broker: { node_id: 0, in_snapshot: true, partitions_led: 2 } },
    changes: [{ path: 'broker.flushed', before: null, after: 'every assigned partition' }]
  })
  const allApplied = await callRest(server.base, 'trigger_flush', { ...all, dry_run: false, plan_token: allPlan.body.plan_token }, alice)
  t.equal(allApplied.status, 200, JSON.stringify(allApplied.body))
  t.same(zero.flushes.at(-1), { partitions: [], all_assigned: true })
  t.same(allApplied.body.result.broker_answer, { brokers: [{ node_id: 0, address: zero.address, flushed: [{ topic: 'orders', partition: 0 }, { topic: 'payments', partition: 0 }] }] })

  // Over MCP the SDK checks the answer against the output schema, not_applicable included.
  const client = await connectClient(server.base, 'modern', alice)
  t.teardown(async () => { await client.close() })
  const paymentsOne = { partitions: [{ topic: 'payments', partition: 1 }] }
  const mcpPlan = (await client.callTool({ name: 'trigger_flush', arguments: paymentsOne })).structuredContent as Record<string, any>
  const mcpApplied = await client.callTool({ name: 'trigger_flush', arguments: { ...paymentsOne, dry_run: false, plan_token: mcpPlan.plan_token } })
  t.notOk(mcpApplied.isError, JSON.stringify(mcpApplied.content))
  t.match(mcpApplied.structuredContent, { status: 'applied', result: { read_back: 'not_applicable', broker_answer: { brokers: [{ node_id: 1, flushed: [{ topic: 'payments', partition: 1 }] }] } } })
})
