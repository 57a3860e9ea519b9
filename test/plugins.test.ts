import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { buildApp } from '../app.ts'
import { demoBackend } from '../demo/cluster.ts'
import { loadConfig } from '../lib/config.ts'
import { callRest, connectClient, ERAS, startServer } from './helpers/server.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/**
 * The example as a platform team has it: its own folder and package.json, with kafscale-mcp
 * installed by path (`file:../..` is a symlink in node_modules, as npm makes it) next to the
 * packages it names as peers.
 */
function installExample (): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'kafscale-example-')), 'partition-leaders')
  cpSync(join(ROOT, 'examples/partition-leaders'), dir, { recursive: true })
  mkdirSync(join(dir, 'node_modules/@types'), { recursive: true })
  symlinkSync(ROOT, join(dir, 'node_modules/kafscale-mcp'), 'dir')
  for (const peer of ['fastify', 'typebox', '@types/node']) symlinkSync(join(ROOT, 'node_modules', peer), join(dir, 'node_modules', peer), 'dir')
  return dir
}

const exampleDir = installExample()
t.teardown(() => { rmSync(join(exampleDir, '..'), { recursive: true, force: true }) })
const EXAMPLE = join(exampleDir, 'index.ts')
const EXPECTED = {
  brokers: [
    { node_id: 0, host: 'kafscale-broker-0.kafscale-broker-headless.kafscale.svc.cluster.local', leader_partitions: 10 },
    { node_id: 1, host: 'kafscale-broker-1.kafscale-broker-headless.kafscale.svc.cluster.local', leader_partitions: 8 },
    { node_id: 2, host: 'kafscale-broker-2.kafscale-broker-headless.kafscale.svc.cluster.local', leader_partitions: 7 }
  ],
  orphaned_partitions: []
}

t.test('the example plugin type-checks on its own, with tsc and its own tsconfig', async (t) => {
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', exampleDir], { encoding: 'utf8' })
  t.equal(tsc.stdout + tsc.stderr, '', 'no type errors')
  t.equal(tsc.status, 0)
})

t.test('a route the plugin adds sits behind the gate', async (t) => {
  const server = await startServer(['--plugins', EXAMPLE, '--auth-token', 'example-token-0123456789'], { backend: demoBackend() })
  t.teardown(server.close)
  const anonymous = await fetch(`${server.base}/api/v1/partition-leaders`)
  t.equal(anonymous.status, 401)
  t.match(anonymous.headers.get('www-authenticate'), /^Bearer realm="kafscale-mcp", error_description="send `Authorization: Bearer <token>`/)
  t.match(await anonymous.json(), { code: 'KSMCP_ERR_UNAUTHORIZED' })
  const authorized = await fetch(`${server.base}/api/v1/partition-leaders`, { headers: { authorization: 'Bearer example-token-0123456789' } })
  t.equal(authorized.status, 200)
  t.same(await authorized.json(), EXPECTED)
})

t.test('the example plugin loads from KAFSCALE_MCP_PLUGINS and answers over MCP and REST', async (t) => {
  const config = loadConfig(['--http-addr', '127.0.0.1:0', '--log-level', 'silent'], { KAFSCALE_MCP_PLUGINS: EXAMPLE })
  t.same(config.plugins, [EXAMPLE])
  const server = await startServer(['--plugins', EXAMPLE], { backend: demoBackend() })
  t.teardown(server.close)
  for (const era of ERAS) {
    const client = await connectClient(server.base, era)
    const { tools } = await client.listTools()
    const tool = tools.find((x) => x.name === 'partition_leaders')
    t.ok(tool, `${era}: listed`)
    t.equal(tool?.annotations?.readOnlyHint, true)
    const result = await client.callTool({ name: 'partition_leaders', arguments: {} })
    t.same(result.structuredContent, EXPECTED, `${era}: called`)
    const bad = await client.callTool({ name: 'partition_leaders', arguments: { topic_prefix: 7 } })
    t.equal(bad.isError, true, `${era}: its schema validates input`)
    await client.close()
  }
  t.same(await callRest(server.base, 'partition_leaders', { topic_prefix: 'click' }), {
    status: 200,
    body: { ...EXPECTED, brokers: EXPECTED.brokers.map((b) => ({ ...b, leader_partitions: 4 })) }
  })
})

t.test('a plugin that cannot load stops the start with a clear message', async (t) => {
  const config = loadConfig(['--http-addr', '127.0.0.1:0', '--log-level', 'silent', '--plugins', './no/such/plugin.ts'], {})
  await t.rejects(buildApp(config, { backend: demoBackend() }), { code: 'KSMCP_ERR_PLUGIN_LOAD', message: /^cannot load tool plugin "\.\/no\/such\/plugin\.ts": / })

  const dir = mkdtempSync(join(tmpdir(), 'kafscale-plugin-'))
  const notAPlugin = join(dir, 'not-a-plugin.mjs')
  writeFileSync(notAPlugin, 'export default 42\n')
  await t.rejects(buildApp(loadConfig(['--http-addr', '127.0.0.1:0', '--log-level', 'silent', '--plugins', notAPlugin], {}), { backend: demoBackend() }), {
    code: 'KSMCP_ERR_PLUGIN_LOAD', message: /its default export is not a Fastify plugin function/
  })

  const sloppy = join(dir, 'sloppy.mjs')
  writeFileSync(sloppy, `export default async function (app) {
    app.tools.add({ name: 'sloppy', description: 'no hints', input: { type: 'object' }, output: { type: 'object' }, annotations: { readOnlyHint: true }, handler: async () => ({}) })
  }\n`)
  await t.rejects(buildApp(loadConfig(['--http-addr', '127.0.0.1:0', '--log-level', 'silent', '--plugins', sloppy], {}), { backend: demoBackend() }), /tool sloppy must set annotations\.destructiveHint explicitly/)
  await t.rejects(buildApp(loadConfig(['--http-addr', '127.0.0.1:0', '--log-level', 'silent', '--plugins', `${EXAMPLE},${EXAMPLE}`], {}), { backend: demoBackend() }), /tool partition_leaders is registered twice/)
})

t.test('a plugin reads the lag history but cannot write into it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kafscale-plugin-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const tamper = join(dir, 'tamper.mjs')
  // Every way into the history's writes a plugin could try: the store's own, the view's, its prototype's.
  writeFileSync(tamper, `export default async function (app) {
    app.tools.add({
      name: 'tamper', description: 'tries to feed the lag history', input: { type: 'object' }, output: { type: 'object' },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      handler: async (_input, ctx) => {
        const store = ctx.require('store')
        const history = store.lagObservation().history
        const fake = { groupId: 'billing', offsets: new Map([['orders/0', { topic: 'orders', partition: 0, record: { offset: 999999n, metadata: '', committedAt: new Date().toISOString() } }]]) }
        const attempts = [
          () => store.observeLag([fake], new Map([['orders', new Map([[0, 123456789n]])]])),
          () => history.recordCommit('billing', 'orders', 0, 999999n, new Date().toISOString()),
          () => history.observeLogEnd('orders', 0, 123456789n),
          () => history.setGroupState('billing', 'dead'),
          () => Object.getPrototypeOf(history).recordCommit.call(history, 'billing', 'orders', 0, 999999n, new Date().toISOString())
        ]
        let written = 0
        for (const attempt of attempts) {
          try { attempt(); written++ } catch {}
        }
        return { store: Object.keys(store).sort(), history: Object.keys(history).sort(), written }
      }
    })
  }\n`)
  const server = await startServer(['--plugins', tamper], { backend: demoBackend() })
  t.teardown(server.close)
  const { status, body } = await callRest(server.base, 'tamper', {})
  t.equal(status, 200)
  t.same(body, {
    store: ['allGroupOffsets', 'describeGroup', 'groupOffsets', 'health', 'lagObservation', 'leases', 'listGroups', 'loadedView', 'nextOffsets', 'probe', 'reload', 'snapshotView', 'topicConfigs', 'topicKeys'],
    history: ['commitWindow', 'commits', 'full', 'groupState', 'logEndObservations', 'since', 'spanMs'],
    written: 0
  }, 'it reaches reads only, and none of its writes went through')
  const lag = await callRest(server.base, 'consumer_lag', { group_id: 'billing', topics: ['orders'], evidence: 'all' })
  const p0 = lag.body.partitions.find((p: any) => p.partition === 0)
  t.same(p0.evidence.commits.map((c: any) => c.offset), [1822], 'the history holds the commit etcd holds')
  t.notOk(p0.evidence.log_ends.some((o: any) => o.offset === 123456789), 'and no log end etcd never held')
  t.equal(p0.evidence.group_state, 'stable')
})
