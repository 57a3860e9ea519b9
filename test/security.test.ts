import { mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { SignJWT } from 'jose'
import { demoBackend } from '../demo/cluster.ts'
import { GENESIS_HASH, verifyAuditFile } from '../lib/audit.ts'
import { startIdp, type TestIdp } from './helpers/idp.ts'
import { callRest, connectClient, ERAS, startServer, type RunningServer } from './helpers/server.ts'
import { freePort } from './helpers/etcd.ts'

const RESOURCE = 'https://mcp.example.test/mcp'
const METADATA_URL = 'https://mcp.example.test/.well-known/oauth-protected-resource/mcp'
const PROBE = fileURLToPath(new URL('./fixtures/plugins/mutation-probe.ts', import.meta.url))
const BIN = fileURLToPath(new URL('../bin/kafscale-mcp.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'kafscale-security-'))
const policyPath = join(dir, 'policy.yaml')
const auditPath = join(dir, 'audit.jsonl')
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const POLICY = `
roles:
  observer: { tools: ["@observe"] }
  operator: { description: observe and change, tools: ["@observe", "@mutate"] }
bindings:
  - { name: sre-operators, groups: [sre], roles: [operator] }
  - { name: everyone-observes, everyone: true, roles: [observer] }
`
writeFileSync(policyPath, POLICY)

let idp: TestIdp
let server: RunningServer
const now = (): number => Math.floor(Date.now() / 1000)
const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: idp.issuer, aud: RESOURCE, sub: 'alice', iat: now(), exp: now() + 300, scope: 'kafscale:observe kafscale:mutate', client_id: 'claude', ...over
})
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')

t.before(async () => {
  idp = await startIdp()
  server = await startServer(['--oidc-issuer', idp.issuer, '--resource-url', RESOURCE, '--oidc-jwks-cache-ttl', '300ms',
    '--policy-file', policyPath, '--plugins', PROBE, '--audit-file', auditPath, '--rate-limit', '0'], { backend: demoBackend() })
})
t.teardown(async () => {
  await server.close()
  await idp.close()
})

t.test('protected resource metadata (RFC 9728)', async (t) => {
  for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
    const res = await fetch(`${server.base}${path}`)
    t.equal(res.status, 200)
    t.same(await res.json(), { resource: RESOURCE, authorization_servers: [idp.issuer], scopes_supported: ['kafscale:observe', 'kafscale:mutate'], bearer_methods_supported: ['header'], resource_name: 'KafScale MCP' })
  }
})

t.test('attack matrix', async (t) => {
  const other = await idp.newKey('stranger')
  const cases: Array<[string, () => Promise<string | undefined>, number, RegExp]> = [
    ['no token', async () => undefined, 401, /^Bearer realm="kafscale-mcp", resource_metadata="[^"]+"$/],
    ['malformed', async () => 'not.a.jwt', 401, /error="invalid_token"/],
    ['expired', async () => await idp.sign(claims({ iat: now() - 600, exp: now() - 120 })), 401, /error_description="token expired"/],
    ['not yet valid', async () => await idp.sign(claims({ nbf: now() + 600 })), 401, /claim 'nbf'|claim "nbf"/],
    ['wrong issuer', async () => await idp.sign(claims({ iss: 'https://evil.example' })), 401, /claim 'iss'|claim "iss"/],
    ['wrong audience', async () => await idp.sign(claims({ aud: 'https://other.example/mcp' })), 401, /claim 'aud'|claim "aud"/],
    ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`, 401, /error="invalid_token"/],
    ['HS256 signed with the public key', async () => await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: idp.current().kid }).sign(new TextEncoder().encode(JSON.stringify(idp.current().publicJwk))), 401, /algorithm not allowed/],
    ['unknown kid', async () => await idp.sign(claims(), { key: other }), 401, /no key of the identity provider matches/],
    ['lifetime over the maximum', async () => await idp.sign(claims({ exp: now() + 7200 })), 401, /lifetime 7200 s exceeds the allowed 3600 s/],
    ['missing scope', async () => await idp.sign(claims({ scope: 'openid profile' })), 403, /^Bearer error="insufficient_scope", scope="kafscale:observe", error_description="[^"]+", resource_metadata=/]
  ]
  const table: string[] = []
  for (const [name, make, status, header] of cases) {
    const token = await make()
    const headers = token === undefined ? {} : bearer(token)
    const rest = await fetch(`${server.base}/api/v1/tools/list_topics`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' })
    t.equal(rest.status, status, `${name}: REST ${status}`)
    t.match(rest.headers.get('www-authenticate') ?? '', header, `${name}: WWW-Authenticate`)
    t.match(rest.headers.get('www-authenticate') ?? '', `resource_metadata="${METADATA_URL}"`)
    const mcp = await fetch(`${server.base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' })
    t.equal(mcp.status, status, `${name}: /mcp ${status}`)
    table.push(`${name} → ${rest.status}`)
  }
  t.comment(table.join('; '))
})

t.test('a key removed after rotation is refused once the key set is refreshed', async (t) => {
  const old = await idp.rotate()
  await new Promise((resolve) => setTimeout(resolve, 400))
  const res = await callRest(server.base, 'list_topics', {}, bearer(await idp.sign(claims(), { key: old })))
  t.equal(res.status, 401)
  t.equal((await callRest(server.base, 'list_topics', {}, bearer(await idp.sign(claims())))).status, 200, 'the new key works')
})

t.test('a valid token passes over MCP (both eras) and REST', async (t) => {
  const token = await idp.sign(claims())
  for (const era of ERAS) {
    const client = await connectClient(server.base, era, bearer(token))
    const result = await client.callTool({ name: 'list_topics', arguments: {} })
    t.equal((result.structuredContent as { topics: unknown[] }).topics.length, 6, `${era} era`)
    await client.close()
  }
  t.equal((await callRest(server.base, 'describe_group', { group_id: 'billing' }, bearer(token))).status, 200)
})

t.test('RBAC: observers see and reach read-only tools only; the policy is the ceiling', async (t) => {
  const observer = await idp.sign(claims({ sub: 'bob' }))
  const client = await connectClient(server.base, 'modern', bearer(observer))
  const names = (await client.listTools()).tools.map((x) => x.name)
  t.equal(names.length, 11)
  t.notOk(names.includes('mutation_probe'), 'the mutation tool is hidden from an observer')
  await t.rejects(client.callTool({ name: 'mutation_probe', arguments: {} }), /mutation_probe/, 'and refused over MCP')
  await client.close()
  const rest = await callRest(server.base, 'mutation_probe', {}, bearer(observer))
  t.same(rest, { status: 403, body: { statusCode: 403, code: 'KSMCP_ERR_FORBIDDEN', error: 'Forbidden', message: 'forbidden: tool "mutation_probe" is not granted to bob (roles: observer)' } }, 'and over REST, even though the token holds kafscale:mutate')
  const listed = await (await fetch(`${server.base}/api/v1/tools`, { headers: bearer(observer) })).json() as { tools: Array<{ name: string }> }
  t.notOk(listed.tools.some((x) => x.name === 'mutation_probe'))

  const sre = await idp.sign(claims({ sub: 'carol', groups: ['sre'] }))
  t.same(await callRest(server.base, 'mutation_probe', {}, bearer(sre)), { status: 200, body: { called_by: 'carol' } }, 'an operator may')

  const sreObserveScope = await idp.sign(claims({ sub: 'carol', groups: ['sre'], scope: 'kafscale:observe' }))
  const narrowed = await callRest(server.base, 'mutation_probe', {}, bearer(sreObserveScope))
  t.equal(narrowed.status, 403, 'a token can only narrow: without the mutate scope an operator cannot mutate')
  t.equal(narrowed.body.code, 'KSMCP_ERR_INSUFFICIENT_SCOPE')
  t.match(narrowed.body.message, 'needs scope kafscale:mutate')
  const mcp = await fetch(`${server.base}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...bearer(sreObserveScope) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'mutation_probe', arguments: {} } })
  })
  t.equal(mcp.status, 403, 'over MCP the step-up challenge is an HTTP 403')
  t.match(mcp.headers.get('www-authenticate') ?? '', /insufficient_scope.*kafscale:mutate/)
})

t.test('the policy reloads when its file changes', async (t) => {
  const dave = await idp.sign(claims({ sub: 'dave' }))
  t.equal((await callRest(server.base, 'mutation_probe', {}, bearer(dave))).status, 403)
  writeFileSync(policyPath, `${POLICY}  - { name: dave, subjects: [dave], roles: [operator] }\n`)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal((await callRest(server.base, 'mutation_probe', {}, bearer(dave))).status, 200)
  writeFileSync(policyPath, 'roles: [oops')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal((await callRest(server.base, 'mutation_probe', {}, bearer(dave))).status, 200, 'a broken file keeps the last good policy')
  writeFileSync(policyPath, POLICY)
  await new Promise((resolve) => setTimeout(resolve, 300))
})

t.test('every call leaves one audit record; audit verify checks the chain', async (t) => {
  // Its own server and audit file: the records checked are exactly the calls made here.
  const callsAudit = join(dir, 'calls.jsonl')
  const callsPolicy = join(dir, 'calls-policy.yaml')
  writeFileSync(callsPolicy, POLICY)
  const s = await startServer(['--oidc-issuer', idp.issuer, '--resource-url', RESOURCE, '--policy-file', callsPolicy, '--plugins', PROBE,
    '--audit-file', callsAudit, '--rate-limit', '0'], { backend: demoBackend() })
  t.teardown(s.close)
  t.equal((await callRest(s.base, 'mutation_probe', {}, bearer(await idp.sign(claims({ sub: 'bob' }))))).status, 403)
  t.equal((await callRest(s.base, 'mutation_probe', {}, bearer(await idp.sign(claims({ sub: 'carol', groups: ['sre'] }))))).status, 200)
  const client = await connectClient(s.base, 'modern', bearer(await idp.sign(claims({ sub: 'dave' }))))
  await client.callTool({ name: 'list_topics', arguments: {} })
  await client.close()

  const lines = readFileSync(callsAudit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>)
  t.equal(lines.length, 3, 'one record per call')
  t.match(lines[0], {
    request_id: String,
    transport: 'rest',
    principal: { id: `oidc:${idp.issuer}|bob`, sub: 'bob', iss: idp.issuer, client_id: 'claude' },
    roles: ['observer'],
    tool: 'mutation_probe',
    arguments: {},
    arguments_sha256: /^[0-9a-f]{64}$/,
    decision: 'deny',
    rule: 'no-role-grants-tool',
    outcome: 'denied',
    error_code: 'KSMCP_ERR_FORBIDDEN',
    duration_ms: Number,
    diff: null,
    prev_hash: GENESIS_HASH,
    hash: /^[0-9a-f]{64}$/
  }, 'the denied REST call')
  t.match(lines[1], { transport: 'rest', principal: { sub: 'carol' }, tool: 'mutation_probe', decision: 'allow', rule: 'sre-operators/operator', roles: ['operator', 'observer'], outcome: 'ok', prev_hash: lines[0]!.hash }, 'the allowed REST call')
  t.match(lines[2], { transport: 'mcp', tool: 'list_topics', decision: 'allow', outcome: 'ok', prev_hash: lines[1]!.hash }, 'the MCP call')
  t.match(lines[2]!.principal, { sub: 'dave', client_name: 'kafscale-mcp-tests', client_version: '1.0.0' }, 'a 2026-era client names itself')
  for (const r of lines) t.notOk(JSON.stringify(r).includes('eyJ'), 'no token in an audit record')

  t.same(verifyAuditFile(callsAudit), { ok: true, records: 3 })
  const cli = await new Promise<{ code: number | null, out: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'audit', 'verify', callsAudit], (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err.code as number), out: stdout + stderr }))
  })
  t.equal(cli.code, 0)
  t.match(cli.out, '3 records, chain intact')

  const tampered = join(dir, 'tampered.jsonl')
  const raw = readFileSync(callsAudit, 'utf8').split('\n')
  raw[1] = raw[1]!.replace('"decision":"allow"', '"decision":"deny"')
  writeFileSync(tampered, raw.join('\n'))
  t.match(verifyAuditFile(tampered), { ok: false, brokenLine: 2, reason: /the record was altered/ })
  const removed = join(dir, 'removed.jsonl')
  writeFileSync(removed, readFileSync(callsAudit, 'utf8').split('\n').filter((_, i) => i !== 1).join('\n'))
  t.match(verifyAuditFile(removed), { ok: false, brokenLine: 2, reason: /a record was removed/ })
  const tamperedCli = await new Promise<{ code: number | null, out: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'audit', 'verify', tampered], (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err.code as number), out: stdout + stderr }))
  })
  t.equal(tamperedCli.code, 1)
  t.match(tamperedCli.out, 'chain broken at line 2')
})

t.test('an unreachable IdP with a cold key cache is 503, not 401', async (t) => {
  const deadIssuer = `http://127.0.0.1:${await freePort()}`
  const cold = await startServer(['--oidc-issuer', deadIssuer, '--resource-url', RESOURCE], { backend: demoBackend() })
  t.teardown(cold.close)
  const res = await callRest(cold.base, 'list_topics', {}, bearer(await idp.sign(claims({ iss: deadIssuer }))))
  t.equal(res.status, 503)
  t.equal(res.body.code, 'KSMCP_ERR_AUTH_UNAVAILABLE')
})

t.test('audit failure: reads are withheld when configured closed', async (t) => {
  const auditFile = join(dir, 'closed.jsonl')
  writeFileSync(auditFile, '')
  const closed = await startServer(['--audit-file', auditFile, '--audit-reads', 'closed'], { backend: demoBackend() })
  t.teardown(closed.close)
  t.equal((await callRest(closed.base, 'list_topics', {})).status, 200)
  rmSync(auditFile)
  mkdirSync(auditFile)
  t.same((await callRest(closed.base, 'list_topics', {})).body, { statusCode: 503, code: 'KSMCP_ERR_AUDIT_UNAVAILABLE', error: 'Service Unavailable', message: 'the audit log cannot be written, so the result is withheld' })
})

t.test('static tokens never mutate, whatever the policy grants', async (t) => {
  const generous = join(dir, 'generous.json')
  writeFileSync(generous, JSON.stringify({ roles: { all: { tools: ['*'] } }, bindings: [{ everyone: true, roles: ['all'] }] }))
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, 'first-token\n')
  const s = await startServer(['--auth-token-file', tokenFile, '--policy-file', generous, '--plugins', PROBE], { backend: demoBackend() })
  t.teardown(s.close)
  const res = await callRest(s.base, 'mutation_probe', {}, bearer('first-token'))
  t.equal(res.status, 403)
  t.match(res.body.message, 'the static token is read-only')
  writeFileSync(tokenFile, 'rotated-token\n')
  t.equal((await callRest(s.base, 'list_topics', {}, bearer('rotated-token'))).status, 200, 'a rotated token file is picked up without restart')
  t.equal((await callRest(s.base, 'list_topics', {}, bearer('first-token'))).status, 401)
})

t.test('an invalid policy stops the start, naming the file and the fault', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['empty-tools.yaml', 'roles: { r: { tools: [] } }\nbindings: [{ everyone: true, roles: [r] }]\n', 'roles.r.tools: must not have fewer than 1 items'],
    ['unknown-role.yaml', 'roles: { r: { tools: [list_topics] } }\nbindings: [{ everyone: true, roles: [missing] }]\n', 'binding {"everyone":true,"roles":["missing"]} names unknown role "missing" (defined: r)']
  ]
  for (const [file, text, fault] of cases) {
    const bad = join(dir, file)
    writeFileSync(bad, text)
    const refusal = await startServer(['--policy-file', bad], { backend: demoBackend() })
      .then(async (started) => { await started.close(); return undefined }, (err: Error) => err.message)
    t.equal(refusal, `policy ${bad}: ${fault}`, file)
  }
})

t.test('rate limits per principal: 429 with Retry-After; others unaffected', async (t) => {
  const limited = await startServer(['--oidc-issuer', idp.issuer, '--resource-url', RESOURCE, '--rate-limit', '3', '--rate-limit-window', '1m'], { backend: demoBackend() })
  t.teardown(limited.close)
  const erin = bearer(await idp.sign(claims({ sub: 'erin' })))
  const frank = bearer(await idp.sign(claims({ sub: 'frank' })))
  for (let i = 0; i < 3; i++) t.equal((await callRest(limited.base, 'list_topics', {}, erin)).status, 200)
  const res = await fetch(`${limited.base}/api/v1/tools/list_topics`, { method: 'POST', headers: { 'content-type': 'application/json', ...erin }, body: '{}' })
  t.equal(res.status, 429)
  t.ok(Number(res.headers.get('retry-after')) > 0, `Retry-After: ${res.headers.get('retry-after')}`)
  t.match(await res.json(), { code: 'KSMCP_ERR_RATE_LIMITED' })
  t.equal((await callRest(limited.base, 'list_topics', {}, frank)).status, 200, 'another principal is unaffected')
})

t.test('no token, password or secret reaches a log line', async (t) => {
  const logs: string[] = []
  const canary = 'canary-7f3a9e1c-secret'
  const canaryAudit = join(dir, 'canary-audit.jsonl')
  const s = await startServer(['--auth-token', canary, '--etcd-endpoints', `http://127.0.0.1:${await freePort()}`, '--etcd-password', canary, '--etcd-username', 'root', '--etcd-timeout', '300ms', '--audit-file', canaryAudit], {
    logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } }
  })
  t.teardown(s.close)
  await callRest(s.base, 'list_topics', {}, bearer(canary))
  await callRest(s.base, 'describe_group', { group_id: 'x', password: canary }, bearer(canary))
  await callRest(s.base, 'list_topics', {}, bearer(`${canary}-wrong`))
  await fetch(`${s.base}/readyz`)
  t.ok(logs.length > 5, `${logs.length} log lines captured`)
  t.notOk(logs.some((l) => l.includes(canary)), 'the canary appears in no log line')
  const audit = readFileSync(canaryAudit, 'utf8')
  t.match(audit, '"password":"[redacted]"')
  t.notOk(audit.includes(canary), 'nor in the audit records')
})
