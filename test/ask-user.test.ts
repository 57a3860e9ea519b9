import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { Client, SSEClientTransport, StreamableHTTPClientTransport, type Transport } from '@modelcontextprotocol/client'
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio'
import { demoBackend } from '../demo/cluster.ts'
import { ERROR_META_KEY } from '../transports/mcp-server.ts'
import { startServer, type RunningServer } from './helpers/server.ts'
import { auditLines, type AuditRecord } from './helpers/audit-file.ts'

// A tool asks its caller's *user* a question (issue 11: a human confirms destructive applies).
// Where the client can carry the question and the answer back — a 2026-07-28 client answering
// input_required, or a 2025-era client on a session (stdio, HTTP+SSE) that declared elicitation —
// its user is asked and the tool sees the answer; everywhere else the tool sees that it cannot
// ask, and nothing waits for an answer that cannot come.

const PROBE = fileURLToPath(new URL('./fixtures/plugins/ask-user.ts', import.meta.url))
const BIN = fileURLToPath(new URL('../bin/kafscale-mcp.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'kafscale-ask-user-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })

const auditPath = join(dir, 'audit.jsonl')
let server: RunningServer
t.before(async () => {
  server = await startServer(['--plugins', PROBE, '--audit-file', auditPath, '--rate-limit', '0'], { backend: demoBackend() })
})
t.teardown(async () => { await server.close() })

type UserAnswer = { action: 'accept', content: Record<string, string | number | boolean | string[]> } | { action: 'decline' | 'cancel' }

/** A client whose user answers every question with `answer`; `asked` keeps the questions it saw. */
interface AskingClient { client: Client, asked: unknown[] }

type Route = 'modern /mcp' | 'legacy /mcp' | 'legacy /sse' | 'legacy stdio' | 'modern stdio'

function transportFor (route: Route, audit: string): Transport {
  if (route === 'modern /mcp' || route === 'legacy /mcp') return new StreamableHTTPClientTransport(new URL(`${server.base}/mcp`))
  if (route === 'legacy /sse') return new SSEClientTransport(new URL(`${server.base}/sse`))
  return new StdioClientTransport({
    command: process.execPath,
    args: [BIN, '--stdio', '--demo', '--plugins', PROBE, '--audit-file', audit, '--log-level', 'silent'],
    stderr: 'ignore'
  })
}

/**
 * `elicitation`: the modes the client declares; none is no elicitation capability, 'bare' is
 * `elicitation: {}` as 2025-06-18 clients declare it (form, before modes existed).
 */
async function connect (t: Test, route: Route, options: { elicitation: Array<'form' | 'url'> | 'bare', answer?: UserAnswer, audit?: string }): Promise<AskingClient> {
  const asked: unknown[] = []
  const modes = options.elicitation === 'bare' ? [] : options.elicitation
  const client = new Client({ name: 'ask-user-tests', version: '1.0.0' }, {
    capabilities: options.elicitation === 'bare' || modes.length > 0 ? { elicitation: Object.fromEntries(modes.map((mode) => [mode, {}])) } : {},
    ...(route.startsWith('modern') ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {})
  })
  if (options.elicitation.length > 0) {
    client.setRequestHandler('elicitation/create', async (request) => {
      asked.push(request.params)
      return options.answer ?? { action: 'cancel' }
    })
  }
  await client.connect(transportFor(route, options.audit ?? auditPath))
  t.teardown(async () => { await client.close() })
  return { client, asked }
}

/** Calls ask_probe; what came back and the audit records the call left. */
async function callProbe (client: Client, path: string, args: Record<string, unknown> = {}): Promise<{ result: Awaited<ReturnType<Client['callTool']>>, records: AuditRecord[] }> {
  const before = auditLines(path).length
  const result = await client.callTool({ name: 'ask_probe', arguments: args })
  return { result, records: auditLines(path).slice(before) }
}

const QUESTION = { message: 'proceed?', requestedSchema: { type: 'object', properties: { proceed: { type: 'boolean' } }, required: ['proceed'] } }

/** Two rounds, two records: the question, then the call that carried the answer. */
function checkAskedAndAnswered (t: Test, records: AuditRecord[], transport: string): void {
  t.match(records, [
    { transport, tool: 'ask_probe', decision: 'allow', outcome: 'error', error_code: 'KSMCP_ERR_INPUT_REQUIRED' },
    { transport, tool: 'ask_probe', decision: 'allow', outcome: 'ok' }
  ], 'one audit record per round: the asking one, then the answering one')
  t.equal(records.length, 2)
  t.not(records[1]?.error_code, 'KSMCP_ERR_INPUT_REQUIRED')
}

t.test('2026-07-28 over /mcp: the SDK client asks its user and calls again with the answer', async (t) => {
  for (const [answer, expected] of [
    [{ action: 'accept', content: { proceed: true } }, 'yes'],
    [{ action: 'accept', content: { proceed: false } }, 'no'],
    [{ action: 'decline' }, 'decline'],
    [{ action: 'cancel' }, 'cancel']
  ] as Array<[UserAnswer, string]>) {
    const { client, asked } = await connect(t, 'modern /mcp', { elicitation: ['form'], answer })
    const { result, records } = await callProbe(client, auditPath)
    t.equal(result.isError, undefined, `${expected}: a complete result`)
    t.same(result.structuredContent, { answer: expected }, `${expected}: the tool saw what the user answered`)
    t.match(asked, [QUESTION], `${expected}: the user was asked once, the tool's question`)
    t.equal(asked.length, 1)
    checkAskedAndAnswered(t, records, 'mcp')
  }
  const bare = await connect(t, 'modern /mcp', { elicitation: 'bare', answer: { action: 'accept', content: { proceed: true } } })
  t.same((await callProbe(bare.client, auditPath)).result.structuredContent, { answer: 'yes' }, 'a bare elicitation capability is form mode')
})

t.test('2026-07-28 without form elicitation: the tool sees it cannot ask', async (t) => {
  const urlOnly = await connect(t, 'modern /mcp', { elicitation: ['url'] })
  const refused = await callProbe(urlOnly.client, auditPath)
  t.same(refused.result._meta?.[ERROR_META_KEY], { code: 'ASK_PROBE_CANNOT_ASK', statusCode: 403 }, 'a client that only opens URLs cannot answer a form')
  t.same(urlOnly.asked, [])
  const { client } = await connect(t, 'modern /mcp', { elicitation: [] })
  const { result, records } = await callProbe(client, auditPath)
  t.equal(result.isError, true)
  t.same(result._meta?.[ERROR_META_KEY], { code: 'ASK_PROBE_CANNOT_ASK', statusCode: 403 }, 'the tool refused in its own words')
  t.match(records, [{ outcome: 'error', error_code: 'ASK_PROBE_CANNOT_ASK' }])
  const anyway = await callProbe(client, auditPath, { ask_anyway: true })
  t.same(anyway.result._meta?.[ERROR_META_KEY], { code: 'KSMCP_ERR_CANNOT_ASK_USER', statusCode: 428 }, 'a question thrown anyway: the registry refuses it, no input_required the client cannot serve')
  t.match(anyway.result.content, [{ type: 'text', text: /this client cannot ask its user/ }])
})

t.test('2025 era over stateless /mcp: no way back for an answer, so the tool cannot ask, and nothing waits', async (t) => {
  // The client declared elicitation at initialize, but each request meets a fresh server instance:
  // an elicitation/create sent from there could never be answered.
  const { client, asked } = await connect(t, 'legacy /mcp', { elicitation: ['form'], answer: { action: 'accept', content: { proceed: true } } })
  const { result, records } = await callProbe(client, auditPath)
  t.same(result._meta?.[ERROR_META_KEY], { code: 'ASK_PROBE_CANNOT_ASK', statusCode: 403 })
  t.match(records, [{ transport: 'mcp', outcome: 'error', error_code: 'ASK_PROBE_CANNOT_ASK' }])
  t.equal(records.length, 1)
  const anyway = await callProbe(client, auditPath, { ask_anyway: true })
  t.same(anyway.result._meta?.[ERROR_META_KEY], { code: 'KSMCP_ERR_CANNOT_ASK_USER', statusCode: 428 })
  t.match(anyway.result.content, [{ type: 'text', text: /use an MCP client of protocol 2026-07-28, or one with elicitation over a session/ }])
  t.equal(anyway.records.length, 1, 'one round: nothing was sent to the client')
  t.same(asked, [], 'the user was never asked')
})

t.test('2025 era over HTTP+SSE (a session): the SDK shim sends elicitation/create and the tool gets the answer', async (t) => {
  for (const [answer, expected] of [
    [{ action: 'accept', content: { proceed: true } }, 'yes'],
    [{ action: 'decline' }, 'decline']
  ] as Array<[UserAnswer, string]>) {
    const { client, asked } = await connect(t, 'legacy /sse', { elicitation: 'bare', answer })
    const { result, records } = await callProbe(client, auditPath)
    t.same(result.structuredContent, { answer: expected }, `${expected}: the tool saw what the user answered`)
    t.match(asked, [QUESTION])
    t.equal(asked.length, 1)
    checkAskedAndAnswered(t, records, 'mcp')
  }
  const { client, asked } = await connect(t, 'legacy /sse', { elicitation: [] })
  const { result } = await callProbe(client, auditPath)
  t.same(result._meta?.[ERROR_META_KEY], { code: 'ASK_PROBE_CANNOT_ASK', statusCode: 403 }, 'a session client that did not declare elicitation: the tool cannot ask')
  t.same(asked, [])
})

for (const route of ['legacy stdio', 'modern stdio'] as const) {
  t.test(`${route}: the user is asked over the process's pipes`, async (t) => {
    const audit = join(dir, `${route.replace(' ', '-')}.jsonl`)
    const { client, asked } = await connect(t, route, { elicitation: ['form'], answer: { action: 'accept', content: { proceed: true } }, audit })
    const { result, records } = await callProbe(client, audit)
    t.same(result.structuredContent, { answer: 'yes' })
    t.match(asked, [QUESTION])
    checkAskedAndAnswered(t, records, 'stdio')
  })
}
