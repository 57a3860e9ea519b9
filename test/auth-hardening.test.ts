import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { demoBackend } from '../demo/cluster.ts'
import { OidcVerifier, TokenError, type OidcOptions } from '../lib/auth/oidc.ts'
import { parsePolicy, PolicyStore } from '../lib/auth/policy.ts'
import type { Principal } from '../lib/auth/principal.ts'
import { startHangingIssuer, startIdp, type TestIdp } from './helpers/idp.ts'
import { callRest, startServer } from './helpers/server.ts'

// Issue 9, items 5 (token lifetime), 8 (role names from Object.prototype), 13 (IdP fetches
// shared and failures held) and 14 (claims compared by type).

const RESOURCE = 'https://mcp.example.test/mcp'
const TEN_YEARS = 10 * 365 * 24 * 3600
const dir = mkdtempSync(join(tmpdir(), 'kafscale-auth-hardening-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

let idp: TestIdp
t.before(async () => { idp = await startIdp() })
t.teardown(async () => { await idp.close() })

const now = (): number => Math.floor(Date.now() / 1000)
const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: idp.issuer, aud: RESOURCE, sub: 'alice', iat: now(), exp: now() + 300, scope: 'kafscale:observe', ...over
})
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })
const oidcArgs = (issuer: string): string[] => ['--oidc-issuer', issuer, '--resource-url', RESOURCE, '--rate-limit', '0', '--max-concurrent', '0']

function verifierOptions (issuer: string, over: Partial<OidcOptions> = {}): OidcOptions {
  return { issuer, audience: RESOURCE, algorithms: ['RS256'], clockToleranceSec: 30, maxTokenLifetimeSec: 3600, groupsClaim: 'groups', jwksCacheMaxAgeMs: 600_000, timeoutMs: 5000, ...over }
}

t.test('item 5: the lifetime cap holds against a future iat', async (t) => {
  const server = await startServer(oidcArgs(idp.issuer), { backend: demoBackend() })
  t.teardown(server.close)
  const refused = async (name: string, over: Record<string, unknown>, message: RegExp): Promise<void> => {
    const res = await fetch(`${server.base}/api/v1/tools/list_topics`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(await idp.sign(claims(over))) }, body: '{}' })
    const body = await res.json() as Record<string, unknown>
    t.match(body, { statusCode: 401, code: 'KSMCP_ERR_UNAUTHORIZED', error: 'Unauthorized' }, `${name}: 401`)
    t.match(body.message, message, `${name}: ${String(body.message)}`)
    t.match(res.headers.get('www-authenticate') ?? '', 'error="invalid_token"')
  }
  const exp = now() + TEN_YEARS
  await refused('iat a minute before an exp ten years ahead', { iat: exp - 60, exp }, /^unauthorized: token expires in \d+ s, later than the allowed lifetime of 3600 s from now$/)
  await refused('iat ten minutes ahead, exp within the cap', { iat: now() + 600, exp: now() + 900 }, /^unauthorized: token issued in the future: iat is \d+ s ahead of this server's clock \(allowed skew 30 s\)$/)
  await refused('exp - iat over the cap, exp near', { iat: now() - 3000, exp: now() + 1000 }, /^unauthorized: token lifetime 4000 s exceeds the allowed 3600 s$/)

  const accepted = async (name: string, over: Record<string, unknown>): Promise<void> => {
    t.equal((await callRest(server.base, 'list_topics', {}, bearer(await idp.sign(claims(over))))).status, 200, name)
  }
  await accepted('iat within the clock skew ahead', { iat: now() + 10, exp: now() + 300 })
  await accepted('exactly the maximum lifetime', { iat: now(), exp: now() + 3600 })
})

t.test('item 13: a garbage bearer string is refused before any fetch', async (t) => {
  const hanging = await startHangingIssuer()
  t.teardown(hanging.close)
  const server = await startServer(oidcArgs(hanging.issuer), { backend: demoBackend() })
  t.teardown(server.close)
  for (const garbage of ['not-a-jwt', 'a.b.c', 'eyJhbGciOiJSUzI1NiJ9.e30', `${'x'.repeat(2000)}.y.z`]) {
    const res = await callRest(server.base, 'list_topics', {}, bearer(garbage))
    t.match(res, { status: 401, body: { code: 'KSMCP_ERR_UNAUTHORIZED', message: /^unauthorized: malformed token: / } }, garbage.slice(0, 20))
  }
  const hs256 = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims({ iss: hanging.issuer }))).toString('base64url')}.c2ln`
  t.same((await callRest(server.base, 'list_topics', {}, bearer(hs256))).body.message, 'unauthorized: token algorithm not allowed')
  t.equal(hanging.requests(), 0, 'the issuer was never asked')
})

t.test('item 13: a hanging issuer is asked once for concurrent requests, then held', async (t) => {
  const hanging = await startHangingIssuer()
  t.teardown(hanging.close)
  const server = await startServer(oidcArgs(hanging.issuer), { backend: demoBackend() })
  t.teardown(server.close)
  const token = await idp.sign(claims({ iss: hanging.issuer }))
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await callRest(server.base, 'list_topics', {}, bearer(token))))
  t.same(new Set(answers.map((a) => `${a.status} ${a.body.code}`)), new Set(['503 KSMCP_ERR_AUTH_UNAVAILABLE']), 'all 20 answered 503')
  t.match(answers[0]!.body.message, `cannot verify the token now: cannot read the identity provider's discovery document at ${hanging.issuer}/.well-known/openid-configuration: no answer within 5000 ms`)
  t.equal(hanging.requests(), 1, '20 concurrent requests shared one discovery fetch')

  for (let i = 0; i < 5; i++) {
    const held = await fetch(`${server.base}/api/v1/tools/list_topics`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(token) }, body: '{}' })
    t.equal(held.status, 503)
    t.equal(held.headers.get('retry-after'), '5')
    t.match(await held.json(), { code: 'KSMCP_ERR_AUTH_UNAVAILABLE', message: /no answer within 5000 ms \(not asked again for [1-5] s\)$/ })
  }
  t.equal(hanging.requests(), 1, 'requests during the hold ask nothing')
  t.equal((await callRest(server.base, 'list_topics', {}, bearer('garbage'))).status, 401, 'a garbage token is still 401, not 503')
})

t.test('item 13: after the hold the issuer is asked again, once', async (t) => {
  const hanging = await startHangingIssuer()
  t.teardown(hanging.close)
  // The deadline leaves a loaded machine time to deliver the request the issuer counts.
  const verifier = new OidcVerifier(verifierOptions(hanging.issuer, { timeoutMs: 1000, failureHoldMs: 1500 }))
  const token = await idp.sign(claims({ iss: hanging.issuer }))
  const attempt = async (): Promise<TokenError> => await verifier.verify(token).then(() => { throw new Error('accepted') }, (err: TokenError) => err)
  t.match(await attempt(), { kind: 'unavailable', message: /no answer within 1000 ms$/ })
  t.match(await attempt(), { kind: 'unavailable', message: /\(not asked again for [12] s\)$/ })
  t.equal(hanging.requests(), 1)
  await new Promise((resolve) => setTimeout(resolve, 1600))
  const again = await Promise.all([attempt(), attempt(), attempt()])
  t.ok(again.every((err) => err.kind === 'unavailable'))
  t.equal(hanging.requests(), 2, 'one new attempt for three concurrent requests')
})

t.test('item 13: discovery and key set are fetched once for concurrent requests, and once per refetch', async (t) => {
  const verifier = new OidcVerifier(verifierOptions(idp.issuer, { jwksCacheMaxAgeMs: 200 }))
  const before = { ...idp.requests }
  const principals = await Promise.all(Array.from({ length: 20 }, async (_, i) => await verifier.verify(await idp.sign(claims({ sub: `user-${i}` })))))
  t.same(principals.map((p) => p.subject), Array.from({ length: 20 }, (_, i) => `user-${i}`))
  t.same({ discovery: idp.requests.discovery - before.discovery, jwks: idp.requests.jwks - before.jwks }, { discovery: 1, jwks: 1 })

  await new Promise((resolve) => setTimeout(resolve, 250))
  const stranger = await idp.newKey('stranger')
  const refused = await Promise.all(Array.from({ length: 20 }, async () => await verifier.verify(await idp.sign(claims(), { key: stranger })).catch((err: TokenError) => err)))
  t.ok(refused.every((err) => err instanceof TokenError && err.kind === 'invalid' && err.message === 'no key of the identity provider matches the token'))
  t.same({ discovery: idp.requests.discovery - before.discovery, jwks: idp.requests.jwks - before.jwks }, { discovery: 1, jwks: 2 }, 'an expired cache and 20 unknown kids: one refetch')
})

const ROLES = `
roles:
  observer: { tools: ["@observe"] }
  lag: { tools: [fetch_offsets] }
`

t.test('item 8: role names inherited from Object.prototype are unknown roles', async (t) => {
  for (const role of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
    t.throws(() => parsePolicy(`${ROLES}bindings: [{ name: b, everyone: true, roles: [${role}] }]\n`, 'p.yaml'),
      { message: `policy p.yaml: binding b names unknown role "${role}" (defined: observer, lag)` }, role)
  }
  t.throws(() => parsePolicy(JSON.stringify({ roles: { observer: { tools: ['@observe'] } }, bindings: [{ everyone: true, roles: ['toString'] }] }), 'p.json'),
    { message: 'policy p.json: binding {"everyone":true,"roles":["toString"]} names unknown role "toString" (defined: observer)' }, 'JSON too')

  const defined = parsePolicy('roles: { constructor: { tools: [list_topics] } }\nbindings: [{ name: b, everyone: true, roles: [constructor] }]\n', 'p.yaml')
  t.same(Object.keys(defined.roles), ['constructor'], 'a role the file defines may have such a name')
  const file = join(dir, 'constructor.yaml')
  writeFileSync(file, 'roles: { constructor: { tools: [list_topics] } }\nbindings: [{ name: b, everyone: true, roles: [constructor] }]\n')
  t.match(new PolicyStore(file).decide(principal({}), { name: 'list_topics', readOnly: true }), { allowed: true, rule: 'b/constructor' })
})

t.test('item 8: refused at start, and a reload keeps the old policy and reports why', async (t) => {
  const file = join(dir, 'reload.yaml')
  writeFileSync(file, `${ROLES}bindings: [{ name: b, everyone: true, roles: [toString] }]\n`)
  await t.rejects(startServer(['--policy-file', file], { backend: demoBackend() }), { message: `policy ${file}: binding b names unknown role "toString" (defined: observer, lag)` })

  writeFileSync(file, `${ROLES}bindings: [{ name: b, everyone: true, roles: [observer] }]\n`)
  const reloadErrors: string[] = []
  const store = new PolicyStore(file, (err) => reloadErrors.push(err.message))
  const tool = { name: 'list_topics', readOnly: true }
  t.match(store.decide(principal({}), tool), { allowed: true, rule: 'b/observer' })
  writeFileSync(file, `${ROLES}bindings: [{ name: b, everyone: true, roles: [constructor] }]\n`)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.match(store.decide(principal({}), tool), { allowed: true, rule: 'b/observer' }, 'the old policy is still in force')
  t.same(reloadErrors, [`policy ${file}: binding b names unknown role "constructor" (defined: observer, lag)`])
})

t.test('item 14: claims bindings compare by type and value, own claims only', async (t) => {
  const file = join(dir, 'claims.yaml')
  writeFileSync(file, `${ROLES}bindings:
  - { name: acme, claims: { tenant: acme }, roles: [lag] }
  - { name: verified, claims: { email_verified: true, level: 3 }, roles: [observer] }
  - { name: inherited, claims: { constructor: x, toString: y }, roles: [observer] }
`)
  const store = new PolicyStore(file)
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ['string equals string', { tenant: 'acme' }, ['lag']],
    ['array holding the string', { tenant: ['acme'] }, []],
    ['nested array', { tenant: [['acme']] }, []],
    ['object whose String() is the value', { tenant: { toString: 'acme' } }, []],
    ['other case', { tenant: 'ACME' }, []],
    ['boolean and number equal', { email_verified: true, level: 3 }, ['observer']],
    ['"true" and "3" as strings', { email_verified: 'true', level: '3' }, []],
    ['[3]', { email_verified: true, level: [3] }, []],
    ['no claims: inherited names do not count', {}, []]
  ]
  for (const [name, tokenClaims, roles] of cases) {
    t.same(store.decide(principal(tokenClaims), { name: 'fetch_offsets', readOnly: true }).roles, roles, name)
  }
  t.throws(() => parsePolicy(`${ROLES}bindings: [{ claims: { tenant: [acme] }, roles: [lag] }]\n`, 'p.yaml'), { message: 'policy p.yaml: bindings.0.claims.tenant: must be string or number or boolean' }, 'a list is not a claim value')

  const server = await startServer([...oidcArgs(idp.issuer), '--policy-file', file], { backend: demoBackend() })
  t.teardown(server.close)
  const asArray = await callRest(server.base, 'fetch_offsets', { group_id: 'billing' }, bearer(await idp.sign(claims({ tenant: ['acme'] }))))
  t.same(asArray.body, { statusCode: 403, code: 'KSMCP_ERR_FORBIDDEN', error: 'Forbidden', message: 'forbidden: tool "fetch_offsets" is not granted to alice (roles: none)' }, 'tenant: ["acme"] over REST')
  t.equal((await callRest(server.base, 'fetch_offsets', { group_id: 'billing' }, bearer(await idp.sign(claims({ tenant: 'acme' }))))).status, 200, 'tenant: "acme" over REST')
})

function principal (tokenClaims: Record<string, unknown>): Principal {
  return { id: 'oidc:test|alice', method: 'oidc', subject: 'alice', groups: [], scopes: ['kafscale:observe'], claims: tokenClaims }
}
