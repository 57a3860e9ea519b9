import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { heldCalls, releaseHeld } from './fixtures/plugins/held-answer.ts'
import { demoBackend, startDemoMetricsServer } from '../demo/cluster.ts'
import { callRest, connectClient, startServer, type RunningServer } from './helpers/server.ts'

// The HTTP surface, with the demo cluster behind it (no etcd needed for these).

async function post (base: string, path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number, headers: Headers, text: string }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body
  })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

// fetch() drops a caller's Host header, so the DNS-rebinding probe goes through node:http.
async function postWithHost (base: string, host: string, body: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request(`${base}/mcp`, { method: 'POST', headers: { host, 'content-type': 'application/json', accept: 'application/json, text/event-stream' } }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end(body)
  })
}

const HELD_ANSWER = fileURLToPath(new URL('./fixtures/plugins/held-answer.ts', import.meta.url))

const INITIALIZE = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } } })

t.test('Origin and Host validation guard /mcp only', async (t) => {
  const server = await startServer([], { backend: demoBackend() })
  t.teardown(server.close)
  const foreign = await post(server.base, '/mcp', INITIALIZE, { origin: 'https://evil.example' })
  t.equal(foreign.status, 403, 'a foreign Origin is refused')
  const local = await post(server.base, '/mcp', INITIALIZE, { origin: 'http://localhost:5173' })
  t.equal(local.status, 200, 'a localhost Origin is accepted')
  const health = await fetch(`${server.base}/healthz`, { headers: { origin: 'https://evil.example' } })
  t.equal(health.status, 200, '/healthz is unaffected by Origin')
  t.equal(await postWithHost(server.base, 'evil.example', INITIALIZE), 403, 'a foreign Host on a loopback listener is refused (DNS rebinding)')
})

t.test('configured origins are accepted', async (t) => {
  const server = await startServer(['--allowed-origins', 'console.example.com'], { backend: demoBackend() })
  t.teardown(server.close)
  t.equal((await post(server.base, '/mcp', INITIALIZE, { origin: 'https://console.example.com' })).status, 200)
  t.equal((await post(server.base, '/mcp', INITIALIZE, { origin: 'https://other.example.com' })).status, 403)
})

t.test('malformed, oversized and non-JSON bodies get JSON-RPC errors', async (t) => {
  const server = await startServer(['--body-limit', '2048'], { backend: demoBackend() })
  t.teardown(server.close)
  const bad = await post(server.base, '/mcp', '{"jsonrpc":')
  t.equal(bad.status, 400)
  t.match(JSON.parse(bad.text), { jsonrpc: '2.0', id: null, error: { code: -32700, message: /^Parse error/ } })
  const big = await post(server.base, '/mcp', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { pad: 'x'.repeat(4096) } }))
  t.equal(big.status, 413)
  t.same(JSON.parse(big.text), { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: body larger than the 2048 byte limit' } })
  const text = await post(server.base, '/mcp', INITIALIZE, { 'content-type': 'text/plain' })
  t.equal(text.status, 415)
  t.match(JSON.parse(text.text), { jsonrpc: '2.0', error: { code: Number } })
  const get = await fetch(`${server.base}/mcp`, { headers: { accept: 'text/event-stream' } })
  t.equal(get.status, 405, 'stateless: GET streams are not offered')
})

t.test('an unknown tool', async (t) => {
  const server = await startServer([], { backend: demoBackend() })
  t.teardown(server.close)
  const client = await connectClient(server.base, 'modern')
  t.teardown(async () => { await client.close() })
  await t.rejects(client.callTool({ name: 'drop_everything', arguments: {} }), /drop_everything/)
  t.same(await callRest(server.base, 'drop_everything', {}), {
    status: 404, body: { statusCode: 404, code: 'KSMCP_ERR_UNKNOWN_TOOL', error: 'Not Found', message: 'unknown tool "drop_everything"' }
  })
})

t.test('the static bearer token gates /mcp and /api, not /healthz', async (t) => {
  const server = await startServer(['--auth-token', 's3cret-token'], { backend: demoBackend() })
  t.teardown(server.close)
  const none = await post(server.base, '/mcp', INITIALIZE)
  t.equal(none.status, 401)
  const sendToken = 'send `Authorization: Bearer <token>` with the server\'s static token (this server offers no OAuth sign-in; `kafscale-mcp print-config` prints client configurations that send it)'
  t.equal(none.headers.get('www-authenticate'), `Bearer realm="kafscale-mcp", error_description="${sendToken}"`, 'what to send, and no OAuth metadata to chase')
  t.same(JSON.parse(none.text), { statusCode: 401, code: 'KSMCP_ERR_UNAUTHORIZED', error: 'Unauthorized', message: `unauthorized: a bearer token is required: ${sendToken}` })
  t.equal((await fetch(`${server.base}/.well-known/oauth-protected-resource`)).status, 404, 'no authorization server is advertised')
  t.equal((await post(server.base, '/mcp', INITIALIZE, { authorization: 'Bearer wrong' })).status, 401)
  t.equal((await post(server.base, '/mcp', INITIALIZE, { authorization: 'bearer s3cret-token' })).status, 401, 'the scheme is case-sensitive, as in the reference')
  t.equal((await callRest(server.base, 'list_topics', {})).status, 401)
  t.equal((await callRest(server.base, 'list_topics', {}, { authorization: 'Bearer s3cret-token' })).status, 200)
  t.equal((await fetch(`${server.base}/healthz`)).status, 200)
  const client = await connectClient(server.base, 'modern', { authorization: 'Bearer s3cret-token' })
  t.teardown(async () => { await client.close() })
  t.equal((await client.listTools()).tools.length, 11)
})

t.test('without etcd or metrics, tools say what to configure', async (t) => {
  const server = await startServer([])
  t.teardown(server.close)
  t.same((await callRest(server.base, 'list_topics', {})).body, {
    statusCode: 503, code: 'KSMCP_ERR_STORE_NOT_CONFIGURED', error: 'Service Unavailable', message: 'metadata store not configured: set KAFSCALE_MCP_ETCD_ENDPOINTS (or --etcd-endpoints)'
  })
  t.same((await callRest(server.base, 'cluster_metrics', {})).body, {
    statusCode: 503, code: 'KSMCP_ERR_METRICS_NOT_CONFIGURED', error: 'Service Unavailable', message: 'metrics provider not configured: set KAFSCALE_MCP_BROKER_METRICS_URL (or --broker-metrics-url)'
  })
  const ready = await fetch(`${server.base}/readyz`)
  t.equal(ready.status, 503)
})

t.test('broker metrics: failures are prompt and clear, scrapes are shared', async (t) => {
  let hits = 0
  let mode: 'ok' | 'fail' | 'hang' = 'ok'
  const fixture = await startDemoMetricsServer()
  const fixtureText = await (await fetch(fixture.url)).text()
  fixture.server.close()
  const broker: Server = createServer((req, res) => {
    hits++
    if (mode === 'fail') res.writeHead(503).end('down')
    else if (mode === 'ok') res.writeHead(200).end(fixtureText)
    // 'hang': never answer
  })
  await new Promise<void>((resolve) => broker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { broker.closeAllConnections(); broker.close() })
  const url = `http://127.0.0.1:${(broker.address() as AddressInfo).port}/metrics`
  const server = await startServer(['--broker-metrics-url', url, '--metrics-timeout', '300ms', '--metrics-cache-ttl', '1s'], { backend: demoBackend() })
  t.teardown(server.close)

  const answers = await Promise.all(Array.from({ length: 20 }, async () => await callRest(server.base, 'cluster_metrics', {})))
  t.ok(answers.every((a) => a.status === 200 && a.body.produce_rps === 1520.5))
  t.equal(hits, 1, '20 concurrent calls, one scrape')

  await new Promise((resolve) => setTimeout(resolve, 1100))
  mode = 'fail'
  const failed = await callRest(server.base, 'cluster_metrics', {})
  t.same(failed.body, { statusCode: 502, code: 'KSMCP_ERR_METRICS_FAILED', error: 'Bad Gateway', message: `metrics request failed: GET ${url}: 503 Service Unavailable` })
  const status = await callRest(server.base, 'cluster_status', {})
  t.same(status.body.s3, { state: '', latency_ms: 0 }, 'cluster_status still answers without metrics')

  await new Promise((resolve) => setTimeout(resolve, 1100))
  mode = 'hang'
  // The answer is the timeout error, not a hang: the call ended by the scraper's own deadline.
  const hung = await callRest(server.base, 'cluster_metrics', {})
  t.equal(hung.body.code, 'KSMCP_ERR_METRICS_TIMEOUT')
  t.equal(hung.body.message, `metrics request to ${url} did not answer within 300 ms`)
})

t.test('closing the server ends open MCP streams promptly', async (t) => {
  const server: RunningServer = await startServer([], { backend: demoBackend() })
  const client = await connectClient(server.base, 'modern')
  const subscription = await client.listen({ toolsListChanged: true })
  const start = Date.now()
  await server.close()
  const how = await subscription.closed
  t.ok(Date.now() - start < 3000, `closed in ${Date.now() - start} ms`)
  t.match(how, /^(graceful|remote)$/)
  await client.close()
})

t.test('an SSE answer still open after its first event is streamed, not held back until it ends', async (t) => {
  const server: RunningServer = await startServer(['--plugins', HELD_ANSWER], { backend: demoBackend() })
  t.teardown(async () => { releaseHeld(); await server.close() })
  // A 2025-era batch: the quick answer is one event, the held one keeps the stream open after it.
  const batch = JSON.stringify([
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_topics', arguments: {} } },
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'held_answer', arguments: {} } }
  ])
  const res = await fetch(`${server.base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: batch })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  let text = ''
  while (!text.includes('"id":1')) {
    const { done, value } = await reader.read()
    if (done) break
    text += value
  }
  t.match(text, /"id":1/, 'the quick answer arrives while the held one waits')
  t.notMatch(text, /"id":2/)
  t.equal(heldCalls(), 1, 'the held call is still waiting')
  releaseHeld()
  for (let next = await reader.read(); !next.done; next = await reader.read()) text += next.value
  t.match(text, /"id":2,|"id":2}/, 'the held answer follows on the same stream, which then ends')
  t.match(text, /"released":true/)
})
