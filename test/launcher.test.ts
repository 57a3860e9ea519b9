import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { freePort } from './helpers/etcd.ts'
import { desktopEnv, desktopNode, ROOT, withoutTestLoader, startConfiguredServer, type StdioServer } from './helpers/desktop.ts'

// The `kafscale-mcp` command from the machine's own Node (20 here), which cannot load the
// TypeScript entry: bin/kafscale-mcp.js starts it on a Node that can.

const LAUNCHER = join(ROOT, 'bin/kafscale-mcp.js')
const DESKTOP_ENV = desktopEnv()

function runLauncher (args: string[], node = desktopNode().path, launcher = LAUNCHER): { status: number | null, stdout: string, stderr: string } {
  const run = spawnSync(...withoutTestLoader(node, [launcher, ...args]), { encoding: 'utf8', env: DESKTOP_ENV })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

t.test('the README\'s stdio example, as written, lists the tools when the machine\'s Node starts it', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const blocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((block) => block.includes('"--stdio"'))
  t.equal(blocks.length, 1, 'one stdio example')
  const { mcpServers: { kafscale } } = JSON.parse(blocks[0]!) as { mcpServers: { kafscale: StdioServer } }
  t.equal(kafscale.command, 'node', 'whatever node the PATH finds')
  // The one thing the reader changes: where the checkout is.
  const args = kafscale.args!.map((arg) => arg.replace('/path/to/kafscale-mcp/', ROOT))
  t.not(args, kafscale.args, 'the example names the checkout path')
  const started = await startConfiguredServer({ ...kafscale, args })
  t.teardown(started.close)
  const { tools } = await started.client.listTools()
  t.equal(tools.length, 11, `the tools, with ${desktopNode().version} as node`)
})

t.test('--help, --version and a bad setting answer from the machine\'s Node with the entry\'s own status', async (t) => {
  const help = runLauncher(['--help'])
  t.equal(help.status, 0, 'help', { stderr: help.stderr })
  t.match(help.stdout, /^Usage: kafscale-mcp \[options\]/)
  t.match(help.stdout, 'kafscale-mcp print-config [--client claude|cursor|vscode|inspector|stdio]')
  t.match(runLauncher(['--version']), { status: 0, stdout: /^\d+\.\d+\.\d+ / })
  t.match(runLauncher(['--http-addr', 'nowhere']), { status: 2, stderr: /"nowhere" is not host:port/ })
  t.match(runLauncher(['--version'], process.execPath), { status: 0, stdout: /^\d+\.\d+\.\d+ / }, 'and from Node 24')
})

t.test('signals reach the service: to the launcher, or to launcher and service alike, they end in a clean exit', async (t) => {
  for (const stop of ['SIGTERM to the launcher', 'Ctrl-C: SIGINT to launcher and service'] as const) {
    const port = await freePort()
    // exec: env -u replaces itself with the launcher, so the pid signalled is the launcher's.
    const launcher = spawn(...withoutTestLoader(desktopNode().path, [LAUNCHER, '--demo', '--http-addr', `127.0.0.1:${port}`]), { env: DESKTOP_ENV, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    launcher.stdout.on('data', (d: Buffer) => { output += d.toString() })
    launcher.stderr.on('data', (d: Buffer) => { output += d.toString() })
    const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => launcher.once('exit', (code, signal) => resolve({ code, signal })))
    const deadline = Date.now() + 60_000
    while (!output.includes('is serving the demo cluster') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    const servicePid = Number(/"pid":(\d+)/.exec(output)?.[1])
    t.ok(Number.isInteger(servicePid) && servicePid !== launcher.pid, `${stop}: the service runs in a child`, { output })
    if (stop === 'SIGTERM to the launcher') {
      launcher.kill('SIGTERM')
    } else {
      // Ctrl-C in a terminal signals the whole foreground group: the service gets SIGINT itself
      // and again from the launcher. A half-open connection keeps the shutdown going for its
      // 1 s grace, so the second arrives while it is under way.
      const halfOpen = connect(port, '127.0.0.1')
      halfOpen.on('error', () => {})
      await new Promise<void>((resolve) => halfOpen.once('connect', () => resolve()))
      halfOpen.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n')
      t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'the server has read the half-open request\'s headers')
      process.kill(servicePid, 'SIGINT')
      while (!output.includes('shutting down') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
      launcher.kill('SIGINT')
    }
    t.same(await exited, { code: 0, signal: null }, `${stop}: the service's clean exit passes through`, { output })
    t.throws(() => process.kill(servicePid, 0), { code: 'ESRCH' }, `${stop}: the service is gone`)
  }
})

t.test('no Node 24 anywhere: one clear message and exit 1', { skip: Number(desktopNode().version.slice(1).split('.')[0]) >= 24 ? 'the machine\'s Node is 24 or newer' : false }, async (t) => {
  // The launcher alone, with no node_modules beside it to find the bundled Node in.
  const dir = mkdtempSync(join(tmpdir(), 'kafscale-launcher-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  mkdirSync(join(dir, 'bin'))
  copyFileSync(LAUNCHER, join(dir, 'bin/kafscale-mcp.js'))
  const run = runLauncher(['--help'], desktopNode().path, join(dir, 'bin/kafscale-mcp.js'))
  t.equal(run.status, 1)
  t.match(run.stderr, `kafscale-mcp: needs Node 24 or newer with type stripping, and this is Node ${desktopNode().version.slice(1)}`)
  t.match(run.stderr, 'Install Node 24 LTS')
  t.equal(run.stdout, '')
})
