import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../lib/config.ts'
import { runAuditCommand } from '../lib/audit-command.ts'
import { encoded, putMany, snapshotWith } from './helpers/cluster-builder.ts'
import { startEtcd } from './helpers/etcd.ts'
import { startIdp, type TestIdp } from './helpers/idp.ts'
import { startKafka, type KafkaPeer } from './helpers/kafka.ts'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { callRest, connectClient, startServer, type RunningServer } from './helpers/server.ts'
import { auditLines } from './helpers/audit-file.ts'

// The guarded mutation path against a real Apache Kafka broker (its admin API is what KafScale's
// brokers speak) and a real OIDC issuer: what a dry run leaves alone, what an apply changes, and
// every way a plan token is refused.

const RESOURCE = 'http://127.0.0.1/mcp'
const dir = mkdtempSync(join(tmpdir(), 'kafscale-mutations-'))
const policyFile = join(dir, 'policy.yaml')
writeFileSync(policyFile, `
roles:
  observer: { tools: ['@observe'] }
  operator: { tools: ['@observe', '@mutate'] }
  approver: { tools: ['@observe', '@approve'] }
bindings:
  - { name: operators, subjects: [alice, bob], roles: [operator] }
  - { name: approvers, subjects: [carol, alice], roles: [approver] }
  - { name: everyone, everyone: true, roles: [observer] }
`)

let kafka: KafkaPeer
let idp: TestIdp
const servers: RunningServer[] = []
const now = (): number => Math.floor(Date.now() / 1000)

async function tokenOf (sub: string, scope = 'kafscale:observe kafscale:mutate'): Promise<Record<string, string>> {
  const token = await idp.sign({ iss: idp.issuer, aud: RESOURCE, sub, iat: now(), exp: now() + 600, scope })
  return { authorization: `Bearer ${token}` }
}

let audits = 0
async function serve (extra: string[] = []): Promise<RunningServer & { auditFile: string }> {
  const auditFile = join(dir, `audit-${++audits}.jsonl`)
  const server = await startServer(['--oidc-issuer', idp.issuer, '--resource-url', RESOURCE, '--policy-file', policyFile, '--rate-limit', '0',
    '--audit-file', auditFile, '--mutations', '--kafka-bootstrap', kafka.bootstrap, '--confirm-tools', 'none', ...extra])
  servers.push(server)
  return { ...server, auditFile }
}

/** The topic's partition count as the broker says it (Apache Kafka does not auto-create here), undefined when there is no such topic. */
async function partitionsOf (topic: string): Promise<number | undefined> {
  try {
    return (await kafka.admin().metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)?.partitionsCount
  } catch {
    return undefined
  }
}

t.before(async () => {
  ;[kafka, idp] = await Promise.all([startKafka(), startIdp()])
})
t.teardown(async () => {
  for (const server of servers) await server.close()
  await Promise.all([kafka?.stop(), idp?.close()])
  rmSync(dir, { recursive: true, force: true })
})

t.test('mutation tools are served only with --mutations, OIDC, an audit sink and a @mutate role', async (t) => {
  t.throws(() => loadConfig(['--mutations', '--auth-token', 'x'.repeat(32), '--audit-stdout'], {}), /--mutations\) needs OIDC auth .* a static shared token/)
  t.throws(() => loadConfig(['--mutations', '--http-addr', '127.0.0.1:0', '--audit-stdout'], {}), /needs OIDC auth .* no authentication/)
  t.throws(() => loadConfig(['--mutations', '--oidc-issuer', 'http://127.0.0.1:1', '--resource-url', RESOURCE], {}), /needs an audit sink/)

  const plain = await startServer(['--oidc-issuer', idp.issuer, '--resource-url', RESOURCE, '--policy-file', policyFile, '--kafka-bootstrap', kafka.bootstrap])
  servers.push(plain)
  const on = await serve()
  const toolsOf = async (base: string, sub: string): Promise<string[]> => {
    const client = await connectClient(base, 'modern', await tokenOf(sub))
    const { tools } = await client.listTools()
    await client.close()
    return tools.map((tool) => tool.name).sort()
  }
  const MUTATIONS = ['create_partitions', 'create_topic', 'delete_group', 'delete_topic', 'update_topic_config']
  t.same((await toolsOf(plain.base, 'alice')).filter((n) => MUTATIONS.includes(n)), [], 'without --mutations: none')
  t.same((await toolsOf(on.base, 'dave')).filter((n) => [...MUTATIONS, 'approve_plan'].includes(n)), [], 'an observer sees none')
  t.same((await toolsOf(on.base, 'bob')).filter((n) => [...MUTATIONS, 'approve_plan'].includes(n)), MUTATIONS, 'an operator sees the mutation tools, not approve_plan')
  t.ok((await toolsOf(on.base, 'carol')).includes('approve_plan'), 'an approver sees approve_plan')
  const client = await connectClient(on.base, 'modern', await tokenOf('bob'))
  const { tools } = await client.listTools()
  await client.close()
  const annotations = Object.fromEntries(tools.filter((tool) => MUTATIONS.includes(tool.name)).map((tool) => [tool.name, tool.annotations]))
  t.same(annotations.delete_topic, { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false, title: 'Delete a topic' })
  t.same(annotations.create_partitions, { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false, title: 'Add partitions to a topic' })
})

t.test('create_topic: the dry run changes nothing; the apply creates exactly the plan; the token is good once', async (t) => {
  const server = await serve()
  const alice = await tokenOf('alice')
  const plan = await callRest(server.base, 'create_topic', { topic: 'orders', partitions: 3 }, alice)
  t.equal(plan.status, 200)
  t.equal(plan.body.status, 'planned')
  t.equal(plan.body.dry_run, true)
  t.same(plan.body.changes, [{ path: 'exists', before: false, after: true }, { path: 'partitions', before: null, after: 3 }])
  t.match(plan.body.next_step, /dry_run: false and this plan_token/)
  t.equal(await partitionsOf('orders'), undefined, 'the dry run sent nothing to the broker')

  const changed = await callRest(server.base, 'create_topic', { topic: 'orders', partitions: 4, dry_run: false, plan_token: plan.body.plan_token }, alice)
  t.equal(changed.status, 409)
  t.match(changed.body, { code: 'KSMCP_ERR_PLAN_REFUSED', message: /arguments differ from the planned ones \(partitions: planned 3, given 4\)/ })
  const stranger = await callRest(server.base, 'create_topic', { topic: 'orders', partitions: 3, dry_run: false, plan_token: plan.body.plan_token }, await tokenOf('bob'))
  t.match(stranger.body, { code: 'KSMCP_ERR_PLAN_REFUSED', message: /made by another caller/ })
  t.equal(await partitionsOf('orders'), undefined, 'refused applies sent nothing')

  const applied = await callRest(server.base, 'create_topic', { topic: 'orders', partitions: 3, dry_run: false, plan_token: plan.body.plan_token }, alice)
  t.equal(applied.status, 200)
  t.match(applied.body, { status: 'applied', dry_run: false, result: { read_back: 'confirmed', observed_after: { exists: true, partitions: 3 } } })
  t.equal(await partitionsOf('orders'), 3)
  const replay = await callRest(server.base, 'create_topic', { topic: 'orders', partitions: 3, dry_run: false, plan_token: plan.body.plan_token }, alice)
  t.equal(replay.status, 409)
  t.match(replay.body.message, /already applied/)

  const again = await callRest(server.base, 'create_topic', { topic: 'orders', partitions: 3 }, alice)
  t.match(again.body, { status: 'blocked', findings: [{ level: 'error', code: 'TOPIC_EXISTS' }] })
  t.notOk('plan_token' in again.body, 'a blocked plan has no token')
})

t.test('a plan is refused once the state changed, and when it expired', async (t) => {
  const server = await serve()
  const alice = await tokenOf('alice')
  await kafka.admin().createTopics({ topics: ['growing'], partitions: 1, replicas: 1 })
  const plan = await callRest(server.base, 'create_partitions', { topic: 'growing', count: 3 }, alice)
  t.same(plan.body.changes, [{ path: 'partition_count', before: 1, after: 3 }])
  await kafka.admin().createPartitions({ topics: [{ name: 'growing', count: 2 }] })
  const stale = await callRest(server.base, 'create_partitions', { topic: 'growing', count: 3, dry_run: false, plan_token: plan.body.plan_token }, alice)
  t.equal(stale.status, 409)
  t.match(stale.body, { code: 'KSMCP_ERR_STATE_CHANGED', message: /state of topic:growing changed since the plan was made/ })
  t.equal(await partitionsOf('growing'), 2, 'the broker is unchanged by the refused apply')

  const shortLived = await serve(['--plan-ttl', '1ms'])
  const expiring = await callRest(shortLived.base, 'create_partitions', { topic: 'growing', count: 3 }, alice)
  const expired = await callRest(shortLived.base, 'create_partitions', { topic: 'growing', count: 3, dry_run: false, plan_token: expiring.body.plan_token }, alice)
  t.match(expired.body, { code: 'KSMCP_ERR_PLAN_REFUSED', message: /expired at/ })
  const elsewhere = await callRest(server.base, 'create_partitions', { topic: 'growing', count: 3, dry_run: false, plan_token: expiring.body.plan_token }, alice)
  t.match(elsewhere.body, { code: 'KSMCP_ERR_PLAN_REFUSED', message: /seal does not verify/ }, 'a replica with another key refuses it')
  t.equal(await partitionsOf('growing'), 2)
})

t.test('two applies planned on the same before-state: exactly one succeeds', async (t) => {
  const server = await serve()
  const alice = await tokenOf('alice')
  await kafka.admin().createTopics({ topics: ['race'], partitions: 1, replicas: 1 })
  const [a, b] = await Promise.all([
    callRest(server.base, 'create_partitions', { topic: 'race', count: 2 }, alice),
    callRest(server.base, 'create_partitions', { topic: 'race', count: 2 }, alice)
  ])
  const results = await Promise.all([a, b].map(async (plan) => await callRest(server.base, 'create_partitions', { topic: 'race', count: 2, dry_run: false, plan_token: plan.body.plan_token }, alice)))
  t.same(results.map((r) => r.status).sort(), [200, 409])
  t.match(results.find((r) => r.status === 409)!.body, { code: 'KSMCP_ERR_STATE_CHANGED' })
  t.equal(await partitionsOf('race'), 2)
})

t.test('update_topic_config changing one key keeps the others', async (t) => {
  const server = await serve()
  const alice = await tokenOf('alice')
  await kafka.admin().createTopics({ topics: ['configured'], partitions: 1, replicas: 1 })
  const apply = async (args: Record<string, unknown>): Promise<any> => {
    const plan = await callRest(server.base, 'update_topic_config', args, alice)
    t.equal(plan.body.status, 'planned', JSON.stringify(plan.body.findings))
    return (await callRest(server.base, 'update_topic_config', { ...args, dry_run: false, plan_token: plan.body.plan_token }, alice)).body
  }
  await apply({ topic: 'configured', set: { 'retention.ms': '3600000', 'segment.bytes': '1048576' } })
  const plan = await callRest(server.base, 'update_topic_config', { topic: 'configured', set: { 'retention.bytes': '1000000' } }, alice)
  t.same(plan.body.changes, [{ path: 'config.retention.bytes', before: null, after: '1000000' }])
  const applied = await apply({ topic: 'configured', set: { 'retention.bytes': '1000000' } })
  t.match(applied, { status: 'applied', result: { read_back: 'confirmed' } })
  t.same(await configOf('configured'), { 'retention.ms': '3600000', 'segment.bytes': '1048576', 'retention.bytes': '1000000' }, 'the keys set before are still set')
})

t.test('prod fence: approval by a second approver, or break-glass with a reason', async (t) => {
  const prod = await serve(['--env', 'prod'])
  const alice = await tokenOf('alice')
  await kafka.admin().createTopics({ topics: ['fenced'], partitions: 1, replicas: 1 })
  const plan = await callRest(prod.base, 'create_partitions', { topic: 'fenced', count: 2 }, alice)
  t.match(plan.body.requirements, [{ kind: 'plan_token' }, { kind: 'approval_or_break_glass' }])
  const args = { topic: 'fenced', count: 2, dry_run: false, plan_token: plan.body.plan_token }
  const bare = await callRest(prod.base, 'create_partitions', args, alice)
  t.equal(bare.status, 403)
  t.match(bare.body, { code: 'KSMCP_ERR_APPROVAL_REQUIRED', message: /in prod every apply needs an approval by a second principal/ })

  const self = await callRest(prod.base, 'approve_plan', { plan_token: plan.body.plan_token }, alice)
  t.match(self.body, { code: 'KSMCP_ERR_SELF_APPROVAL' })
  const observer = await callRest(prod.base, 'approve_plan', { plan_token: plan.body.plan_token }, await tokenOf('dave'))
  t.equal(observer.status, 403, 'approving needs an approver role')
  const approval = await callRest(prod.base, 'approve_plan', { plan_token: plan.body.plan_token, comment: 'change ticket 42' }, await tokenOf('carol'))
  t.equal(approval.status, 200)
  t.match(approval.body, { planned_by: /alice$/, approved_by: /carol$/, changes: [{ path: 'partition_count', before: 1, after: 2 }] })
  t.equal(await partitionsOf('fenced'), 1)
  const approved = await callRest(prod.base, 'create_partitions', { ...args, approval: approval.body.approval }, alice)
  t.equal(approved.status, 200)
  t.match(approved.body.result, { confirmed_by: /carol$/ })
  t.equal(await partitionsOf('fenced'), 2)

  const glassToken = await tokenOf('alice', 'kafscale:observe kafscale:mutate kafscale:break-glass')
  const glassPlan = await callRest(prod.base, 'create_partitions', { topic: 'fenced', count: 3 }, glassToken)
  const noReason = await callRest(prod.base, 'create_partitions', { topic: 'fenced', count: 3, dry_run: false, plan_token: glassPlan.body.plan_token, break_glass_reason: '   ' }, glassToken)
  t.match(noReason.body, { code: 'KSMCP_ERR_APPROVAL_REQUIRED', message: /break_glass_reason is empty/ })
  const glass = await callRest(prod.base, 'create_partitions', { topic: 'fenced', count: 3, dry_run: false, plan_token: glassPlan.body.plan_token, break_glass_reason: 'incident 7: consumers starved' }, glassToken)
  t.equal(glass.status, 200)
  t.match(glass.body.result, { break_glass: true })
  t.equal(await partitionsOf('fenced'), 3)
  const records = auditLines(prod.auditFile).filter((r) => r.mutation?.break_glass !== undefined)
  t.same(records.map((r) => [r.mutation.phase, r.mutation.break_glass.reason]), [['intent', 'incident 7: consumers starved'], ['outcome', 'incident 7: consumers starved']])
  t.match(await (await fetch(`${prod.base}/metrics`)).text(), /kafscale_mcp_break_glass_total\{tool="create_partitions"\} 1/)
})

t.test('audit: an intent precedes every apply; an unwritable audit refuses the apply; verify passes', async (t) => {
  const server = await serve()
  const alice = await tokenOf('alice')
  const plan = await callRest(server.base, 'create_topic', { topic: 'audited', partitions: 1 }, alice)
  await callRest(server.base, 'create_topic', { topic: 'audited', partitions: 1, dry_run: false, plan_token: plan.body.plan_token }, alice)
  const records = auditLines(server.auditFile).filter((r) => r.mutation?.plan_id === plan.body.plan_id)
  t.same(records.map((r) => [r.mutation.phase, r.mutation.result ?? null]), [['plan', 'planned'], ['intent', null], ['outcome', 'applied']])
  t.same(records[1]!.diff, { before: { topic: 'audited', exists: false }, after: { topic: 'audited', exists: true, partitions: 1 } })
  t.equal(runAuditCommand(['verify', server.auditFile], {}), 0, 'audit verify passes on the result')

  const next = await callRest(server.base, 'create_topic', { topic: 'unaudited', partitions: 1 }, alice)
  // A directory where the file was: appends fail for root too.
  rmSync(server.auditFile)
  mkdirSync(server.auditFile)
  const refused = await callRest(server.base, 'create_topic', { topic: 'unaudited', partitions: 1, dry_run: false, plan_token: next.body.plan_token }, alice)
  t.equal(refused.status, 503)
  t.match(refused.body, { code: 'KSMCP_ERR_AUDIT_UNAVAILABLE' })
  t.equal(await partitionsOf('unaudited'), undefined, 'nothing was sent to the broker')
})

t.test('delete_topic and delete_group: destructive applies need a human; with confirmation off they apply', async (t) => {
  const guarded = await serve(['--confirm-tools', 'delete_topic,delete_group'])
  const alice = await tokenOf('alice')
  await kafka.admin().createTopics({ topics: ['doomed'], partitions: 2, replicas: 1 })
  const plan = await callRest(guarded.base, 'delete_topic', { topic: 'doomed' }, alice)
  t.match(plan.body, { status: 'planned', impact: { partitions_deleted: 2, topics_deleted: 1 }, requirements: [{ kind: 'plan_token' }, { kind: 'human_confirmation' }] })
  const refused = await callRest(guarded.base, 'delete_topic', { topic: 'doomed', dry_run: false, plan_token: plan.body.plan_token }, alice)
  t.equal(refused.status, 403)
  t.match(refused.body, { code: 'KSMCP_ERR_CONFIRMATION_REQUIRED', message: /ask a second principal with an approver role to call approve_plan/ })
  t.equal(await partitionsOf('doomed'), 2, 'a plan token alone deletes nothing')
  const approval = await callRest(guarded.base, 'approve_plan', { plan_token: plan.body.plan_token }, await tokenOf('carol'))
  const approved = await callRest(guarded.base, 'delete_topic', { topic: 'doomed', dry_run: false, plan_token: plan.body.plan_token, approval: approval.body.approval }, alice)
  t.equal(approved.status, 200)
  t.equal(await partitionsOf('doomed'), undefined)

  const unknown = await callRest(guarded.base, 'delete_group', { group_id: 'nobody-here' }, alice)
  t.match(unknown.body, { status: 'blocked', findings: [{ code: 'GROUP_NOT_FOUND' }] })
})

t.test('an MCP transcript: dry run → plan → apply with the SDK client', async (t) => {
  const server = await serve()
  const client = await connectClient(server.base, 'modern', await tokenOf('alice'))
  const plan = await client.callTool({ name: 'create_topic', arguments: { topic: 'transcript', partitions: 2 } })
  const planned = plan.structuredContent as Record<string, any>
  t.equal(planned.status, 'planned')
  const applied = await client.callTool({ name: 'create_topic', arguments: { topic: 'transcript', partitions: 2, dry_run: false, plan_token: planned.plan_token } })
  t.match(applied.structuredContent, { status: 'applied', result: { read_back: 'confirmed' } })
  await client.close()
  t.equal(await partitionsOf('transcript'), 2)
})

/** A 2026-07-28 SDK client whose user answers the confirmation with `confirm`. */
async function confirmingClient (base: string, headers: Record<string, string>, confirm: boolean): Promise<{ client: Client, asked: string[] }> {
  const asked: string[] = []
  const client = new Client({ name: 'confirming-user', version: '1.0.0' }, { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: '2026-07-28' } } })
  client.setRequestHandler('elicitation/create', async (request) => {
    asked.push((request.params as { message: string }).message)
    return { action: 'accept', content: { confirm } }
  })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } }))
  return { client, asked }
}

t.test('a destructive apply asks the SDK client\'s user: yes applies, no changes nothing, each answer audited', async (t) => {
  const server = await serve(['--confirm-tools', 'delete_topic'])
  const alice = await tokenOf('alice')
  await kafka.admin().createTopics({ topics: ['confirmed', 'kept'], partitions: 2, replicas: 1 })
  for (const [topic, confirm] of [['kept', false], ['confirmed', true]] as const) {
    const { client, asked } = await confirmingClient(server.base, alice, confirm)
    const plan = (await client.callTool({ name: 'delete_topic', arguments: { topic } })).structuredContent as Record<string, any>
    const result = await client.callTool({ name: 'delete_topic', arguments: { topic, dry_run: false, plan_token: plan.plan_token } })
    await client.close()
    t.equal(asked.length, 1, 'the user was asked once')
    t.match(asked[0], new RegExp(`Delete a topic: deletes topic "${topic}" \\(2 partitions\\)[\\s\\S]*Apply this change\\?`))
    const records = auditLines(server.auditFile).filter((r) => r.mutation?.plan_id === plan.plan_id)
    if (confirm) {
      t.match(result.structuredContent, { status: 'applied', result: { confirmed_by: 'user' } })
      t.equal(await partitionsOf(topic), undefined, 'yes: deleted')
      t.same(records.map((r) => [r.mutation.phase, r.mutation.result ?? null, r.mutation.confirmation?.answer ?? null]), [['plan', 'planned', null], ['outcome', 'confirmation_requested', 'asked'], ['intent', null, 'accept'], ['outcome', 'applied', 'accept']])
    } else {
      t.equal(result.isError, true)
      t.match(result.content, [{ type: 'text', text: /the user did not confirm delete_topic of topic:kept: nothing was changed/ }])
      t.equal(await partitionsOf(topic), 2, 'no: the topic stays')
      t.same(records.map((r) => [r.mutation.phase, r.mutation.result ?? null, r.mutation.confirmation?.answer ?? null]), [['plan', 'planned', null], ['outcome', 'confirmation_requested', 'asked'], ['outcome', 'declined', 'no']])
    }
  }
})

t.test('on KafScale, deleting topic "c" takes "c/…" topics and groups whose offset keys hold "/offsets/c/": named, or refused', async (t) => {
  const etcd = await startEtcd()
  t.teardown(async () => { await etcd.destroy() })
  await etcd.client.put('/kafscale/metadata/snapshot').value(encoded(snapshotWith([['c', 1], ['c/nested', 1]])))
  const commit = '{"offset":5,"metadata":"","committed_at":"2026-03-01T12:00:00Z"}'
  await putMany(etcd.client, [
    ['/kafscale/consumers/readers/offsets/c/0', commit],
    ['/kafscale/consumers/team/offsets/c/x/offsets/other/0', commit]
  ])
  const server = await serve(['--etcd-endpoints', etcd.endpoint, '--kafka-flavor', 'kafscale'])
  const alice = await tokenOf('alice')
  await kafka.admin().createTopics({ topics: ['c'], partitions: 1, replicas: 1 })
  const blind = await callRest(server.base, 'delete_topic', { topic: 'c' }, alice)
  t.match(blind.body, { status: 'blocked', findings: [{ code: 'COLLATERAL_NOT_ACKNOWLEDGED', message: /also deletes "c\/nested", "team\/offsets\/c\/x"; if that is intended, plan again with also_delete: \["c\/nested","team\/offsets\/c\/x"\]/ }] })
  t.match(blind.body.before, { nested_topics: [{ name: 'c/nested', partitions: 1 }], collateral_groups: ['team/offsets/c/x'], groups_with_offsets: ['readers'] })
  const named = await callRest(server.base, 'delete_topic', { topic: 'c', also_delete: ['team/offsets/c/x', 'c/nested'] }, alice)
  t.equal(named.body.status, 'planned')
  t.match(named.body.impact, { topics_deleted: 2, partitions_deleted: 2, groups_losing_offsets: 1 })
  const applied = await callRest(server.base, 'delete_topic', { topic: 'c', also_delete: ['team/offsets/c/x', 'c/nested'], dry_run: false, plan_token: named.body.plan_token }, alice)
  t.equal(applied.status, 200)
  t.equal(await partitionsOf('c'), undefined)
})

/** How each tool's effect is seen on the broker, through the plain admin client (not the code under test). */
interface ToolCase {
  tool: string
  setup: () => Promise<void>
  args: Record<string, unknown>
  /** Arguments that differ from the planned ones. */
  otherArgs: Record<string, unknown>
  /** The broker's state this tool changes, read through the plain admin client. */
  observe: () => Promise<unknown>
  /** A change made behind the service's back, so a plan goes stale. */
  interfere: () => Promise<void>
  /** The finding that blocks planning the same change again (its staleness is tested on its own above). */
  againBlockedBy?: string
}

/** The topic's own settings; retried, because a topic created a moment ago may not be describable on every broker path yet. */
async function configOf (topic: string): Promise<Record<string, string | null>> {
  for (let attempt = 1; ; attempt++) {
    try {
      const [described] = await kafka.admin().describeConfigs({ resources: [{ resourceType: 2, resourceName: topic }] })
      return Object.fromEntries(described!.configs.filter((c: any) => c.configSource === 1).map((c: any) => [c.name, c.value]))
    } catch (err) {
      if (attempt === 20) throw err
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
}

async function offsetsOf (groupId: string): Promise<number> {
  const groups = await kafka.admin().listConsumerGroupOffsets({ groups: [groupId] })
  return groups.flatMap((g: any) => g.topics.flatMap((topic: any) => topic.partitions)).length
}

/** Creates the topic unless it exists, so a case's setup can run again. */
async function ensureTopic (topic: string, partitions = 1): Promise<void> {
  if (await partitionsOf(topic) === undefined) await kafka.admin().createTopics({ topics: [topic], partitions, replicas: 1 })
}

const commitOffsets = async (groupId: string, topic: string): Promise<void> => {
  await kafka.admin().alterConsumerGroupOffsets({ groupId, topics: [{ name: topic, partitionOffsets: [{ partition: 0, offset: 5n }] }] })
}

const CASES: ToolCase[] = [
  {
    tool: 'create_topic',
    setup: async () => {},
    args: { topic: 'each-created', partitions: 2 },
    otherArgs: { topic: 'each-created', partitions: 3 },
    observe: async () => await partitionsOf('each-created'),
    interfere: async () => {},
    againBlockedBy: 'TOPIC_EXISTS'
  },
  {
    tool: 'delete_topic',
    setup: async () => { await ensureTopic('each-deleted', 2) },
    args: { topic: 'each-deleted' },
    otherArgs: { topic: 'each-deleted', also_delete: ['x'] },
    observe: async () => await partitionsOf('each-deleted'),
    interfere: async () => { await kafka.admin().createPartitions({ topics: [{ name: 'each-deleted', count: 3 }] }) }
  },
  {
    tool: 'create_partitions',
    setup: async () => { await ensureTopic('each-grown') },
    args: { topic: 'each-grown', count: 4 },
    otherArgs: { topic: 'each-grown', count: 5 },
    observe: async () => await partitionsOf('each-grown'),
    interfere: async () => {},
    againBlockedBy: 'PARTITIONS_ONLY_GROW'
  },
  {
    tool: 'update_topic_config',
    setup: async () => { await ensureTopic('each-configured') },
    args: { topic: 'each-configured', set: { 'retention.ms': '7200000' } },
    otherArgs: { topic: 'each-configured', set: { 'retention.ms': '7200001' } },
    observe: async () => await configOf('each-configured'),
    interfere: async () => { await kafka.admin().alterConfigs({ resources: [{ resourceType: 2, resourceName: 'each-configured', configs: [{ name: 'segment.bytes', value: '2097152' }] }] }) }
  },
  {
    tool: 'delete_group',
    setup: async () => {
      await ensureTopic('each-consumed')
      await commitOffsets('each-group', 'each-consumed')
    },
    args: { group_id: 'each-group' },
    otherArgs: { group_id: 'each-group', allow_live_members: true },
    observe: async () => await offsetsOf('each-group'),
    interfere: async () => {
      await ensureTopic('each-consumed-2')
      await commitOffsets('each-group', 'each-consumed-2')
    }
  }
]

t.test('every mutation tool: the dry run leaves the broker alone, the apply makes the change, stale, foreign, expired and altered tokens are refused', async (t) => {
  const server = await serve()
  const shortLived = await serve(['--plan-ttl', '1ms'])
  const alice = await tokenOf('alice')
  const bob = await tokenOf('bob')
  for (const c of CASES) {
    await t.test(c.tool, async (t) => {
      await c.setup()
      const untouched = await c.observe()
      const plan = await callRest(server.base, c.tool, c.args, alice)
      t.equal(plan.body.status, 'planned', JSON.stringify(plan.body.findings ?? plan.body))
      t.ok(plan.body.changes.length > 0, 'the plan shows a diff')
      t.same(await c.observe(), untouched, 'the dry run changed nothing on the broker')
      const apply = (args: Record<string, unknown>, token: string, who = alice, base = server.base): ReturnType<typeof callRest> =>
        callRest(base, c.tool, { ...args, dry_run: false, plan_token: token }, who)

      const refusals: Array<[string, Awaited<ReturnType<typeof callRest>>, RegExp]> = [
        ['another caller', await apply(c.args, plan.body.plan_token, bob), /made by another caller/],
        ['changed arguments', await apply(c.otherArgs, plan.body.plan_token), /arguments differ/]
      ]
      const expiring = await callRest(shortLived.base, c.tool, c.args, alice)
      refusals.push(['expired', await apply(c.args, expiring.body.plan_token, alice, shortLived.base), /expired at/])
      for (const [why, answer, message] of refusals) t.match(answer.body, { code: 'KSMCP_ERR_PLAN_REFUSED', message }, why)
      t.same(await c.observe(), untouched, 'refused applies changed nothing')

      const applied = await apply(c.args, plan.body.plan_token)
      t.equal(applied.status, 200, JSON.stringify(applied.body))
      t.equal(applied.body.result?.read_back, 'confirmed')
      const changed = await c.observe()
      t.not(JSON.stringify(changed), JSON.stringify(untouched), 'the apply changed the broker')
      t.match((await apply(c.args, plan.body.plan_token)).body, { code: 'KSMCP_ERR_PLAN_REFUSED', message: /already applied/ }, 'replayed')

      // A fresh plan made stale behind the service's back.
      await c.setup()
      const next = await callRest(server.base, c.tool, c.args, alice)
      if (c.againBlockedBy !== undefined) {
        t.match(next.body, { status: 'blocked', findings: [{ code: c.againBlockedBy }] }, 'the same change cannot be planned twice')
        return
      }
      t.equal(next.body.status, 'planned', JSON.stringify(next.body.findings))
      await c.interfere()
      const before = await c.observe()
      t.match((await apply(c.args, next.body.plan_token)).body, { code: 'KSMCP_ERR_STATE_CHANGED' }, 'stale')
      t.same(await c.observe(), before, 'the stale apply changed nothing')
    })
  }
})

t.test('replicas sharing KAFSCALE_MCP_PLAN_KEY_FILE apply each other\'s plans; a wrong tool list refuses to start', async (t) => {
  const keyFile = join(dir, 'plan.key')
  writeFileSync(keyFile, 'a-shared-plan-key-for-both-replicas-0123456789\n')
  const [one, two] = [await serve(['--plan-key-file', keyFile]), await serve(['--plan-key-file', keyFile])]
  const alice = await tokenOf('alice')
  const plan = await callRest(one.base, 'create_topic', { topic: 'replicated', partitions: 1 }, alice)
  const applied = await callRest(two.base, 'create_topic', { topic: 'replicated', partitions: 1, dry_run: false, plan_token: plan.body.plan_token }, alice)
  t.equal(applied.status, 200, 'the other replica verified the plan')
  t.equal(await partitionsOf('replicated'), 1)
  await t.rejects(startServer(['--oidc-issuer', idp.issuer, '--resource-url', RESOURCE, '--audit-stdout', '--mutations', '--kafka-bootstrap', kafka.bootstrap, '--confirm-tools', 'delete_topics']),
    /KAFSCALE_MCP_CONFIRM_TOOLS names delete_topics, which is no mutation tool/)
})
