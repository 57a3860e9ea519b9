import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import Fastify from 'fastify'
import { demoBackend } from '../demo/cluster.ts'
import abuseLimitsPlugin from '../plugins/abuse-limits.ts'
import authPlugin from '../plugins/auth.ts'
import restPlugin from '../transports/rest.ts'
import { connectClient, startServer, type RunningServer } from './helpers/server.ts'

// The gate in front of every data route (/api/v1/*, /sse, /messages, /mcp), and the limits
// behind it. Probes go through node:http or a bare socket: fetch() rewrites Host and cannot
// send two of them, an absolute-form target, or pick the client address.

const dir = mkdtempSync(join(tmpdir(), 'kafscale-gate-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const INITIALIZE = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'probe', version: '1' } } })
const MCP_ACCEPT = 'application/json, text/event-stream'
/** A second loopback address: Linux routes all of 127/8 to lo, so a client can call from it. */
const BYSTANDER = '127.0.0.2'

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, text: string, json: () => any }

function portOf (server: RunningServer): number {
  return Number(new URL(server.base).port)
}

/** One request through node:http, which sends the Host header it is given. */
async function send (server: RunningServer, method: string, path: string, headers: Record<string, string>, body?: string, localAddress?: string): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: portOf(server), method, path, headers, ...(localAddress !== undefined ? { localAddress } : {}) }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** A request written byte for byte on a socket, for what node:http will not send. */
async function sendRaw (server: RunningServer, head: string, body = ''): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const socket = connect(portOf(server), '127.0.0.1', () => {
      socket.end(`${head}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
    })
    let raw = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { raw += chunk })
    socket.on('error', reject)
    socket.on('end', () => {
      const [head = '', text = ''] = raw.split('\r\n\r\n', 2)
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: {}, text, json: () => JSON.parse(text) })
    })
  })
}

interface Stream { status: number, endpoint: string, events: string[], next: () => Promise<string>, close: () => void, refusal?: any }

/** GET /sse held open; resolves once the endpoint event arrived (or with the refusal). */
async function openSse (server: RunningServer, headers: Record<string, string> = {}, localAddress?: string): Promise<Stream> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: portOf(server), path: '/sse', headers: { accept: 'text/event-stream', ...headers }, ...(localAddress !== undefined ? { localAddress } : {}) }, (res) => {
      let buffer = ''
      const events: string[] = []
      const waiting: Array<(event: string) => void> = []
      res.setEncoding('utf8')
      const stream: Stream = {
        status: res.statusCode ?? 0,
        endpoint: '',
        events,
        next: async () => await new Promise((resolve) => { const e = events.shift(); if (e !== undefined) resolve(e); else waiting.push(resolve) }),
        close: () => { req.destroy() }
      }
      if (stream.status !== 200) {
        res.on('data', (chunk: string) => { buffer += chunk })
        res.on('end', () => { resolve({ ...stream, refusal: JSON.parse(buffer) }) })
        return
      }
      res.on('data', (chunk: string) => {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const endpoint = /^event: endpoint\ndata: (\S+)/.exec(event)?.[1]
          if (endpoint !== undefined) {
            stream.endpoint = endpoint
            resolve(stream)
          } else if (event.startsWith('event: message')) {
            const data = /\ndata: (.*)/.exec(event)![1]!
            const waiter = waiting.shift()
            if (waiter !== undefined) waiter(data)
            else events.push(data)
          }
        }
      })
    })
    req.on('error', reject)
    req.end()
  })
}

async function until (what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`never happened: ${what}`)
}

const json = { 'content-type': 'application/json' }

t.test('one gate covers every data route with the same Host and Origin rules', async (t) => {
  const auditFile = join(dir, 'rebinding.jsonl')
  const server = await startServer(['--audit-file', auditFile], { backend: demoBackend() })
  t.teardown(server.close)
  const port = portOf(server)
  const attacker = { host: `attacker.example:${port}`, origin: `http://attacker.example:${port}` }
  const dataRoutes: Array<[string, string, Record<string, string>, string | undefined]> = [
    ['POST', '/api/v1/tools/fetch_offsets', json, '{"group_id":"billing"}'],
    ['GET', '/api/v1/tools', {}, undefined],
    ['GET', '/sse', { accept: 'text/event-stream' }, undefined],
    ['HEAD', '/sse', {}, undefined],
    ['POST', '/messages?sessionId=any', json, INITIALIZE],
    ['POST', '/mcp', { ...json, accept: MCP_ACCEPT }, INITIALIZE]
  ]
  for (const [method, path, headers, body] of dataRoutes) {
    const rebound = await send(server, method, path, { ...headers, ...attacker }, body)
    t.equal(rebound.status, 403, `${method} ${path}: a foreign Host is refused`)
    const crossSite = await send(server, method, path, { ...headers, origin: attacker.origin }, body)
    t.equal(crossSite.status, 403, `${method} ${path}: a foreign Origin is refused`)
  }
  t.same((await send(server, 'POST', '/api/v1/tools/fetch_offsets', { ...json, ...attacker }, '{"group_id":"billing"}')).json(), {
    statusCode: 403,
    code: 'KSMCP_ERR_FORBIDDEN_HOST',
    error: 'Forbidden',
    message: `forbidden: this server does not answer to host "attacker.example:${port}" (DNS-rebinding protection); list it in KAFSCALE_MCP_ALLOWED_HOSTS (--allowed-hosts)`
  })
  t.same((await send(server, 'POST', '/api/v1/tools/fetch_offsets', { ...json, origin: attacker.origin }, '{"group_id":"billing"}')).json(), {
    statusCode: 403,
    code: 'KSMCP_ERR_FORBIDDEN_ORIGIN',
    error: 'Forbidden',
    message: `forbidden: browser origin "http://attacker.example:${port}" is not allowed; list its hostname in KAFSCALE_MCP_ALLOWED_ORIGINS (--allowed-origins)`
  })
  t.match((await send(server, 'POST', '/mcp', { ...json, accept: MCP_ACCEPT, ...attacker }, INITIALIZE)).json(),
    { jsonrpc: '2.0', id: null, error: { code: -32600, message: /^Invalid Request: forbidden: this server does not answer to host/ } }, '/mcp answers in JSON-RPC')
  t.notOk(existsSync(auditFile) && readFileSync(auditFile, 'utf8') !== '', 'no refused request reached a tool')

  for (const path of ['/healthz', '/readyz', '/metrics']) {
    t.equal((await send(server, 'GET', path, attacker)).status, 200, `${path} stays outside the gate`)
  }
  const local = await send(server, 'POST', '/api/v1/tools/fetch_offsets', { ...json, host: `127.0.0.1:${port}`, origin: `http://localhost:${port}` }, '{"group_id":"billing"}')
  t.equal(local.status, 200, 'the local Host and Origin pass')
  t.equal(readFileSync(auditFile, 'utf8').trim().split('\n').length, 1, 'and that call is the one the audit saw')
})

t.test('POST routes take JSON bodies only', async (t) => {
  const auditFile = join(dir, 'media.jsonl')
  const server = await startServer(['--audit-file', auditFile], { backend: demoBackend() })
  t.teardown(server.close)
  const asText = await send(server, 'POST', '/api/v1/tools/fetch_offsets', { 'content-type': 'text/plain' }, '{"group_id":"billing"}')
  t.equal(asText.status, 415)
  t.same(asText.json(), { statusCode: 415, code: 'KSMCP_ERR_UNSUPPORTED_MEDIA_TYPE', error: 'Unsupported Media Type', message: 'unsupported content type "text/plain": send the body as application/json' })
  const bare = await send(server, 'POST', '/api/v1/tools/list_topics', {})
  t.same(bare.json(), { statusCode: 415, code: 'KSMCP_ERR_UNSUPPORTED_MEDIA_TYPE', error: 'Unsupported Media Type', message: 'unsupported content type (none): send the body as application/json' }, 'a POST without a body runs nothing either')
  t.equal((await send(server, 'POST', '/api/v1/tools/list_topics', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=1')).status, 415, 'nor a form post')
  t.equal((await send(server, 'POST', '/messages?sessionId=any', { 'content-type': 'text/plain' }, INITIALIZE)).status, 415)
  t.notOk(existsSync(auditFile) && readFileSync(auditFile, 'utf8') !== '', 'no tool ran')
  t.equal((await send(server, 'POST', '/api/v1/tools/list_topics', { 'content-type': 'application/json; charset=utf-8' }, '{}')).status, 200, 'JSON with a charset is JSON')
})

t.test('a request names exactly one host', async (t) => {
  const server = await startServer([], { backend: demoBackend() })
  t.teardown(server.close)
  const here = `127.0.0.1:${portOf(server)}`
  const mcpHeaders = `content-type: application/json\r\naccept: ${MCP_ACCEPT}`
  const twice = await sendRaw(server, `POST /mcp HTTP/1.1\r\nhost: ${here}\r\nhost: attacker.example\r\n${mcpHeaders}`, INITIALIZE)
  t.equal(twice.status, 400, 'two Host headers on /mcp')
  t.same(twice.json(), { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: ambiguous host: the request has more than one Host header' } })
  const twiceRest = await sendRaw(server, `POST /api/v1/tools/list_topics HTTP/1.1\r\nhost: ${here}\r\nhost: attacker.example\r\ncontent-type: application/json`, '{}')
  t.same(twiceRest.json(), { statusCode: 400, code: 'KSMCP_ERR_BAD_HOST', error: 'Bad Request', message: 'ambiguous host: the request has more than one Host header' })
  const absolute = await sendRaw(server, `POST http://attacker.example/mcp HTTP/1.1\r\nhost: ${here}\r\n${mcpHeaders}`, INITIALIZE)
  t.equal(absolute.status, 400, 'an absolute-form target naming a foreign host')
  t.match(absolute.json(), { error: { message: `Invalid Request: ambiguous host: the request target names host "attacker.example", the Host header "${here}"` } })
  const both = await sendRaw(server, `POST http://attacker.example/mcp HTTP/1.1\r\nhost: attacker.example\r\n${mcpHeaders}`, INITIALIZE)
  t.equal(both.status, 403, 'and naming it in Host too')
  const own = await sendRaw(server, `POST http://${here}/mcp HTTP/1.1\r\nhost: ${here}\r\n${mcpHeaders}`, INITIALIZE)
  t.equal(own.status, 200, 'an absolute-form target naming this server is served')
  t.match(own.text, '"serverInfo"')
})

t.test('streams have their own caps and leave the in-flight slots alone', async (t) => {
  const server = await startServer(['--auth-token', 'shared-token', '--max-concurrent', '1', '--max-streams', '2', '--max-streams-total', '3'], { backend: demoBackend() })
  t.teardown(server.close)
  const auth = { authorization: 'Bearer shared-token' }
  const first = await openSse(server, auth)
  const second = await openSse(server, auth)
  t.teardown(() => { first.close(); second.close() })
  t.equal(first.status, 200)
  t.equal(second.status, 200)
  const third = await openSse(server, auth)
  t.equal(third.status, 429, 'a third stream of one caller is refused')
  t.same(third.refusal, { statusCode: 429, code: 'KSMCP_ERR_TOO_MANY_STREAMS', error: 'Too Many Requests', message: 'too many open streams: at most 2 at once per caller; close an SSE session or subscription first' })

  const posted = await send(server, 'POST', first.endpoint, { ...json, ...auth }, INITIALIZE)
  t.equal(posted.status, 202, 'a message into an open session is accepted with the caller\'s streams all open')
  t.match(JSON.parse(await first.next()), { jsonrpc: '2.0', id: 1, result: { serverInfo: { name: String } } }, 'and answered on its stream')
  t.equal((await send(server, 'POST', '/api/v1/tools/list_topics', { ...json, ...auth }, '{}')).status, 200, 'ordinary requests still have their slot')

  const bystander = await openSse(server, auth, BYSTANDER)
  t.teardown(bystander.close)
  t.equal(bystander.status, 200, 'the same static token from another address is another caller')
  const overflow = await openSse(server, auth, BYSTANDER)
  t.equal(overflow.status, 503, 'the cap over all callers holds')
  t.same(overflow.refusal, { statusCode: 503, code: 'KSMCP_ERR_STREAMS_EXHAUSTED', error: 'Service Unavailable', message: 'the server already holds its maximum of 3 open streams; retry later' })
  t.equal((await send(server, 'POST', '/api/v1/tools/list_topics', { ...json, ...auth }, '{}', BYSTANDER)).status, 200)

  second.close()
  await until('a closed stream gives its slot back', async () => {
    const again = await openSse(server, auth, BYSTANDER)
    again.close()
    return again.status === 200
  })
})

t.test('requests in flight are capped per caller; an open subscription holds no such slot', async (t) => {
  // A broker whose metrics answer only when the test lets them holds a call in flight.
  const release: Array<() => void> = []
  const broker = createServer((_req, res) => { release.push(() => res.end('')) })
  await new Promise<void>((resolve) => broker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { broker.closeAllConnections(); broker.close() })
  const metricsUrl = `http://127.0.0.1:${(broker.address() as AddressInfo).port}/metrics`
  const server = await startServer(['--max-concurrent', '1', '--broker-metrics-url', metricsUrl, '--metrics-timeout', '60s'], { backend: demoBackend() })
  t.teardown(server.close)
  const client = await connectClient(server.base, 'modern')
  t.teardown(async () => { await client.close() })
  const listening = await client.listen({ resourcesListChanged: true })
  t.teardown(async () => { await listening.close() })
  t.equal((await send(server, 'POST', '/api/v1/tools/list_topics', json, '{}')).status, 200, 'the subscription leaves the one slot free')

  const scraped = new Promise((resolve) => broker.once('request', resolve))
  const held = send(server, 'POST', '/api/v1/tools/cluster_metrics', json, '{}')
  await scraped
  const second = await send(server, 'POST', '/api/v1/tools/list_topics', json, '{}')
  t.equal(second.status, 429)
  t.equal(second.headers['retry-after'], '1')
  t.same(second.json(), { statusCode: 429, code: 'KSMCP_ERR_TOO_MANY_CONCURRENT', error: 'Too Many Requests', message: 'too many concurrent requests: at most 1 at once per caller' })
  t.equal((await send(server, 'POST', '/api/v1/tools/list_topics', json, '{}', BYSTANDER)).status, 200, 'another address is another caller')
  for (const answer of release) answer()
  await held
  t.equal((await send(server, 'POST', '/api/v1/tools/list_topics', json, '{}')).status, 200, 'the slot is given back')
})

t.test('subscriptions/listen counts as a stream, not as a request in flight', async (t) => {
  const server = await startServer(['--max-concurrent', '1', '--max-streams', '1'], { backend: demoBackend() })
  t.teardown(server.close)
  const client = await connectClient(server.base, 'modern')
  t.teardown(async () => { await client.close() })
  const listening = await client.listen({ resourcesListChanged: true })
  t.teardown(async () => { await listening.close() })
  const result = await client.callTool({ name: 'list_topics', arguments: {} })
  t.equal((result.structuredContent as { topics: unknown[] }).topics.length, 6, 'a tool call is served while the subscription is open')
  const second = await send(server, 'POST', '/mcp', { ...json, accept: MCP_ACCEPT, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'subscriptions/listen' },
    JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'subscriptions/listen', params: { notifications: { resourcesListChanged: true }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }))
  t.equal(second.status, 429, 'a second subscription of the same caller is refused')
  t.match(second.json(), { jsonrpc: '2.0', error: { message: 'Invalid Request: too many open streams: at most 1 at once per caller; close an SSE session or subscription first' } })
})

t.test('static-token callers spend their own rate limit', async (t) => {
  const server = await startServer(['--auth-token', 'shared-token', '--rate-limit', '3', '--rate-limit-window', '1m'], { backend: demoBackend() })
  t.teardown(server.close)
  const headers = { ...json, authorization: 'Bearer shared-token' }
  for (let i = 0; i < 3; i++) t.equal((await send(server, 'POST', '/api/v1/tools/list_topics', headers, '{}')).status, 200)
  const limited = await send(server, 'POST', '/api/v1/tools/list_topics', headers, '{}')
  t.equal(limited.status, 429)
  t.match(limited.json(), { statusCode: 429, code: 'KSMCP_ERR_RATE_LIMITED', error: 'Too Many Requests', message: /^rate limit exceeded: at most 3 requests per 1 min per caller; the window resets in \d+ s$/ })
  t.equal(limited.json().message.match(/resets in (\d+) s/)[1], limited.headers['retry-after'], 'the time to reset is the Retry-After')
  t.equal((await send(server, 'POST', '/api/v1/tools/list_topics', headers, '{}', BYSTANDER)).status, 200, 'a bystander with the same token is not locked out')
})

t.test('HEAD /sse answers without opening a session', async (t) => {
  const server = await startServer(['--max-streams', '1'], { backend: demoBackend() })
  t.teardown(server.close)
  for (let i = 0; i < 3; i++) {
    const head = await send(server, 'HEAD', '/sse', {})
    t.equal(head.status, 200)
    t.equal(head.headers['content-type'], 'text/event-stream')
  }
  const session = await openSse(server)
  t.teardown(session.close)
  t.equal(session.status, 200, 'the HEADs held no stream: the one allowed session still opens')
  t.match(session.endpoint, /^\/messages\?sessionId=[0-9a-f-]{36}$/)
})

t.test('/messages refuses bodies that are not JSON-RPC messages', async (t) => {
  const server = await startServer([], { backend: demoBackend() })
  t.teardown(server.close)
  const session = await openSse(server)
  t.teardown(session.close)
  const cases: Array<[string, string]> = [['null', 'null'], ['1', 'a number'], ['[]', 'an array'], ['"x"', 'a string'], ['{"jsonrpc":"2.0"}', 'an object without a valid "jsonrpc", "method" or "id"']]
  for (const [body, what] of cases) {
    const res = await send(server, 'POST', session.endpoint, json, body)
    t.equal(res.status, 400, `${body}: 400`)
    t.same(res.json(), { statusCode: 400, code: 'KSMCP_ERR_INVALID_MESSAGE', error: 'Bad Request', message: `not a JSON-RPC message (${what}): POST one JSON-RPC 2.0 request, notification or response object` })
  }
  t.equal((await send(server, 'POST', session.endpoint, json, INITIALIZE)).status, 202, 'a message is still accepted')
  t.match(JSON.parse(await session.next()), { id: 1, result: { protocolVersion: '2024-11-05' } }, 'and the session still answers')
})

t.test('a body nested deeper than any request needs is refused before it is parsed, on every data route', async (t) => {
  const auditFile = join(dir, 'deep.jsonl')
  const server = await startServer(['--audit-file', auditFile], { backend: demoBackend() })
  t.teardown(server.close)
  const session = await openSse(server)
  t.teardown(session.close)
  const nested = (levels: number): string => `${'[{"a":'.repeat(levels)}"deep"${'}]'.repeat(levels)}`
  const refusal = { statusCode: 400, code: 'KSMCP_ERR_JSON_TOO_DEEP', error: 'Bad Request', message: 'the JSON body nests deeper than 64 levels: no valid request needs that many' }
  const rest = await send(server, 'POST', '/api/v1/tools/describe_topics', json, `{"names":${nested(10_000)}}`)
  t.same({ status: rest.status, body: rest.json() }, { status: 400, body: refusal }, 'REST')
  const messages = await send(server, 'POST', session.endpoint, json, `{"jsonrpc":"2.0","id":1,"method":"ping","params":${nested(10_000)}}`)
  t.same({ status: messages.status, body: messages.json() }, { status: 400, body: refusal }, '/messages')
  const mcp = await send(server, 'POST', '/mcp', { ...json, accept: MCP_ACCEPT }, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_topics","arguments":${nested(10_000)}}}`)
  t.same({ status: mcp.status, body: mcp.json() }, { status: 400, body: { jsonrpc: '2.0', id: null, error: { code: -32600, message: `Invalid Request: ${refusal.message}` } } }, '/mcp')
  t.notOk(existsSync(auditFile) && readFileSync(auditFile, 'utf8') !== '', 'no tool ran')
  const brackets = '{"names":["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"]}'
  const inStrings = await send(server, 'POST', '/api/v1/tools/describe_topics', json, brackets)
  t.equal(inStrings.status, 200, 'brackets inside strings, escaped quotes included, are not nesting')
  t.equal((await send(server, 'POST', '/api/v1/tools/describe_topics', json, `{"names":${nested(30)}}`)).status, 400, 'a body within the depth is parsed and validated')
})

t.test('no query-string credential reaches the log', async (t) => {
  const lines: string[] = []
  const canary = 'canary-0b5e-query-secret'
  const server = await startServer([], { backend: demoBackend(), logger: { level: 'info', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(server.close)
  await send(server, 'POST', `/api/v1/tools/list_topics?access_token=${canary}&topic_prefix=kept`, json, '{}')
  await send(server, 'POST', `/mcp?token=${canary}`, { ...json, accept: MCP_ACCEPT }, INITIALIZE)
  await send(server, 'HEAD', `/sse?id_token=${canary}`, {})
  await send(server, 'GET', `/no-such-route?code=${canary}&password=${canary}`, {})
  await send(server, 'GET', `/healthz?api_key=${canary}&client_secret=${canary}&access%5Ftoken=${canary}`, {})
  t.ok(lines.some((l) => l.includes('access_token=[redacted]&topic_prefix=kept')), 'the URL is logged, its credential redacted, the rest kept')
  t.ok(lines.some((l) => l.includes('not found') && l.includes('code=[redacted]')), 'also where Fastify quotes the URL in a message')
  t.notOk(lines.some((l) => l.includes(canary)), `the canary is in none of ${lines.length} log lines`)
})

t.test('a transport outside the gate refuses to start', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(authPlugin, { mode: 'none' })
  await app.register(abuseLimitsPlugin, { rateLimitMax: 0, rateLimitWindowMs: 60_000, maxConcurrent: 0, maxStreams: 0, maxStreamsTotal: 0 })
  await t.rejects(async () => { await app.register(restPlugin, { bodyLimit: 1024 * 1024 }) }, /rest: register it inside the scope of the gate plugin/)
})
