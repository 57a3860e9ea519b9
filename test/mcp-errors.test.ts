import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { Client, ResourceNotFoundError, SSEClientTransport } from '@modelcontextprotocol/client'
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio'
import { demoBackend } from '../demo/cluster.ts'
import { startIdp, type TestIdp } from './helpers/idp.ts'
import { connectClient, startServer, type RunningServer } from './helpers/server.ts'
import { auditLines, type AuditRecord } from './helpers/audit-file.ts'

// Item 4: every tools/call that names a tool leaves exactly one audit record, on every
// transport, including the calls the SDK would otherwise refuse unseen (a tool hidden from the
// caller, an unknown name, a scope challenge). Item 15: a client's mistake is answered as one
// (-32602), and only the service's own failures are -32603.

const RESOURCE = 'https://mcp.example.test/mcp'
const PROBE = fileURLToPath(new URL('./fixtures/plugins/mutation-probe.ts', import.meta.url))
const BIN = fileURLToPath(new URL('../bin/kafscale-mcp.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'kafscale-mcp-errors-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const policyPath = join(dir, 'policy.yaml')
writeFileSync(policyPath, `
roles:
  observer: { tools: ["@observe"] }
  operator: { tools: ["@observe", "@mutate"] }
  lag-reader: { tools: ["list_*", "describe_*", "consumer_lag"] }
bindings:
  - { name: sre-operators, groups: [sre], roles: [operator] }
  - { name: observers, subjects: [bob], roles: [observer] }
  - { name: lag-readers, subjects: [dana], roles: [lag-reader] }
`)

const auditPath = join(dir, 'audit.jsonl')
let idp: TestIdp
let server: RunningServer
t.before(async () => {
  idp = await startIdp()
  server = await startServer(['--oidc-issuer', idp.issuer, '--resource-url', RESOURCE, '--policy-file', policyPath, '--plugins', PROBE,
    '--audit-file', auditPath, '--rate-limit', '0'], { backend: demoBackend() })
})
t.teardown(async () => {
  await server.close()
  await idp.close()
})

async function bearer (sub: string, scope: string, groups: string[] = []): Promise<Record<string, string>> {
  const now = Math.floor(Date.now() / 1000)
  return { authorization: `Bearer ${await idp.sign({ iss: idp.issuer, aud: RESOURCE, sub, groups, iat: now, exp: now + 300, scope, client_id: 'tests' })}` }
}

/** The audit records written while `action` ran, and what it returned. */
async function audited<T> (path: string, action: () => Promise<T>): Promise<{ result: T, records: AuditRecord[] }> {
  const before = auditLines(path).length
  const result = await action()
  return { result, records: auditLines(path).slice(before) }
}

async function connectSse (base: string, headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'sse-era-client', version: '0.9.0' })
  await client.connect(new SSEClientTransport(new URL(`${base}/sse`), {
    requestInit: { headers },
    eventSourceInit: { fetch: async (url, init) => await fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) }
  }))
  return client
}

const TRANSPORTS: Array<[string, (headers: Record<string, string>) => Promise<Client>]> = [
  ['/mcp, 2026-07-28 era', async (headers) => await connectClient(server.base, 'modern', headers)],
  ['/mcp, 2025 era', async (headers) => await connectClient(server.base, 'legacy', headers)],
  ['/sse', async (headers) => await connectSse(server.base, headers)]
]

/** Every kind of call attempt, what the client gets and the one record it leaves. */
async function checkEveryAttempt (t: Test, client: Client, path: string, transport: string, subject: string): Promise<void> {
  const denied = await audited(path, async () => await client.callTool({ name: 'mutation_probe', arguments: {} }).catch((err: unknown) => err))
  t.match(denied.result, { code: -32602, message: new RegExp(`forbidden: tool "mutation_probe" is not granted to ${subject} \\(roles: observer\\)`) }, 'a tool the caller was not shown: refused as over REST')
  t.match(denied.records, [{ transport, tool: 'mutation_probe', decision: 'deny', rule: 'no-role-grants-tool', outcome: 'denied', error_code: 'KSMCP_ERR_FORBIDDEN' }], 'one record')
  t.equal(denied.records.length, 1)

  const unknown = await audited(path, async () => await client.callTool({ name: 'no_such_tool', arguments: { x: 1 } }).catch((err: unknown) => err))
  t.match(unknown.result, { code: -32602, message: /unknown tool "no_such_tool"/ })
  t.match(unknown.records, [{ transport, tool: 'no_such_tool', arguments: { x: 1 }, decision: 'deny', rule: 'unknown-tool', outcome: 'denied', error_code: 'KSMCP_ERR_UNKNOWN_TOOL' }])
  t.equal(unknown.records.length, 1)

  const invalid = await audited(path, async () => await client.callTool({ name: 'describe_group', arguments: { group_id: 5 } }))
  t.match(invalid.result, { isError: true, _meta: { 'io.kafscale/error': { code: 'KSMCP_ERR_INVALID_INPUT', statusCode: 400 } } })
  t.match(invalid.records, [{ transport, tool: 'describe_group', decision: 'allow', outcome: 'error', error_code: 'KSMCP_ERR_INVALID_INPUT' }])
  t.equal(invalid.records.length, 1)

  const failed = await audited(path, async () => await client.callTool({ name: 'describe_group', arguments: { group_id: 'ghosts' } }))
  t.match(failed.result, { isError: true, _meta: { 'io.kafscale/error': { code: 'KSMCP_ERR_GROUP_NOT_FOUND', statusCode: 404 } } })
  t.match(failed.records, [{ transport, tool: 'describe_group', outcome: 'error', error_code: 'KSMCP_ERR_GROUP_NOT_FOUND' }])
  t.equal(failed.records.length, 1)

  const ok = await audited(path, async () => await client.callTool({ name: 'list_topics', arguments: {} }))
  t.equal((ok.result.structuredContent as { topics: unknown[] }).topics.length, 6)
  t.match(ok.records, [{ transport, tool: 'list_topics', decision: 'allow', outcome: 'ok' }])
  t.equal(ok.records.length, 1)
  t.notOk('error_code' in ok.records[0]!)
}

for (const [name, connect] of TRANSPORTS) {
  t.test(`${name}: every call attempt leaves exactly one audit record`, async (t) => {
    const client = await connect(await bearer('bob', 'kafscale:observe kafscale:mutate'))
    t.teardown(async () => { await client.close() })
    t.notOk((await client.listTools()).tools.some((tool) => tool.name === 'mutation_probe'), 'the tool stays hidden from the list')
    await checkEveryAttempt(t, client, auditPath, 'mcp', 'bob')
  })
}

t.test('a scope challenge is audited: HTTP 403 over /mcp, an isError result over /sse', async (t) => {
  const narrow = await bearer('carol', 'kafscale:observe', ['sre'])
  const call = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'mutation_probe', arguments: { note: 'x' } } })
  const challenged = await audited(auditPath, async () => await fetch(`${server.base}/mcp`, {
    method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...narrow }, body: call
  }))
  t.equal(challenged.result.status, 403)
  t.match(challenged.result.headers.get('www-authenticate') ?? '', /insufficient_scope.*kafscale:mutate/)
  t.match(challenged.records, [{ transport: 'mcp', tool: 'mutation_probe', arguments: { note: 'x' }, principal: { sub: 'carol' }, decision: 'deny', outcome: 'denied', error_code: 'KSMCP_ERR_INSUFFICIENT_SCOPE' }])
  t.equal(challenged.records.length, 1)

  const modern = await connectClient(server.base, 'modern', narrow)
  t.teardown(async () => { await modern.close() })
  const viaClient = await audited(auditPath, async () => await modern.callTool({ name: 'mutation_probe', arguments: {} }).catch((err: unknown) => err))
  t.type(viaClient.result, Error, 'the 2026-era client is refused')
  t.match(viaClient.records, [{ tool: 'mutation_probe', error_code: 'KSMCP_ERR_INSUFFICIENT_SCOPE' }])
  t.equal(viaClient.records.length, 1)

  const sse = await connectSse(server.base, narrow)
  t.teardown(async () => { await sse.close() })
  const overSse = await audited(auditPath, async () => await sse.callTool({ name: 'mutation_probe', arguments: {} }))
  t.match(overSse.result, { isError: true, _meta: { 'io.kafscale/error': { code: 'KSMCP_ERR_INSUFFICIENT_SCOPE', statusCode: 403 } } })
  t.match(overSse.records, [{ tool: 'mutation_probe', decision: 'deny', error_code: 'KSMCP_ERR_INSUFFICIENT_SCOPE' }])
  t.equal(overSse.records.length, 1)
})

t.test('resources and prompts behind a tool the caller may not call are not served', async (t) => {
  const client = await connectClient(server.base, 'legacy', await bearer('dana', 'kafscale:observe'))
  t.teardown(async () => { await client.close() })
  t.same((await client.listResources()).resources.filter((r) => r.uri === 'kafscale://cluster'), [], 'kafscale://cluster needs cluster_status')
  t.same((await client.listPrompts()).prompts.map((p) => p.name), ['diagnose-consumer-lag'], 'cluster-health-report needs cluster_health')
  const read = await audited(auditPath, async () => await client.readResource({ uri: 'kafscale://cluster' }).catch((err: unknown) => err))
  t.ok(read.result instanceof ResourceNotFoundError, 'reading it is resource-not-found')
  t.same(read.records, [], 'and runs no tool')
  await t.rejects(client.getPrompt({ name: 'cluster-health-report' }), { code: -32602, message: /Prompt cluster-health-report not found/ })
  const topic = await audited(auditPath, async () => await client.readResource({ uri: 'kafscale://topics/orders' }))
  t.match(JSON.parse((topic.result.contents[0] as { text: string }).text), { topics: [{ name: 'orders' }] }, 'what the tools allow is served')
  t.match(topic.records, [{ tool: 'describe_topics', principal: { sub: 'dana' }, decision: 'allow', rule: 'lag-readers/lag-reader', outcome: 'ok' }], 'and audited')
})

t.test('stdio: every call attempt leaves exactly one audit record', async (t) => {
  const stdioAudit = join(dir, 'stdio-audit.jsonl')
  const client = new Client({ name: 'stdio-client', version: '1.0.0' })
  await client.connect(new StdioClientTransport({
    command: process.execPath,
    args: [BIN, '--stdio', '--demo', '--plugins', PROBE, '--audit-file', stdioAudit, '--log-level', 'silent'],
    stderr: 'ignore'
  }))
  t.teardown(async () => { await client.close() })
  const subject = (await audited(stdioAudit, async () => await client.callTool({ name: 'list_topics', arguments: {} }))).records[0]?.principal as { sub: string }
  await checkEveryAttempt(t, client, stdioAudit, 'stdio', subject.sub)
})

/** A raw JSON-RPC request to /mcp in either era; the JSON-RPC answer. */
async function rpc (base: string, era: 'modern' | 'legacy', method: string, params: unknown, name?: string): Promise<{ error?: { code: number, message: string, data?: unknown }, result?: unknown }> {
  const modern = era === 'modern'
  const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} }
  const body = { jsonrpc: '2.0', id: 1, method, params: modern && params !== null && typeof params === 'object' ? { ...params, _meta: envelope } : params }
  const res = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': modern ? '2026-07-28' : '2025-06-18',
      ...(modern ? { 'mcp-method': method } : {}),
      ...(modern && name !== undefined ? { 'mcp-name': name } : {})
    },
    body: JSON.stringify(body)
  })
  const text = await res.text()
  return JSON.parse(res.headers.get('content-type')?.startsWith('text/event-stream') === true ? /^data: (.*)$/m.exec(text)![1]! : text)
}

t.test('client mistakes are invalid params, unknown resources not found; internal errors stay -32603', async (t) => {
  const open = await startServer([], { backend: demoBackend() })
  t.teardown(open.close)
  const init = { protocolVersion: 7, capabilities: {} }
  t.same((await rpc(open.base, 'legacy', 'initialize', init)).error, {
    code: -32602,
    message: 'Invalid params for initialize: params.protocolVersion: Invalid input: expected string, received number; params.clientInfo: Invalid input: expected object, received undefined'
  }, 'bad initialize params')
  t.same((await rpc(open.base, 'legacy', 'initialize', undefined)).error, { code: -32602, message: 'Invalid params for initialize: params: Invalid input: expected object, received undefined' })
  for (const era of ['legacy', 'modern'] as const) {
    t.same((await rpc(open.base, era, 'tools/list', { cursor: 5 })).error, { code: -32602, message: 'Invalid params for tools/list: params.cursor: Invalid input: expected string, received number' }, `${era}: bad tools/list params`)
    t.same((await rpc(open.base, era, 'resources/read', { uri: 5 })).error, { code: -32602, message: 'Invalid params for resources/read: params.uri: Invalid input: expected string, received number' })
    const read = async (uri: string): Promise<unknown> => (await rpc(open.base, era, 'resources/read', { uri }, uri)).error
    t.same(await read('kafscale://groups/ghosts'), { code: -32602, message: 'consumer group "ghosts" not found', data: { uri: 'kafscale://groups/ghosts' } }, `${era}: an unknown group is resource-not-found`)
    t.same(await read('kafscale://topics/ghosts'), { code: -32602, message: 'topic "ghosts" not found', data: { uri: 'kafscale://topics/ghosts' } }, `${era}: an unknown topic is resource-not-found`)
    const tooLong = `kafscale://topics/${'a'.repeat(250)}`
    t.same(await read(tooLong), {
      code: -32602,
      message: `invalid arguments: names.0 "${'a'.repeat(60)}…": must be a topic name: 1 to 249 characters of well-formed Unicode`,
      data: { uri: tooLong, 'io.kafscale/error': { code: 'KSMCP_ERR_INVALID_INPUT', statusCode: 400 } }
    }, `${era}: an invalid name is invalid params, with the tool's error code`)
    t.same(await read('kafscale://groups/%E0%A4%A'), {
      code: -32602,
      message: 'Resource URI kafscale://groups/%E0%A4%A is invalid: malformed percent-encoding',
      data: { uri: 'kafscale://groups/%E0%A4%A', reason: 'invalid_uri' }
    }, `${era}: a malformed URI`)
  }
  const legacy = await connectClient(open.base, 'legacy')
  t.teardown(async () => { await legacy.close() })
  const notFound = await legacy.readResource({ uri: 'kafscale://groups/ghosts' }).catch((err: unknown) => err)
  t.ok(notFound instanceof ResourceNotFoundError, 'the SDK client recognises resource-not-found')
  t.equal((notFound as ResourceNotFoundError).uri, 'kafscale://groups/ghosts')

  const storeless = await startServer([])
  t.teardown(storeless.close)
  t.same((await rpc(storeless.base, 'legacy', 'resources/read', { uri: 'kafscale://topics/orders' })).error, {
    code: -32603,
    message: 'metadata store not configured: set KAFSCALE_MCP_ETCD_ENDPOINTS (or --etcd-endpoints)',
    data: { uri: 'kafscale://topics/orders', 'io.kafscale/error': { code: 'KSMCP_ERR_STORE_NOT_CONFIGURED', statusCode: 503 } }
  }, 'a failure of the service stays an internal error, with its code')
})
