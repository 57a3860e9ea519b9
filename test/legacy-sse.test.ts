import t from 'tap'
import { Client, SSEClientTransport } from '@modelcontextprotocol/client'
import { demoBackend } from '../demo/cluster.ts'
import { startIdp } from './helpers/idp.ts'
import { startServer } from './helpers/server.ts'

// The deprecated HTTP+SSE transport (2024-11-05) for clients older than streamable HTTP.

/** Opens GET /sse by hand and returns the endpoint its first event names. */
async function openSession (base: string, headers: Record<string, string>): Promise<{ endpoint: string, abort: () => void, status: number }> {
  const controller = new AbortController()
  const res = await fetch(`${base}/sse`, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal })
  if (res.status !== 200) return { endpoint: '', abort: () => controller.abort(), status: res.status }
  const reader = res.body!.getReader()
  let text = ''
  while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value)
  return { endpoint: /event: endpoint\ndata: (\S+)/.exec(text)![1]!, abort: () => controller.abort(), status: res.status }
}

t.test('an SSE-era client lists and calls tools', async (t) => {
  const server = await startServer(['--auth-token', 'sse-token'], { backend: demoBackend() })
  t.teardown(server.close)
  const client = new Client({ name: 'sse-era-client', version: '0.9.0' })
  await client.connect(new SSEClientTransport(new URL(`${server.base}/sse`), {
    requestInit: { headers: { authorization: 'Bearer sse-token' } },
    eventSourceInit: { fetch: async (url, init) => await fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), authorization: 'Bearer sse-token' } }) }
  }))
  t.equal((await client.listTools()).tools.length, 11)
  const lag = await client.callTool({ name: 'consumer_lag', arguments: { group_id: 'billing' } })
  t.match(lag.structuredContent, { partition_count: 3 })
  const bad = await client.callTool({ name: 'describe_group', arguments: { group_id: '' } })
  t.equal(bad.isError, true, 'validation and errors as over /mcp')
  await client.close()
  t.equal((await fetch(`${server.base}/sse`, { headers: { accept: 'text/event-stream' } })).status, 401, 'the gate applies')
})

t.test('a session answers only the caller that opened it', async (t) => {
  const idp = await startIdp()
  t.teardown(idp.close)
  const resource = 'https://mcp.example.test/mcp'
  const server = await startServer(['--oidc-issuer', idp.issuer, '--resource-url', resource], { backend: demoBackend() })
  t.teardown(server.close)
  const now = Math.floor(Date.now() / 1000)
  const token = async (sub: string): Promise<string> => await idp.sign({ iss: idp.issuer, aud: resource, sub, iat: now, exp: now + 300, scope: 'kafscale:observe' })
  const alice = { authorization: `Bearer ${await token('alice')}` }
  const bob = { authorization: `Bearer ${await token('bob')}` }
  const session = await openSession(server.base, alice)
  t.teardown(session.abort)
  t.match(session.endpoint, /^\/messages\?sessionId=[0-9a-f-]{36}$/)
  const message = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'x', version: '1' } } })
  const asBob = await fetch(`${server.base}${session.endpoint}`, { method: 'POST', headers: { 'content-type': 'application/json', ...bob }, body: message })
  t.equal(asBob.status, 403)
  t.match(await asBob.json(), { code: 'KSMCP_ERR_FORBIDDEN' })
  const asAlice = await fetch(`${server.base}${session.endpoint}`, { method: 'POST', headers: { 'content-type': 'application/json', ...alice }, body: message })
  t.equal(asAlice.status, 202)
  const unknown = await fetch(`${server.base}/messages?sessionId=nope`, { method: 'POST', headers: { 'content-type': 'application/json', ...alice }, body: message })
  t.equal(unknown.status, 404)
})

t.test('Origin checks and prompt close', async (t) => {
  const server = await startServer([], { backend: demoBackend() })
  const foreign = await fetch(`${server.base}/sse`, { headers: { accept: 'text/event-stream', origin: 'https://evil.example' } })
  t.equal(foreign.status, 403)
  const session = await openSession(server.base, {})
  t.equal(session.status, 200)
  const start = Date.now()
  await server.close()
  t.ok(Date.now() - start < 3000, `closed in ${Date.now() - start} ms with a session open`)
  session.abort()
})
