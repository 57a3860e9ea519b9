import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import { createMcpHandler, McpServer, type StandardSchemaWithJSON } from '@modelcontextprotocol/server'

// The MCP SDK alone: the handler the service mounts (createMcpHandler, a server per request,
// stateless in both eras) on a bare Fastify route, one tool per payload returning it as the
// service answers (its JSON text and structuredContent, both built once at start), with
// pass-through schemas like the service's. No gate, no audit, no registry: what a tools/call
// costs in the SDK and the Request/Response hand-over, next to the bare route serving the same payload.
const [port, ...payloads] = process.argv.slice(2)
const OBJECT = { type: 'object' }
const passThrough: StandardSchemaWithJSON = { '~standard': { version: 1, vendor: 'bench', validate: (value: unknown) => ({ value }), jsonSchema: { input: () => OBJECT, output: () => OBJECT } } }
const tools = payloads.map((spec) => {
  const [name, file] = spec.split('=') as [string, string]
  const text = readFileSync(file, 'utf8')
  return { name, result: { content: [{ type: 'text' as const, text }], structuredContent: JSON.parse(text) as Record<string, unknown> } }
})

const handler = createMcpHandler(() => {
  const server = new McpServer({ name: 'sdk-alone', version: '1.0.0' })
  for (const { name, result } of tools) server.registerTool(name, { description: name, inputSchema: passThrough, outputSchema: passThrough }, () => result)
  return server
})
const app = Fastify({ logger: false })
app.post('/mcp', async (request) => await handler.fetch(new Request(`http://${request.host}${request.url}`, { method: 'POST', headers: request.headers as Record<string, string> }), { parsedBody: request.body }))
await app.listen({ host: '127.0.0.1', port: Number(port) })
process.stdout.write('ready\n')
// Exit through process.exit, so a --cpu-prof run writes its profile.
process.once('SIGTERM', () => { process.exit(0) })
