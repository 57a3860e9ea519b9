import { spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t from 'tap'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { TOKEN_VARIABLE, VSCODE_TOKEN_INPUT } from '../lib/client-config.ts'
import { spawnServer } from './helpers/bin.ts'
import { desktopEnv, desktopNode, mcpRemoteHome, ROOT, startConfiguredServer, type StdioServer } from './helpers/desktop.ts'

// Each configuration `kafscale-mcp print-config` prints, pasted as the user would (the token
// filled in where the client keeps it) and read as the client reads it (its own variable
// syntax), connects to the real server and calls a tool: with a static token and without auth.
// The MCP Inspector's printed command line is run by a shell, with the installed Inspector.

const TOKEN = 'client-config-token-0123456789'
const LAUNCHER = join(ROOT, 'bin/kafscale-mcp.js')

interface Printed { stdout: string, stderr: string }

/** `kafscale-mcp print-config ARGS…`, through the launcher, from the machine's Node. */
function printConfig (args: string[]): Printed & { status: number | null } {
  const run = spawnSync(desktopNode().path, [LAUNCHER, 'print-config', ...args], { encoding: 'utf8', env: desktopEnv() })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

/** Cursor's interpolation of `${env:NAME}` in url and headers (https://cursor.com/docs/mcp). */
function cursorResolve (text: string, env: Record<string, string>): string {
  return text.replace(/\$\{env:([^}]+)\}/g, (_, name: string) => env[name] ?? '')
}

/** VS Code's `${input:id}`: the value the user typed at the prompt the inputs entry declares. */
function vscodeResolve (text: string, answers: Record<string, string>): string {
  return text.replace(/\$\{input:([^}]+)\}/g, (_, id: string) => answers[id] ?? '')
}

async function httpClient (url: string, headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'kafscale-mcp-config-tests', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }))
  return client
}

async function offsetsOf (client: Client): Promise<number> {
  const result = await client.callTool({ name: 'fetch_offsets', arguments: { group_id: 'billing' } })
  return (result.structuredContent as { offsets: unknown[] }).offsets.length
}

for (const mode of [{ name: 'static token', auth: ['--auth-token', TOKEN] }, { name: 'no auth', auth: [] }]) {
  t.test(`${mode.name}: every printed configuration connects and calls a tool`, async (t) => {
    const server = await spawnServer(['--demo', '--log-level', 'warn', ...mode.auth])
    t.teardown(server.stop)
    const url = `${server.base}/mcp`
    const settings = ['--demo', '--http-addr', server.base.slice('http://'.length), ...mode.auth]
    const printed = (client: string): Printed => {
      const output = printConfig(['--client', client, ...settings])
      t.equal(output.status, 0, `${client}: printed`, { stderr: output.stderr })
      t.notMatch(output.stdout + output.stderr, TOKEN, `${client}: the token is never printed`)
      return output
    }

    t.test('Claude Desktop: npx -y mcp-remote, the token in env', async (t) => {
      const entry = (JSON.parse(printed('claude').stdout) as { mcpServers: { kafscale: StdioServer } }).mcpServers.kafscale
      t.equal(entry.command, 'npx')
      // The user replaces the placeholder with the token; nothing else changes.
      const env = Object.fromEntries(Object.entries(entry.env ?? {}).map(([name, value]) => [name, /^<.*>$/.test(value) ? TOKEN : value]))
      t.same(Object.keys(env), mode.auth.length > 0 ? [TOKEN_VARIABLE] : [])
      const home = mcpRemoteHome()
      t.teardown(() => { rmSync(home, { recursive: true, force: true }) })
      const started = await startConfiguredServer({ ...entry, env }, { env: { MCP_REMOTE_CONFIG_DIR: home } })
      t.teardown(started.close)
      t.equal(await offsetsOf(started.client), 3)
    })

    t.test('Cursor: url and headers, env: references resolved from the environment', async (t) => {
      const { mcpServers: { kafscale } } = JSON.parse(printed('cursor').stdout) as { mcpServers: { kafscale: { url: string, headers?: Record<string, string> } } }
      t.same(Object.keys(kafscale).sort(), mode.auth.length > 0 ? ['headers', 'url'] : ['url'])
      const env = { [TOKEN_VARIABLE]: TOKEN }
      const headers = Object.fromEntries(Object.entries(kafscale.headers ?? {}).map(([name, value]) => [name, cursorResolve(value, env)]))
      const client = await httpClient(cursorResolve(kafscale.url, env), headers)
      t.teardown(async () => { await client.close() })
      t.equal(await offsetsOf(client), 3)
    })

    t.test('VS Code: "type": "http", the token from a password input', async (t) => {
      const config = JSON.parse(printed('vscode').stdout) as { inputs?: Array<{ type: string, id: string, password: boolean }>, servers: { kafscale: { type: string, url: string, headers?: Record<string, string> } } }
      t.equal(config.servers.kafscale.type, 'http')
      t.equal(config.servers.kafscale.url, url)
      if (mode.auth.length > 0) t.match(config.inputs, [{ type: 'promptString', id: VSCODE_TOKEN_INPUT, password: true }], 'the input the header names is declared, hidden')
      const answers = Object.fromEntries((config.inputs ?? []).map((input) => [input.id, TOKEN]))
      const headers = Object.fromEntries(Object.entries(config.servers.kafscale.headers ?? {}).map(([name, value]) => [name, vscodeResolve(value, answers)]))
      const client = await httpClient(config.servers.kafscale.url, headers)
      t.teardown(async () => { await client.close() })
      t.equal(await offsetsOf(client), 3)
    })

    t.test('stdio: "command": "node", the machine\'s Node', async (t) => {
      const { mcpServers: { kafscale } } = JSON.parse(printed('stdio').stdout) as { mcpServers: { kafscale: StdioServer } }
      t.same({ command: kafscale.command, args: kafscale.args }, { command: 'node', args: [LAUNCHER, '--stdio', '--demo'] }, 'only the settings that apply to stdio')
      const started = await startConfiguredServer(kafscale)
      t.teardown(started.close)
      t.equal(await offsetsOf(started.client), 3, `started by ${desktopNode().version}`)
    })

    t.test('MCP Inspector CLI: the command line', async (t) => {
      const { stdout, stderr } = printed('inspector')
      const header = mode.auth.length > 0 ? ` --header "Authorization: Bearer $${TOKEN_VARIABLE}"` : ''
      t.equal(stdout.trim(), `npx @modelcontextprotocol/inspector --cli ${url} --transport http --method tools/list${header}`)
      if (mode.auth.length > 0) t.match(stderr, `Export ${TOKEN_VARIABLE}=`)
      // Run by a shell as pasted, the token in the variable it names. The Inspector needs Node
      // 22.19 or newer: the project's own Node runs it. Offline, so npx uses the installed one.
      const inspector = (commandLine: string): unknown => {
        const run = spawnSync('sh', ['-c', commandLine], { encoding: 'utf8', env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, [TOKEN_VARIABLE]: TOKEN, npm_config_offline: 'true' }, timeout: 60_000 })
        t.equal(run.status, 0, 'the Inspector exits 0', { stderr: run.stderr })
        return JSON.parse(run.stdout)
      }
      const listed = inspector(stdout.trim()) as { tools: Array<{ name: string }> }
      t.ok(listed.tools.some((tool) => tool.name === 'fetch_offsets'), 'the printed command lists the tools')
      const called = inspector(stdout.trim().replace('--method tools/list', '--method tools/call --tool-name describe_topics --tool-arg \'names=["orders"]\'')) as { structuredContent: { topics: Array<{ name: string }> } }
      t.same(called.structuredContent.topics.map((topic) => topic.name), ['orders'], 'an array argument given on the command line reaches the tool')
    })
  })
}

t.test('a bad --client or settings that would not start the server: exit 2, and why', async (t) => {
  const run = printConfig
  t.match(run(['--client', 'emacs']), { status: 2, stderr: /--client "emacs" is not claude, cursor, vscode, inspector, stdio/ })
  t.match(run(['--http-addr', '0.0.0.0:8090']), { status: 2, stderr: /these settings would not start the server.*refusing to serve without authentication/ })
})
