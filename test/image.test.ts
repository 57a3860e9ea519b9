import { execFile, spawn } from 'node:child_process'
import { chmodSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { freePort } from './helpers/etcd.ts'
import { connectClient } from './helpers/server.ts'

// No container engine here: this replays the Dockerfile's steps in a clean folder (its COPY
// lines, production dependencies only, files made read-only) and starts the result as an
// unprivileged user, as the image would run.

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')

function copiedPaths (stage: 'deps' | 'runtime'): string[] {
  const stages = dockerfile.split(/^FROM /m).slice(1)
  const text = stage === 'deps' ? stages[0]! : stages[1]!
  return text.split('\n').filter((l) => /^COPY (?!--from)/.test(l)).flatMap((l) => l.replace(/^COPY /, '').split(/\s+/).slice(0, -1))
}

function chmodTree (path: string, mode: (isDir: boolean, current: number) => number): void {
  const stat = statSync(path)
  chmodSync(path, mode(stat.isDirectory(), stat.mode))
  if (stat.isDirectory()) for (const entry of readdirSync(path)) chmodTree(join(path, entry), mode)
}

t.test('the image\'s production install serves /healthz and a tool as an unprivileged user, read-only', async (t) => {
  const app = mkdtempSync(join(tmpdir(), 'kafscale-image-'))
  t.teardown(() => {
    chmodTree(app, (isDir, m) => m | (isDir ? 0o700 : 0o600))
    rmSync(app, { recursive: true, force: true })
  })
  for (const path of copiedPaths('deps')) cpSync(join(ROOT, path), join(app, path))
  const install = await new Promise<{ code: number, out: string }>((resolve) => {
    execFile('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, timeout: 240_000 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : 1, out: stdout + stderr }))
  })
  t.equal(install.code, 0, 'npm ci --omit=dev succeeds')
  t.notOk(readdirSync(join(app, 'node_modules')).includes('tap'), 'no dev dependency is installed')
  t.notOk(readdirSync(join(app, 'node_modules', '@modelcontextprotocol')).includes('client'), 'not even the MCP client')
  for (const path of copiedPaths('runtime')) cpSync(join(ROOT, path), join(app, path), { recursive: true })
  t.notOk(readdirSync(app).includes('test'), 'tests are not shipped')
  // Read-only files, readable and executable by anyone (the image runs as UID 10001).
  chmodTree(app, (isDir) => (isDir ? 0o555 : 0o444))

  // The image brings its own Node; so does this replay, since the unprivileged user may not be
  // able to reach the checkout's (a clone in a 0700 temporary folder, for one).
  const node = join(mkdtempSync(join(tmpdir(), 'kafscale-image-node-')), 'node')
  cpSync(process.execPath, node)
  chmodSync(node, 0o555)
  chmodSync(dirname(node), 0o555)
  t.teardown(() => { rmSync(dirname(node), { recursive: true, force: true }) })
  const port = await freePort()
  const asRoot = process.getuid?.() === 0
  // env -u: tap adds its process-info loader to every child's NODE_OPTIONS, a module in the
  // checkout that the unprivileged user may not read; the image has no such loader either.
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', node, join(app, 'bin/kafscale-mcp.ts'), '--demo', '--http-addr', `127.0.0.1:${port}`], {
    cwd: '/',
    env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', NODE_ENV: 'production', KAFSCALE_MCP_VERSION: '9.9.9-test', KAFSCALE_MCP_REVISION: 'abc1234' },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(asRoot ? { uid: 10001, gid: 10001 } : {})
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  t.teardown(() => { child.kill('SIGTERM') })
  const deadline = Date.now() + 15_000
  while (!output.includes('is serving the demo cluster') && Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 50))
  t.match(output, 'is serving the demo cluster', `started${asRoot ? ' as UID 10001' : ''}`)

  const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()
  t.same(health, { status: 'ok', version: '9.9.9-test', revision: 'abc1234' }, 'version and revision are baked in')
  const tool = await fetch(`http://127.0.0.1:${port}/api/v1/tools/list_topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(tool.status, 200)
  t.equal(((await tool.json()) as { topics: unknown[] }).topics.length, 6)
  const client = await connectClient(`http://127.0.0.1:${port}`, 'modern')
  t.equal(client.getServerVersion()?.version, '9.9.9-test', 'and in the MCP server info')
  await client.close()
})
