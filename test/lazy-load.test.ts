import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url))

// A fresh process builds the read-only service (the default: no --mutations) and reports the
// packages it resolved. The Kafka admin client of the mutation path is about 10 MB of heap that
// every garbage collection would walk (bench/README.md): it must not be among them.
const probe = `
import { registerHooks } from 'node:module'
const resolved = []
registerHooks({ resolve: (specifier, context, next) => { const result = next(specifier, context); resolved.push(result.url); return result } })
const { buildApp } = await import(${JSON.stringify(here('../app.ts'))})
const { loadConfig } = await import(${JSON.stringify(here('../lib/config.ts'))})
const { demoBackend } = await import(${JSON.stringify(here('../demo/cluster.ts'))})
const app = await buildApp(loadConfig(['--http-addr', '127.0.0.1:0', '--log-level', 'silent'], {}), { backend: demoBackend() })
await app.ready()
await app.close()
const packages = [...new Set(resolved.map((url) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(url)?.[1]).filter(Boolean))]
process.stdout.write(JSON.stringify(packages))
`

t.test('a read-only service does not load the Kafka admin client', async (t) => {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' })
  t.equal(run.status, 0, run.stderr)
  const packages = JSON.parse(run.stdout) as string[]
  // The probe sees the packages the service loads: the MCP SDK is one.
  t.ok(packages.includes('@modelcontextprotocol/server'), packages.join(', '))
  t.notOk(packages.includes('@platformatic/kafka'), 'the mutation path loads only with --mutations')
})
