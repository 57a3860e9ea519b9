import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { Client } from '@modelcontextprotocol/client'
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio'
import { demoBackend, startDemoBrokerMetrics } from '../demo/cluster.ts'
import { startControlServer } from './helpers/control-server.ts'
import { connectClient, startServer, type Era } from './helpers/server.ts'

// The interop matrix: third-party MCP clients (the Python SDK 1.x and 2.x, the official Go SDK)
// drive the real server on the demo cluster. Each lists the tools, calls every one, reads a
// resource and gets a prompt, and must see what our own SDK client sees for the same calls, in
// the same protocol era. Without the token each must be refused with the server's own 401.
// The clients are installed by scripts/ensure-python-mcp.sh and scripts/ensure-go-mcp-client.sh.

const TOKEN = 'interop-test-token'
const BIN = fileURLToPath(new URL('../bin/kafscale-mcp.ts', import.meta.url))
const PYTHON_CLIENT = fileURLToPath(new URL('./clients/python/client.py', import.meta.url))
const CACHE = fileURLToPath(new URL('../.cache/', import.meta.url))
const PROTOCOL: Record<Era, string> = { modern: '2026-07-28', legacy: '2025-11-25' }

/** Arguments valid for the demo cluster, one entry per tool: a new tool must be added here. */
const PLAN = {
  calls: {
    cluster_status: {},
    cluster_metrics: {},
    list_topics: { prefix: 'o' },
    describe_topics: { names: ['orders', 'clickstream'] },
    list_groups: {},
    describe_group: { group_id: 'analytics' },
    fetch_offsets: { group_id: 'billing', topics: ['orders'] },
    describe_configs: { topics: ['orders'] },
    consumer_lag: { group_id: 'analytics' },
    cluster_health: { lag_threshold: 100 },
    broker_status: { node_ids: [0, 1, 2] }
  } as Record<string, Record<string, unknown>>,
  resource: 'kafscale://groups/analytics',
  prompt: { name: 'diagnose-consumer-lag', arguments: { group: 'analytics' } }
}

/** What a client saw, as each client program prints it. */
interface Report {
  client: string
  protocolVersion?: string
  tools?: string[]
  /** `error`: the client's SDK failed the call (e.g. refused an answer off the tool's outputSchema). */
  calls?: Record<string, { isError?: boolean, structuredContent?: unknown, error?: string }>
  resource?: Array<{ uri: string, mimeType?: string, text?: string }>
  prompt?: unknown[]
  error?: { status: number, wwwAuthenticate: string, body: unknown, message: string }
}

interface ThirdParty {
  name: string
  /** The era the client negotiates with this server. */
  era: Era
  command: string
  args: (url: string) => string[]
  installer: string
}

const pythonSdks = readdirSync(fileURLToPath(new URL('./clients/python/', import.meta.url)))
  .map((file) => /^requirements-mcp-(.+)\.txt$/.exec(file)?.[1])
  .filter((version) => version !== undefined)

function pythonOf (version: string): string {
  return `${CACHE}python-mcp-${version}/bin/python`
}

/** 1.x speaks only the initialize handshake; 2.x also 2026-07-28, which its 'auto' mode picks. */
function eraOf (version: string): Era {
  return Number(version.split('.')[0]) >= 2 ? 'modern' : 'legacy'
}

const HTTP_CLIENTS: ThirdParty[] = [
  ...pythonSdks.flatMap((version) => [...new Set([eraOf(version), 'legacy' as const])].map((era) => ({
    name: `Python SDK ${version} (${era})`,
    era,
    command: pythonOf(version),
    args: (url: string) => [PYTHON_CLIENT, 'http', url, '--mode', era === 'modern' ? 'auto' : 'legacy'],
    installer: 'scripts/ensure-python-mcp.sh'
  }))),
  ...(['modern', 'legacy'] as const).map((era) => ({
    name: `Go SDK (${era})`,
    era,
    command: `${CACHE}bin/mcp-go-client`,
    args: (url: string) => ['-url', url, '-mode', era === 'modern' ? 'auto' : 'legacy'],
    installer: 'scripts/ensure-go-mcp-client.sh'
  }))
]

const metrics = await startDemoBrokerMetrics()
t.teardown(metrics.close)
const brokerUrls = Object.entries(metrics.urls).map(([id, url]) => `${id}=${url}`).join(',')
const controls = await Promise.all([0, 1, 2].map(async (nodeId) => await startControlServer({ behaviour: 'today', nodeId })))
t.teardown(async () => { await Promise.all(controls.map(async (c) => { await c.close() })) })
const clusterArgs = ['--broker-metrics-urls', brokerUrls, '--broker-control-addrs', controls.map((c, id) => `${id}=${c.address}`).join(',')]
// The rate limit is off: all the matrix's requests come from one caller.
const server = await startServer(['--auth-token', TOKEN, '--rate-limit', '0', ...clusterArgs], { backend: demoBackend() })
t.teardown(server.close)
const url = `${server.base}/mcp`
const toolNames = server.app.tools.list().map((tool) => tool.definition.name)

/** Timestamps differ between two clients' calls: when each was answered, and over stdio, when each demo process made its data. */
// consumer_lag's judgement of the lag (status, rates, evidence) rests on what the service has
// seen so far, and each call shows it more: two calls in a row may differ there and nowhere else.
const HISTORY_FIELDS = new Set(['status', 'status_reason', 'status_counts', 'consumption_rate', 'production_rate', 'rate_reason', 'catch_up_seconds', 'catch_up_reason', 'evidence', 'evidence_omitted', 'lag_window'])

/** The answer without consumer_lag's judgement (HISTORY_FIELDS), at any depth. */
function withoutHistory (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutHistory)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).filter(([k]) => !HISTORY_FIELDS.has(k)).map(([k, v]) => [k, withoutHistory(v)]))
  return value
}

function timeless (value: unknown): unknown {
  if (typeof value === 'string') return /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value) ? '<date-time>' : value
  if (Array.isArray(value)) return value.map(timeless)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, timeless(v)]))
  return value
}

/** The same plan through our own SDK client: what the third-party client must have seen. */
async function expectedThrough (client: Client): Promise<Report> {
  const { tools } = await client.listTools()
  const calls: NonNullable<Report['calls']> = {}
  for (const tool of tools) {
    try {
      const result = await client.callTool({ name: tool.name, arguments: PLAN.calls[tool.name] ?? {} })
      calls[tool.name] = { isError: result.isError === true, structuredContent: result.structuredContent }
    } catch (err) {
      calls[tool.name] = { error: (err as Error).message }
    }
  }
  const { contents } = await client.readResource({ uri: PLAN.resource })
  const { messages } = await client.getPrompt(PLAN.prompt)
  await client.close()
  return { client: 'ours', tools: tools.map((tool) => tool.name), calls, resource: contents as Report['resource'], prompt: messages }
}

const expectedOverHttp: Record<Era, Report> = {
  modern: await expectedThrough(await connectClient(server.base, 'modern', { authorization: `Bearer ${TOKEN}` })),
  legacy: await expectedThrough(await connectClient(server.base, 'legacy', { authorization: `Bearer ${TOKEN}` }))
}

async function runClient (command: string, args: string[], token?: string): Promise<{ code: number | null, report: Report | undefined, stderr: string }> {
  const env = { ...process.env }
  delete env.MCP_TOKEN
  if (token !== undefined) env.MCP_TOKEN = token
  return await new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8') })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
    child.on('error', reject)
    child.on('close', (code) => {
      let report: Report | undefined
      try {
        report = JSON.parse(stdout) as Report
      } catch {}
      resolve({ code, report, stderr: `${stderr}${report === undefined ? `\nstdout: ${stdout}` : ''}`.slice(-4000) })
    })
    child.stdin.end(JSON.stringify(PLAN))
  })
}

/** A missing client fails in CI and is skipped with a hint elsewhere, like the other installed tools. */
function installed (t: Test, command: string, installer: string): boolean {
  if (existsSync(command)) return true
  if (process.env.CI === undefined) t.comment(`SKIP: ${command} is missing: run 'bash ${installer}' (npm test's pretest does)`)
  else t.fail(`${command} is missing: CI must install it (${installer})`)
  return false
}

function checkSameAsOurs (t: Test, seen: Report, expected: Report): void {
  t.same(seen.tools, expected.tools, 'the tools our client lists, in its order')
  t.same(Object.keys(seen.calls ?? {}).sort(), [...toolNames].sort(), 'every tool was called')
  for (const name of toolNames) {
    const call = seen.calls?.[name]
    t.equal(call?.error, undefined, `${name}: the client took the answer`)
    t.equal(call?.isError, false, `${name} answered`)
    t.type(call?.structuredContent, 'object', `${name} has structured output`)
    const comparable = (output: unknown): unknown => timeless(name === 'consumer_lag' ? withoutHistory(output) : output)
    t.same(comparable(call?.structuredContent), comparable(expected.calls?.[name]?.structuredContent), `${name}: the structured output our client saw`)
  }
  // The resource is a group's: its lag carries the judgement too.
  t.same(seen.resource?.map((c) => ({ ...c, text: timeless(withoutHistory(JSON.parse(c.text ?? 'null'))) })),
    expected.resource?.map((c) => ({ ...c, text: timeless(withoutHistory(JSON.parse(c.text ?? 'null'))) })), `resources/read ${PLAN.resource}`)
  t.same(seen.prompt, expected.prompt, `prompts/get ${PLAN.prompt.name}`)
}

t.test('the plan names every tool the server serves', async (t) => {
  t.same(Object.keys(PLAN.calls).sort(), [...toolNames].sort())
  t.same(expectedOverHttp.modern.tools, expectedOverHttp.legacy.tools)
  for (const era of ['modern', 'legacy'] as const) {
    for (const name of toolNames) {
      const call = expectedOverHttp[era].calls?.[name]
      t.equal(call?.error, undefined, `${era} ${name}: our client took the answer`)
      t.equal(call?.isError, false, `${era} ${name}: our client's call succeeded`)
    }
  }
})

for (const client of HTTP_CLIENTS) {
  t.test(`${client.name} over streamable HTTP`, async (t) => {
    if (!installed(t, client.command, client.installer)) return

    t.test('with the token it lists, calls every tool, reads a resource, gets a prompt', async (t) => {
      const run = await runClient(client.command, client.args(url), TOKEN)
      t.equal(run.code, 0, run.stderr)
      const seen = run.report!
      t.equal(seen.error, undefined, 'no error')
      t.equal(seen.protocolVersion, PROTOCOL[client.era], 'the era negotiated')
      checkSameAsOurs(t, seen, expectedOverHttp[client.era])
    })

    t.test('without the token it reports the server\'s 401', async (t) => {
      const refused = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' })
      t.equal(refused.status, 401, 'the server refuses a request without the token')
      t.match(refused.headers.get('www-authenticate'), /^Bearer /)
      const run = await runClient(client.command, client.args(url))
      t.equal(run.code, 1, run.stderr)
      const error = run.report?.error
      t.comment(`${client.name} says: ${error?.message}`)
      t.equal(error?.status, 401, 'the client saw the 401')
      t.equal(error?.wwwAuthenticate, refused.headers.get('www-authenticate'), 'and its challenge')
      t.same(error?.body, await refused.json(), 'and the server\'s own message')
      t.equal(run.report?.tools, undefined, 'nothing was listed')
    })
  })
}

t.test('the Python SDKs over stdio', async (t) => {
  const command = [process.execPath, BIN, '--stdio', '--demo', '--log-level', 'silent', ...clusterArgs]
  for (const version of pythonSdks) {
    t.test(`Python SDK ${version}`, async (t) => {
      if (!installed(t, pythonOf(version), 'scripts/ensure-python-mcp.sh')) return
      const era = eraOf(version)
      const ours = new Client({ name: 'kafscale-mcp-tests', version: '1.0.0' }, era === 'modern' ? { versionNegotiation: { mode: { pin: PROTOCOL.modern } } } : {})
      await ours.connect(new StdioClientTransport({ command: command[0]!, args: command.slice(1) }))
      const expected = await expectedThrough(ours)
      const run = await runClient(pythonOf(version), [PYTHON_CLIENT, 'stdio', ...command])
      t.equal(run.code, 0, run.stderr)
      t.equal(run.report?.protocolVersion, PROTOCOL[era], 'the era negotiated')
      checkSameAsOurs(t, run.report!, expected)
    })
  }
})
