import t from 'tap'
import Fastify from 'fastify'
import { Type } from 'typebox'
import { ToolRegistry, type CallMetrics, type ToolServices } from '../core/registry.ts'
import { defineTool, READ_ONLY, toolError, type ToolContext } from '../index.ts'
import { AuditLog, type AuditRecord } from '../lib/audit.ts'
import { PolicyStore } from '../lib/auth/policy.ts'
import { STATIC_TOKEN } from '../lib/auth/principal.ts'
import { KafscaleStore } from '../lib/store/kafscale-store.ts'
import { demoBackend } from '../demo/cluster.ts'
import mcpPlugin from '../transports/mcp.ts'
import toolRegistryPlugin from '../plugins/tool-registry.ts'

// The registry alone: built from the services handed to it, no Fastify instance behind it.

const Empty = Type.Object({}, { additionalProperties: false })
const Topics = Type.Object({ topics: Type.Integer() })
const caller = { principal: STATIC_TOKEN, transport: 'rest' as const, requestId: 'req-1' }

function registry (sources: Partial<ToolServices['sources']> = {}): { registry: ToolRegistry, records: AuditRecord[], observed: unknown[][] } {
  const records: AuditRecord[] = []
  const observed: unknown[][] = []
  const callMetrics: CallMetrics = { observe: (...args) => { observed.push(args) } }
  const registry = new ToolRegistry({
    policy: new PolicyStore(undefined),
    audit: new AuditLog([{ write: async (record) => { records.push(record) } }], { failClosedForReads: false, onError: () => {} }),
    callMetrics,
    sources: { store: undefined, brokerMetrics: undefined, operatorMetrics: undefined, brokerControl: undefined, ...sources },
    log: Fastify().log,
    maxResponseChars: 10_000
  })
  return { registry, records, observed }
}

const countTopics = defineTool({
  name: 'count_topics',
  description: 'Count the topics.',
  input: Empty,
  output: Topics,
  annotations: READ_ONLY,
  async handler (_input, ctx) {
    return { topics: ctx.require('store').snapshotView().sortedTopics.length }
  }
})

t.test('the registry uses the services it was given: policy, audit, call metrics and the store', async (t) => {
  const store = new KafscaleStore(demoBackend(), Fastify().log)
  t.teardown(async () => { await store.close() })
  store.start()
  await store.checkReady()
  const { registry: tools, records, observed } = registry({ store })
  tools.add(countTopics)
  t.same(await tools.call('count_topics', {}, { caller }), { ok: true, output: { topics: 6 }, json: '{"topics":6}' })
  t.match(records, [{ tool: 'count_topics', principal: { id: 'static-token' }, transport: 'rest', request_id: 'req-1', decision: 'allow', outcome: 'ok' }])
  t.match(observed, [['count_topics', 'rest', 'ok', Number]])
})

t.test('an unconfigured source is undefined, and require() throws its declared error', async (t) => {
  const { registry: tools } = registry()
  let seen: ToolContext | undefined
  tools.add(defineTool({ ...countTopics, async handler (input, ctx) { seen = ctx; return await countTopics.handler(input, ctx) } }))
  t.same(await tools.call('count_topics', {}, { caller }), {
    ok: false,
    error: { code: 'KSMCP_ERR_STORE_NOT_CONFIGURED', statusCode: 503, message: 'metadata store not configured: set KAFSCALE_MCP_ETCD_ENDPOINTS (or --etcd-endpoints)' }
  })
  t.equal(seen?.store, undefined)
  t.equal(seen?.brokerMetrics, undefined)
  t.throws(() => seen?.require('operatorMetrics'), { code: 'KSMCP_ERR_OPERATOR_METRICS_NOT_CONFIGURED', statusCode: 503 })
})

t.test('a tool gets read-only views: no etcd client, no close()', async (t) => {
  const store = new KafscaleStore(demoBackend(), Fastify().log)
  t.teardown(async () => { await store.close() })
  const { registry: tools } = registry({ store })
  let seen: ToolContext | undefined
  tools.add(defineTool({ ...countTopics, name: 'peek', async handler (_input, context) { seen = context; return { topics: 0 } } }))
  await tools.call('peek', {}, { caller })
  const view = seen?.store as unknown as Record<string, unknown>
  t.equal(view.kv, undefined, 'no raw key-value backend')
  t.equal(view.close, undefined, 'no close()')
  t.equal(view.start, undefined)
  t.type(view.snapshotView, 'function')
  t.ok(Object.isFrozen(view))
})

t.test('toolError gives a plugin\'s error its own code; other errors are internal', async (t) => {
  const { registry: tools, records } = registry()
  tools.add(defineTool({ ...countTopics, name: 'refuses', async handler () { throw toolError('NO_LEADER', 'partition 3 has no leader', 409) } }))
  tools.add(defineTool({ ...countTopics, name: 'crashes', async handler () { throw new Error('boom') } }))
  t.same(await tools.call('refuses', {}, { caller }), { ok: false, error: { code: 'NO_LEADER', statusCode: 409, message: 'partition 3 has no leader' } })
  t.same(await tools.call('crashes', {}, { caller }), { ok: false, error: { code: 'KSMCP_ERR_INTERNAL', statusCode: 500, message: 'tool crashes failed unexpectedly' } })
  t.match(records, [{ tool: 'refuses', error_code: 'NO_LEADER' }, { tool: 'crashes', error_code: 'KSMCP_ERR_INTERNAL' }])
  t.throws(() => toolError('no-leader', 'x'), /code "no-leader" must be UPPER_SNAKE_CASE/)
  t.throws(() => toolError('NO_LEADER', 'x', 200), /statusCode 200 must be an HTTP error status/)
})

t.test('the registry plugin names the services it needs when registered before them', async (t) => {
  const app = Fastify({ logger: false })
  t.teardown(async () => { await app.close() })
  await t.rejects(async () => { await app.register(toolRegistryPlugin, { maxResponseChars: 10_000 }) }, /The dependency 'kafscale-store' of plugin 'kafscale-tool-registry' is not registered/)
})

t.test('a transport where the gate did not run answers 500, never as an anonymous caller', async (t) => {
  const app = Fastify({ logger: false })
  t.teardown(async () => { await app.close() })
  app.decorate('tools', registry().registry)
  app.decorate('resourceMetadataUrl', undefined)
  // A scope that claims to be gated but has no authenticate hook: request.principal stays unset.
  app.decorate('gated', true)
  app.decorateRequest('principal', null as never)
  await app.register(mcpPlugin, { version: '0.0.0', bodyLimit: 100_000 })
  const response = await app.inject({
    method: 'POST',
    url: '/mcp',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    payload: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }
  })
  t.equal(response.statusCode, 500)
  t.same(response.json(), { jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal error' } })
})
