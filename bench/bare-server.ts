import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

// The baseline: a bare Fastify route per payload (POST /bare/<name>), parsed once at start
// and serialised on every request, as the service serialises its answers.
const [port, ...payloads] = process.argv.slice(2)
const app = Fastify({ logger: false })
for (const spec of payloads) {
  const [name, file] = spec.split('=') as [string, string]
  const payload = JSON.parse(readFileSync(file, 'utf8')) as unknown
  app.post(`/bare/${name}`, async () => payload)
}
await app.listen({ host: '127.0.0.1', port: Number(port) })
process.stdout.write('ready\n')
