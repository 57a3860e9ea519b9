import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { freePort } from './etcd.ts'

const BIN = fileURLToPath(new URL('../../bin/kafscale-mcp.ts', import.meta.url))

export interface ServerProcess {
  /** http://127.0.0.1:PORT */
  base: string
  child: ChildProcess
  /** Set once the process has exited. */
  exit: { code: number | null, signal: NodeJS.Signals | null } | undefined
  /** The last lines the process wrote (stdout and stderr), for failure messages. */
  output: () => string
  /** The process's resident set size as its own /metrics reports it. */
  residentBytes: () => Promise<number>
  stop: () => Promise<void>
}

/**
 * The real `kafscale-mcp` binary as a child process on a loopback port, started the way
 * `npm start` does (same V8 flags): what it does to its own memory, or a crash, stays its own.
 * A port chosen beforehand lets the caller name the server's URL in its arguments (--resource-url).
 */
export async function spawnServer (args: string[], options: { port?: number } = {}): Promise<ServerProcess> {
  const port = options.port ?? await freePort()
  const child = spawn(process.execPath, ['--max-semi-space-size=4', '--optimize-for-size', BIN, '--http-addr', `127.0.0.1:${port}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''))
    lines.splice(0, Math.max(0, lines.length - 50))
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const base = `http://127.0.0.1:${port}`
  const server: ServerProcess = {
    base,
    child,
    exit: undefined,
    output: () => lines.join('\n'),
    residentBytes: async () => {
      const text = await (await fetch(`${base}/metrics`)).text()
      const match = /^kafscale_mcp_process_resident_memory_bytes (\d+)/m.exec(text)
      if (match === null) throw new Error(`no kafscale_mcp_process_resident_memory_bytes in /metrics:\n${text.slice(0, 500)}`)
      return Number(match[1])
    },
    stop: async () => {
      if (server.exit !== undefined) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  }
  child.once('exit', (code, signal) => { server.exit = { code, signal } })
  const deadline = Date.now() + 60_000
  for (;;) {
    if (server.exit !== undefined) throw new Error(`kafscale-mcp exited at start (${JSON.stringify(server.exit)}):\n${server.output()}`)
    try {
      if ((await fetch(`${base}/healthz`)).status === 200) return server
    } catch {}
    if (Date.now() > deadline) {
      await server.stop()
      throw new Error(`kafscale-mcp did not serve /healthz within 60 s:\n${server.output()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
