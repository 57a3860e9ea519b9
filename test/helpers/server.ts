import type { FastifyInstance } from 'fastify'
import { Client } from '@modelcontextprotocol/client'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { buildApp, type BuildOptions } from '../../app.ts'
import { loadConfig } from '../../lib/config.ts'

export interface RunningServer {
  app: FastifyInstance
  /** http://127.0.0.1:PORT */
  base: string
  close: () => Promise<void>
}

/** The real service on a real loopback port, configured through its own flag parser. */
export async function startServer (args: string[], options: BuildOptions = {}): Promise<RunningServer> {
  const config = loadConfig(['--http-addr', '127.0.0.1:0', '--log-level', 'silent', ...args], {})
  const app = await buildApp(config, options)
  await app.listen({ host: config.host, port: 0 })
  const { port } = app.server.address() as { port: number }
  return { app, base: `http://127.0.0.1:${port}`, close: async () => { await app.close() } }
}

export type Era = 'modern' | 'legacy'
export const ERAS: Era[] = ['modern', 'legacy']

/** A real MCP client over streamable HTTP, in the 2026-07-28 era or as a 2025-era client. */
export async function connectClient (base: string, era: Era, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client(
    { name: 'kafscale-mcp-tests', version: '1.0.0' },
    era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}
  )
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } }))
  return client
}

/** POST /api/v1/tools/<name>: status and parsed JSON body. */
export async function callRest (base: string, tool: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number, body: any }> {
  const res = await fetch(`${base}/api/v1/tools/${tool}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body)
  })
  return { status: res.status, body: await res.json() }
}
