#!/usr/bin/env node
// The kafscale-mcp command, for whichever Node starts it (package.json engines: >=20).
//
// The service is TypeScript that Node 24 runs as it is (type stripping), and it wants two V8 flags
// on its own process (why: see kafscale-mcp.ts). A desktop client's `"command": "node"` or a
// shebang gets whatever `node` is first on the PATH, often an older one that cannot load a .ts file
// and only says "Connection closed" to the user. So this file is plain JavaScript that Node 20
// parses, and it starts the TypeScript entry in a child: on this Node when it is new enough, else
// on the Node 24 that the `node` package puts in node_modules. The child gets the same stdio,
// arguments and environment; its exit status and signals pass through.
import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ENTRY = fileURLToPath(new URL('./kafscale-mcp.ts', import.meta.url))
const V8_FLAGS = ['--max-semi-space-size=4', '--optimize-for-size']
const MINIMUM_MAJOR = 24
// The signals a client or a terminal stops a server with. On Ctrl-C the terminal sends SIGINT to
// the child as well; the service treats a repeated signal as the one shutdown already under way.
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP']

/** Whether this Node runs the TypeScript entry: Node 24 or newer with type stripping on. */
function runsTypeScript () {
  const major = Number(process.versions.node.split('.')[0])
  return major >= MINIMUM_MAJOR && Boolean(process.features.typescript)
}

/** The executable of the `node` package (Node 24, a devDependency), if it is installed. */
function bundledNode () {
  try {
    const packageDir = dirname(createRequire(import.meta.url).resolve('node/package.json'))
    const binary = join(packageDir, 'bin', process.platform === 'win32' ? 'node.exe' : 'node')
    accessSync(binary, constants.X_OK)
    return binary
  } catch {
    return undefined
  }
}

const node = runsTypeScript() ? process.execPath : bundledNode()
if (node === undefined) {
  console.error([
    `kafscale-mcp: needs Node ${MINIMUM_MAJOR} or newer with type stripping, and this is Node ${process.versions.node} (${process.execPath}).`,
    `The Node ${MINIMUM_MAJOR} of the \`node\` package is not installed next to it either (run \`npm ci\` in the kafscale-mcp checkout, allowing the \`node\` package's install script).`,
    `Install Node ${MINIMUM_MAJOR} LTS (https://nodejs.org) or point the client's "command" at a Node ${MINIMUM_MAJOR} executable.`
  ].join('\n'))
  process.exit(1)
}

const child = spawn(node, [...V8_FLAGS, ENTRY, ...process.argv.slice(2)], { stdio: 'inherit' })
const forward = (signal) => { child.kill(signal) }
for (const signal of FORWARDED) process.on(signal, forward)
child.once('error', (err) => {
  console.error(`kafscale-mcp: cannot start ${node}: ${err.message}`)
  process.exit(1)
})
child.once('exit', (code, signal) => {
  if (signal === null) process.exit(code ?? 1)
  // Dying of the same signal tells the parent (a shell, a client) what the child's status did.
  for (const s of FORWARDED) process.off(s, forward)
  process.kill(process.pid, signal)
})
