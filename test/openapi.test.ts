import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { BUILTIN_TOOLS } from '../app.ts'
import { demoBackend, startDemoBrokerMetrics } from '../demo/cluster.ts'
import { startServer } from './helpers/server.ts'

// The OpenAPI document of the REST mirror, checked three ways: against the official OpenAPI 3.1
// schema, against the tools it must describe, and by schemathesis calling the live server with
// requests generated from it.

const TOKEN = 'openapi-test-token'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const SCHEMATHESIS = process.env.SCHEMATHESIS_BINARY ?? new URL('../.cache/schemathesis/bin/schemathesis', import.meta.url).pathname

const metrics = await startDemoBrokerMetrics()
t.teardown(metrics.close)
const brokerUrls = Object.entries(metrics.urls).map(([id, url]) => `${id}=${url}`).join(',')
// The rate limit is off: schemathesis sends a few hundred requests in a few seconds.
const server = await startServer(['--auth-token', TOKEN, '--rate-limit', '0', '--broker-metrics-urls', brokerUrls], { backend: demoBackend() })
t.teardown(server.close)

async function fetchDocument (): Promise<any> {
  const res = await fetch(`${server.base}/api/v1/openapi.json`, { headers: AUTH })
  t.equal(res.status, 200)
  return await res.json()
}

t.test('the document validates against the official OpenAPI 3.1 schema', async (t) => {
  const document = await fetchDocument()
  t.equal(document.openapi, '3.1.0')
  // The OpenAPI Initiative's schema (2022-10-07) for 3.1 documents, as schemathesis ships it.
  // Ajv resolves its `$dynamicRef: "#meta"` to the document's root; the anchor it means is $defs/schema.
  const oas31 = JSON.parse(readFileSync(new URL('./fixtures/openapi-3.1-schema.json', import.meta.url), 'utf8').replaceAll('"$dynamicRef": "#meta"', '"$ref": "#/$defs/schema"'))
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false })
  const validate = ajv.compile(oas31)
  t.ok(validate(document), JSON.stringify(validate.errors?.slice(0, 5)))
  // The official schema leaves each Schema Object unchecked: each must compile as JSON Schema 2020-12.
  for (const [path, item] of Object.entries<any>(document.paths)) {
    for (const [method, operation] of Object.entries<any>(item)) {
      const schemas = [operation.requestBody?.content?.['application/json']?.schema, ...Object.values<any>(operation.responses).map((r) => r.content?.['application/json']?.schema)]
      for (const schema of schemas.filter((s) => s !== undefined)) t.doesNotThrow(() => ajv.compile(schema), `${method} ${path}`)
    }
  }
  t.same(document.components.securitySchemes, { bearer: { type: 'http', scheme: 'bearer' } })
  t.same(document.security, [{ bearer: [] }])
})

t.test('every tool has its route, with its own input and output schemas', async (t) => {
  const document = await fetchDocument()
  const tools = server.app.tools.list()
  t.same(Object.keys(document.paths).sort(), ['/api/v1/tools', ...tools.map((tool) => `/api/v1/tools/${tool.definition.name}`)].sort(),
    'the tool routes and the listing; not the unknown-name fallback, the document itself, /mcp, /sse or /healthz')
  const plain = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema))
  for (const { definition } of tools) {
    const operation = document.paths[`/api/v1/tools/${definition.name}`]
    t.same(Object.keys(operation), ['post'], definition.name)
    t.equal(operation.post.operationId, definition.name)
    t.equal(operation.post.description, definition.description)
    t.same(operation.post.requestBody.content['application/json'].schema, plain(definition.input), `${definition.name} body`)
    t.same(operation.post.responses['200'].content['application/json'].schema, plain(definition.output), `${definition.name} 200`)
    t.same(Object.keys(operation.post.responses).sort(), ['200', '4XX', '5XX'])
    t.same(operation.post.responses['4XX'].content['application/json'].schema.required, ['statusCode', 'code', 'error', 'message'])
  }
})

t.test('the document needs the token like every data route', async (t) => {
  const res = await fetch(`${server.base}/api/v1/openapi.json`)
  t.equal(res.status, 401)
  t.match(res.headers.get('www-authenticate'), /^Bearer /)
  t.equal((await res.json()).code, 'KSMCP_ERR_UNAUTHORIZED')
})

t.test('a documented path answers 405 with Allow to a method it does not serve', async (t) => {
  const res = await fetch(`${server.base}/api/v1/tools/list_topics`, { headers: AUTH })
  t.equal(res.status, 405)
  t.equal(res.headers.get('allow'), 'POST')
  t.same(await res.json(), { statusCode: 405, code: 'KSMCP_ERR_METHOD_NOT_ALLOWED', error: 'Method Not Allowed', message: 'GET is not served on /api/v1/tools/list_topics: use POST' })
  const listing = await fetch(`${server.base}/api/v1/tools`, { method: 'DELETE', headers: AUTH })
  t.equal(listing.status, 405)
  t.equal(listing.headers.get('allow'), 'GET, HEAD')
})

t.test('schemathesis finds no server error and no answer off its schema', async (t) => {
  if (!existsSync(SCHEMATHESIS)) {
    if (process.env.CI === undefined) {
      t.comment('SKIP: schemathesis is not installed: run \'bash scripts/ensure-schemathesis.sh\' (npm test\'s pretest does)')
      return
    }
    t.fail(`schemathesis is missing at ${SCHEMATHESIS}: CI must install it (scripts/ensure-schemathesis.sh)`)
    return
  }
  // schemathesis keeps a cache in its working directory; it goes to a throwaway one.
  const cwd = mkdtempSync(join(tmpdir(), 'kafscale-schemathesis-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const args = [
    '--config-file', new URL('./schemathesis.toml', import.meta.url).pathname,
    'run', `${server.base}/api/v1/openapi.json`,
    '--header', `Authorization: Bearer ${TOKEN}`,
    '--checks', 'all',
    // Bounded: the fuzzing phase, at most 30 cases per operation (a few hundred in all), each
    // request 10 s at most. The coverage phase is left out: it sends boundary strings for the
    // opaque cursor, which only a next_cursor the server issued can satisfy (the pinned cursor of
    // schemathesis.toml holds in the fuzzing phase only).
    '--phases', 'fuzzing', '--max-examples', '30', '--request-timeout', '10',
    '--seed', '1', '--no-color', '--workers', '1'
  ]
  const run = await runProcess(SCHEMATHESIS, args, cwd)
  t.equal(run.code, 0, run.output.slice(-6000))
  // One operation per tool, and GET /api/v1/tools.
  t.match(run.output, new RegExp(`Tested: ${BUILTIN_TOOLS.length + 1}\\b`), 'every operation was exercised')
  t.comment(/Test cases:\s+[^\n]+/.exec(run.output)?.[0] ?? 'no summary')
})

async function runProcess (command: string, args: string[], cwd: string): Promise<{ code: number | null, output: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: '1' } })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.on('error', reject)
    child.on('close', (code) => { resolve({ code, output }) })
  })
}
