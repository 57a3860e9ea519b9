import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/client'
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio'

/** The checkout: where `npx mcp-remote` finds the devDependency instead of the registry. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/**
 * The PATH a desktop client starts servers with: the machine's, without the node_modules/.bin
 * that npm puts first for `npm test` (and with it the bundled Node 24).
 */
export function desktopPath (): string {
  return (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.includes('node_modules')).join(delimiter)
}

/** The environment of a process a person or a desktop client starts: the desktop PATH. */
export function desktopEnv (): NodeJS.ProcessEnv {
  return { ...process.env, PATH: desktopPath() }
}

/**
 * The argv that runs `command args…` as a desktop client would: through `env -u NODE_OPTIONS`,
 * because tap adds its process-info loader to every child's NODE_OPTIONS, and that loader catches
 * signals in each Node process it runs in, hiding how the launcher and the service handle them.
 */
export function withoutTestLoader (command: string, args: string[]): [string, string[]] {
  return ['/usr/bin/env', ['-u', 'NODE_OPTIONS', command, ...args]]
}

/** The `node` that PATH finds, and its version: the machine's own Node. */
export function desktopNode (): { path: string, version: string } {
  const dir = desktopPath().split(delimiter).find((d) => existsSync(join(d, 'node')))
  if (dir === undefined) throw new Error(`no node on ${desktopPath()}`)
  const path = join(dir, 'node')
  return { path, version: execFileSync(path, ['--version'], { encoding: 'utf8' }).trim() }
}

export interface StdioServer { command: string, args?: string[], env?: Record<string, string> }

export interface StartedClient {
  client: Client
  /** What the server process wrote to stderr so far (mcp-remote's log, the launcher's messages). */
  stderr: () => string
  close: () => Promise<void>
}

/**
 * Starts a configured stdio server as Claude Desktop does: the command with its args, the
 * SDK's default inherited environment plus the entry's env, the desktop PATH; then connects an
 * MCP client to it. `onStderr` sees the log as it grows (to act as the user's browser).
 */
export async function startConfiguredServer (server: StdioServer, options: { env?: Record<string, string>, onStderr?: (text: string) => void } = {}): Promise<StartedClient> {
  let log = ''
  const transport = new StdioClientTransport({
    command: server.command,
    args: server.args ?? [],
    env: { ...getDefaultEnvironment(), PATH: desktopPath(), ...server.env, ...options.env },
    cwd: ROOT,
    stderr: 'pipe'
  })
  transport.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString('utf8')
    options.onStderr?.(log)
  })
  const client = new Client({ name: 'kafscale-mcp-desktop-tests', version: '1.0.0' })
  const started: StartedClient = { client, stderr: () => log, close: async () => { await client.close() } }
  try {
    await client.connect(transport)
  } catch (err) {
    await transport.close().catch(() => {})
    throw Object.assign(err as Error, { stderr: log })
  }
  return started
}

/** A fresh directory for mcp-remote's tokens and client registrations (it keeps them per user). */
export function mcpRemoteHome (): string {
  return mkdtempSync(join(tmpdir(), 'kafscale-mcp-remote-'))
}
