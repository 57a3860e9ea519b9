import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { connect, createServer, type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { TOKEN_VARIABLE } from '../lib/client-config.ts'
import { connectClient } from './helpers/server.ts'
import { freePort } from './helpers/etcd.ts'

const BIN = fileURLToPath(new URL('../bin/kafscale-mcp.ts', import.meta.url))

interface Run { code: number | null, stdout: string, stderr: string }

function run (args: string[], env: Record<string, string> = {}): { done: Promise<Run>, child: ReturnType<typeof spawn>, output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const done = new Promise<Run>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })))
  return { done, child, output: () => stdout }
}

t.test('--help and --version', async (t) => {
  const help = await run(['--help']).done
  t.equal(help.code, 0)
  t.match(help.stdout, /^Usage: kafscale-mcp \[options\]/)
  t.match(help.stdout, /--etcd-endpoints VALUE\s+comma-separated etcd URLs.*\[KAFSCALE_MCP_ETCD_ENDPOINTS\]/)
  const version = await run(['--version']).done
  t.match(version.stdout, /^\d+\.\d+\.\d+/)
})

t.test('bad configuration: exit 2 with every problem in words', async (t) => {
  const bad = await run(['--http-addr', 'everywhere'], { KAFSCALE_MCP_METRICS_TIMEOUT: 'fast' }).done
  t.equal(bad.code, 2)
  t.match(bad.stderr, 'kafscale-mcp: invalid configuration: KAFSCALE_MCP_HTTP_ADDR (--http-addr): "everywhere" is not host:port')
  t.match(bad.stderr, 'KAFSCALE_MCP_METRICS_TIMEOUT (--metrics-timeout): "fast" is not a duration')
  t.match(bad.stderr, 'Run kafscale-mcp --help')
})

t.test('a policy file the service cannot use: exit 2 with one line naming it, no stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kafscale-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const policy = join(dir, 'policy.yaml')
  writeFileSync(policy, 'roles: { r: { tools: [list_topics] } }\nbindings: [{ everyone: true, roles: [toString] }]\n')
  const bad = await run(['--demo', '--http-addr', '127.0.0.1:0', '--log-level', 'error', '--policy-file', policy]).done
  t.equal(bad.code, 2)
  t.equal(bad.stderr.trim(), `kafscale-mcp: policy ${policy}: binding {"everyone":true,"roles":["toString"]} names unknown role "toString" (defined: r)`)
})

t.test('no auth on a non-loopback address: the start is refused', async (t) => {
  const open = await run(['--http-addr', '0.0.0.0:0']).done
  t.equal(open.code, 2)
  t.match(open.stderr, 'refusing to serve without authentication on 0.0.0.0')
})

t.test('the demo serves the embedded cluster, prints client config, and stops on SIGTERM', async (t) => {
  const port = await freePort()
  const demo = run(['--demo', '--http-addr', `127.0.0.1:${port}`], { KAFSCALE_MCP_AUTH_TOKEN: 'canary-token-1234' })
  const deadline = Date.now() + 10_000
  while (!demo.output().includes('is serving the demo cluster') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.match(demo.output(), `at http://127.0.0.1:${port}/mcp`)
  t.match(demo.output(), '"mcp-remote"')
  // The same configurations as print-config: with a token set, each sends it by reference.
  t.match(demo.output(), `Authorization: Bearer \${${TOKEN_VARIABLE}}`, 'mcp-remote\'s --header')
  t.match(demo.output(), `"Authorization": "Bearer \${env:${TOKEN_VARIABLE}}"`, 'Cursor\'s headers')
  t.match(demo.output(), '"type": "http"', 'VS Code\'s server type')
  const client = await connectClient(`http://127.0.0.1:${port}`, 'legacy', { authorization: 'Bearer canary-token-1234' })
  const result = await client.callTool({ name: 'fetch_offsets', arguments: { group_id: 'billing' } })
  t.equal((result.structuredContent as { offsets: unknown[] }).offsets.length, 3)
  const status = await client.callTool({ name: 'cluster_metrics', arguments: {} })
  t.equal((status.structuredContent as { s3_state: string }).s3_state, 'healthy', 'the simulated broker metrics answer')
  await client.close()
  const stopping = Date.now()
  demo.child.kill('SIGTERM')
  const exit = await demo.done
  t.equal(exit.code, 0)
  t.ok(Date.now() - stopping < 5000, 'stops promptly')
  t.notMatch(exit.stderr + exit.stdout, 'canary-token-1234', 'the token never reaches a log line')
})

t.test('--help: every option stands apart from its help text', async (t) => {
  const help = await run(['--help']).done
  const optionLines = help.stdout.split('\n').filter((line) => /^ {2}--/.test(line))
  t.ok(optionLines.length > 40, 'every option is listed')
  for (const line of optionLines) t.match(line, /^ {2}--[a-z-]+( VALUE)? {2,}\S/, line.slice(0, 40))
  t.match(help.stdout, /--oidc-max-token-lifetime VALUE {2}refuse tokens/)
})

t.test('a bad --http-addr with --demo is the one problem reported', async (t) => {
  const bad = await run(['--demo', '--http-addr', 'nowhere']).done
  t.equal(bad.code, 2)
  t.match(bad.stderr, 'kafscale-mcp: invalid configuration: KAFSCALE_MCP_HTTP_ADDR (--http-addr): "nowhere" is not host:port or :port with a port from 0 to 65535\n')
  t.notMatch(bad.stderr, 'refusing to serve without authentication')
})

t.test('a busy port: the error says how to choose another address', async (t) => {
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { holder.close() })
  const { port } = holder.address() as AddressInfo
  const busy = await run(['--http-addr', `127.0.0.1:${port}`]).done
  t.equal(busy.code, 1)
  t.match(busy.stderr, `kafscale-mcp: cannot listen on 127.0.0.1:${port}: the port is in use by another process`)
  t.match(busy.stderr, 'Choose another address with --http-addr HOST:PORT (or KAFSCALE_MCP_HTTP_ADDR).')
})

t.test('SIGTERM with a half-open connection: the socket is closed and the exit code is 0', async (t) => {
  const port = await freePort()
  const demo = run(['--demo', '--http-addr', `127.0.0.1:${port}`])
  const deadline = Date.now() + 10_000
  while (!demo.output().includes('is serving the demo cluster') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  // A request line and headers, never the blank line that ends them.
  const halfOpen = connect(port, '127.0.0.1')
  halfOpen.on('error', () => {})
  const closed = new Promise<void>((resolve) => halfOpen.once('close', () => resolve()))
  await new Promise<void>((resolve) => halfOpen.once('connect', () => resolve()))
  halfOpen.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  // The server has seen the headers once it answers a complete request on another connection.
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200)
  demo.child.kill('SIGTERM')
  const exit = await demo.done
  t.equal(exit.code, 0, 'a clean exit, not the forced one')
  await closed
  t.equal(halfOpen.destroyed, true, 'the half-open socket was closed by the server')
})
