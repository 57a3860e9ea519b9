import { createHash, createHmac } from 'node:crypto'
import { execFile, spawn } from 'node:child_process'
import { appendFileSync, closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { parseAllDocuments } from 'yaml'
import { demoBackend } from '../demo/cluster.ts'
import { runAuditCommand } from '../lib/audit-command.ts'
import { AuditLog, ChainedFileAuditSink, DANGLING_INTENT, digestArguments, redact, verifyAuditFile, type AuditRecord, type MutationAuditFields } from '../lib/audit.ts'
import { callRest, startServer } from './helpers/server.ts'

const BIN = fileURLToPath(new URL('../bin/kafscale-mcp.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'kafscale-audit-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const KEY = Buffer.from('k3y-for-the-audit-chain-tests-0123456789')
const keyFile = join(dir, 'hmac.key')
writeFileSync(keyFile, `${KEY.toString()}\n`)

let files = 0
const fresh = (): string => join(dir, `audit-${++files}.jsonl`)

function record (n: number): AuditRecord {
  return {
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    request_id: `req-${n}`,
    transport: 'rest',
    principal: { id: 'static:ops', sub: 'ops' },
    roles: ['observer'],
    tool: 'list_topics',
    arguments: { n },
    arguments_sha256: digestArguments({ n }),
    decision: 'allow',
    rule: 'everyone/observer',
    outcome: 'ok',
    duration_ms: 1,
    diff: null
  }
}

/** A chain of `count` records written by the real sink. */
async function chain (count: number, key?: Buffer): Promise<string> {
  const path = fresh()
  const sink = new ChainedFileAuditSink({ path, key })
  for (let i = 1; i <= count; i++) await sink.write(record(i))
  return path
}

const lines = (path: string): string[] => readFileSync(path, 'utf8').split('\n').slice(0, -1)
const hmac = (text: string): string => createHmac('sha256', KEY).update(text).digest('hex')
const sha = (text: string): string => createHash('sha256').update(text).digest('hex')
/** What an attacker without the key can do: edit a record and recompute every hash after it with SHA-256. */
function rechain (path: string, edit: (r: Record<string, unknown>, i: number) => void): string[] {
  let prev = '0'.repeat(64)
  return lines(path).map((line, i) => {
    const { hash: _, ...r } = JSON.parse(line) as Record<string, unknown>
    edit(r, i)
    r.prev_hash = prev
    const body = JSON.stringify(r)
    prev = sha(body)
    return `${body.slice(0, -1)},"hash":"${prev}"}`
  })
}

async function cli (args: string[], env: Record<string, string> = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'audit', ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr }))
  })
}

t.test('the checkpoint and the records are the documented wire format', async (t) => {
  const path = await chain(3, KEY)
  const [first, , third] = lines(path).map((l) => JSON.parse(l) as Record<string, unknown>)
  t.match(first, { request_id: 'req-1', seq: 1, prev_hash: '0'.repeat(64), hash: /^[0-9a-f]{64}$/ })
  t.match(third, { seq: 3 })
  const line = lines(path)[2]!
  t.equal(third!.hash, hmac(`${line.slice(0, line.lastIndexOf(',"hash":'))}}`), 'a record\'s hash is the HMAC of its line without the hash field')
  t.notOk('chain_resumed' in third!)

  const checkpoint = readFileSync(`${path}.checkpoint`, 'utf8')
  t.match(checkpoint, /^\{"format":"kafscale-mcp-audit-checkpoint\/1","chain":"hmac-sha256","records":3,"head":"[0-9a-f]{64}","time":"[^"]+","hash":"[0-9a-f]{64}"\}\n$/)
  const parsed = JSON.parse(checkpoint) as Record<string, string>
  t.equal(parsed.head, third!.hash, 'the head is the last record\'s hash')
  t.equal(parsed.hash, hmac(`${checkpoint.slice(0, checkpoint.lastIndexOf(',"hash":'))}}`), 'sealed like a record')
  t.same(verifyAuditFile(path, { key: KEY }), { ok: true, records: 3 })

  const plain = await chain(2)
  const plainCheckpoint = readFileSync(`${plain}.checkpoint`, 'utf8')
  t.match(plainCheckpoint, '"chain":"sha256","records":2,')
  t.equal((JSON.parse(plainCheckpoint) as Record<string, string>).hash, sha(`${plainCheckpoint.slice(0, plainCheckpoint.lastIndexOf(',"hash":'))}}`))
  t.same(verifyAuditFile(plain), { ok: true, records: 2 })
})

t.test('removing records from the end, or emptying the file, fails verify', async (t) => {
  for (const key of [KEY, undefined]) {
    const sealed = key !== undefined ? 'keyed' : 'keyless'
    const lastRemoved = await chain(6, key)
    writeFileSync(lastRemoved, `${lines(lastRemoved).slice(0, -1).join('\n')}\n`)
    t.match(verifyAuditFile(lastRemoved, { key }), { ok: false, records: 5, brokenLine: undefined, reason: /recorded 6 records, the chain ends at record 5: records were removed from the end/ }, `${sealed}: last record deleted`)

    const halved = await chain(6, key)
    writeFileSync(halved, `${lines(halved).slice(0, 3).join('\n')}\n`)
    t.match(verifyAuditFile(halved, { key }), { ok: false, records: 3, reason: /recorded 6 records, the chain ends at record 3/ }, `${sealed}: cut in half at a line`)

    const cutMidLine = await chain(6, key)
    truncateSync(cutMidLine, Math.floor(readFileSync(cutMidLine).length / 2) + 7)
    t.match(verifyAuditFile(cutMidLine, { key }), { ok: false, brokenLine: 4, reason: /^not a chained audit record \(no hash\) \(a broken end of the file/ }, `${sealed}: cut in half by bytes`)

    const emptied = await chain(6, key)
    writeFileSync(emptied, '')
    t.match(verifyAuditFile(emptied, { key }), { ok: false, records: 0, reason: /recorded 6 records, the chain ends at record 0/ }, `${sealed}: emptied`)
  }

  const noCheckpoint = await chain(2, KEY)
  rmSync(`${noCheckpoint}.checkpoint`)
  t.match(verifyAuditFile(noCheckpoint, { key: KEY }), { ok: false, records: 2, reason: /there is no checkpoint at .*: nothing shows whether records were removed from the end/ })
})

t.test('a chain rewritten without the key fails verify', async (t) => {
  const keyed = await chain(5, KEY)
  writeFileSync(keyed, `${rechain(keyed, (r, i) => { if (i === 1) r.decision = 'deny' }).join('\n')}\n`)
  t.match(verifyAuditFile(keyed, { key: KEY }), { ok: false, records: 0, brokenLine: 1, reason: /its hash does not match its content: the record was altered/ }, 'keyed: every recomputed hash is wrong')

  const forged = await chain(4, KEY)
  writeFileSync(forged, `${lines(forged).slice(0, 2).join('\n')}\n`)
  const head = (JSON.parse(lines(forged)[1]!) as { hash: string }).hash
  const body = JSON.stringify({ format: 'kafscale-mcp-audit-checkpoint/1', chain: 'hmac-sha256', records: 2, head, time: new Date().toISOString() })
  writeFileSync(`${forged}.checkpoint`, `${body.slice(0, -1)},"hash":"${sha(body)}"}\n`)
  t.match(verifyAuditFile(forged, { key: KEY }), { ok: false, reason: /the checkpoint .* its hash does not match its content: the checkpoint was altered/ }, 'keyed: a truncation with a checkpoint forged to match')

  t.match(verifyAuditFile(keyed), { ok: false, records: 0, reason: /says the chain is sealed with hmac-sha256, not sha256: verify with the key it was written with/ }, 'verify without the key of a keyed file says so')

  const plain = await chain(5)
  writeFileSync(plain, `${rechain(plain, (r, i) => { if (i === 1) r.decision = 'deny' }).join('\n')}\n`)
  t.match(verifyAuditFile(plain), { ok: false, records: 5, reason: /the chain's last record is not the one the checkpoint .* recorded: the chain was rewritten/ }, 'keyless: a rewrite that leaves the checkpoint alone')

  // The documented limit without a key: rewriting the checkpoint as well goes unnoticed.
  const checkpoint = JSON.parse(readFileSync(`${plain}.checkpoint`, 'utf8')) as Record<string, unknown>
  const { hash: _, ...fields } = checkpoint
  const rewritten = JSON.stringify({ ...fields, head: (JSON.parse(lines(plain).at(-1)!) as { hash: string }).hash })
  writeFileSync(`${plain}.checkpoint`, `${rewritten.slice(0, -1)},"hash":"${sha(rewritten)}"}\n`)
  t.same(verifyAuditFile(plain), { ok: true, records: 5 }, 'keyless: file and checkpoint rewritten together pass (README says so)')
})

t.test('a corrupt last line: the writer starts, resumes the chain, and verify explains it', async (t) => {
  const path = await chain(3, KEY)
  appendFileSync(path, '{"time":"2026-01-01T00:00:09.000Z","request_id":"torn')
  t.match(verifyAuditFile(path, { key: KEY }), { ok: false, records: 3, brokenLine: 4, reason: /^not a chained audit record \(no hash\) \(a broken end of the file; the service resumes the chain after it when it starts\)$/ })

  const restarted = new ChainedFileAuditSink({ path, key: KEY })
  t.same(restarted.resumption, { reason: 'the end of the file did not verify (line 4: not a chained audit record (no hash))', broken_lines: [4, 4] })
  await restarted.write(record(10))
  await restarted.write(record(11))
  const resumed = JSON.parse(lines(path)[4]!) as Record<string, any>
  t.match(resumed, { request_id: 'req-10', seq: 4, prev_hash: (JSON.parse(lines(path)[2]!) as { hash: string }).hash, chain_resumed: restarted.resumption })
  t.notOk('chain_resumed' in (JSON.parse(lines(path)[5]!) as object), 'only the first record after the break carries the marker')
  t.same(verifyAuditFile(path, { key: KEY }), {
    ok: true, records: 5, resumptions: [{ line: 5, reason: 'the end of the file did not verify (line 4: not a chained audit record (no hash))', brokenLines: [4, 4] }]
  })

  const cmd = await cli(['verify', '--audit-hmac-key-file', keyFile, path])
  t.equal(cmd.code, 3)
  t.equal(cmd.stdout, `${path}: 5 records, chain intact, ends at its checkpoint ${path}.checkpoint (HMAC-SHA256, key ${keyFile}), but the service resumed the chain once:\n` +
    '  line 5: resumed after a broken record at line 4: the end of the file did not verify (line 4: not a chained audit record (no hash))\n')

  // Garbage put right before the resumed record is not covered by its marker.
  const moved = fresh()
  const raw = lines(path)
  writeFileSync(moved, `${[...raw.slice(0, 3), 'junk', ...raw.slice(3)].join('\n')}\n`)
  copyFileSync(`${path}.checkpoint`, `${moved}.checkpoint`)
  t.match(verifyAuditFile(moved, { key: KEY }), { ok: false, brokenLine: 4, reason: /not a chained audit record/ })
})

t.test('a file truncated while the service was stopped: the next record says so', async (t) => {
  const path = await chain(5, KEY)
  writeFileSync(path, `${lines(path).slice(0, 2).join('\n')}\n`)
  const restarted = new ChainedFileAuditSink({ path, key: KEY })
  t.match(restarted.resumption, { reason: /^the checkpoint \(.*\) recorded 5 records, the chain ends at record 2: records were removed from the end/ })
  t.notOk(restarted.resumption?.broken_lines)
  await restarted.write(record(6))
  t.match(verifyAuditFile(path, { key: KEY }), { ok: true, records: 3, resumptions: [{ line: 3, reason: /recorded 5 records, the chain ends at record 2/ }] })
})

t.test('a crash between append and checkpoint is not a break', async (t) => {
  const path = await chain(3, KEY)
  const before = readFileSync(`${path}.checkpoint`)
  await new ChainedFileAuditSink({ path, key: KEY }).write(record(4))
  writeFileSync(`${path}.checkpoint`, before)
  t.match(verifyAuditFile(path, { key: KEY }), { ok: false, records: 4, reason: /the chain holds 4 records, the checkpoint .* recorded 3: the last records were written while the checkpoint could not be updated/ })
  const restarted = new ChainedFileAuditSink({ path, key: KEY })
  t.equal(restarted.resumption, undefined, 'the checkpoint names a record of the chain: nothing is missing')
  t.same(verifyAuditFile(path, { key: KEY }), { ok: true, records: 4 }, 'the start brought the checkpoint up to date')
})

t.test('the real service with --audit-file and a key: a corrupt tail does not stop it', async (t) => {
  const path = fresh()
  const args = ['--audit-file', path, '--audit-hmac-key-file', keyFile]
  const first = await startServer(args, { backend: demoBackend() })
  t.equal((await callRest(first.base, 'list_topics', {})).status, 200)
  t.equal((await callRest(first.base, 'describe_topics', { names: ['orders'] })).status, 200)
  await first.close()
  t.same(verifyAuditFile(path, { key: KEY }), { ok: true, records: 2 })
  const intact = await cli(['verify', path], { KAFSCALE_MCP_AUDIT_HMAC_KEY_FILE: keyFile })
  t.equal(intact.code, 0)
  t.equal(intact.stdout, `${path}: 2 records, chain intact, ends at its checkpoint ${path}.checkpoint (HMAC-SHA256, key ${keyFile})\n`)

  appendFileSync(path, 'not json at all\n')
  const second = await startServer(args, { backend: demoBackend() })
  t.teardown(second.close)
  t.equal((await callRest(second.base, 'list_topics', {})).status, 200)
  t.match(JSON.parse(lines(path)[3]!), { tool: 'list_topics', seq: 3, chain_resumed: { reason: 'the end of the file did not verify (line 3: not a chained audit record (no hash))', broken_lines: [3, 3] } })
  t.match(verifyAuditFile(path, { key: KEY }), { ok: true, records: 3, resumptions: [{ line: 4, brokenLines: [3, 3] }] })
})

t.test('audit verify: options, exit codes and output', async (t) => {
  const plain = await chain(2)
  const elsewhere = join(dir, 'kept-elsewhere.checkpoint')
  const keyed = fresh()
  const sink = new ChainedFileAuditSink({ path: keyed, checkpointPath: elsewhere, key: KEY })
  for (let i = 1; i <= 3; i++) await sink.write(record(i))
  writeFileSync(keyed, `${lines(keyed).slice(0, 2).join('\n')}\n`)
  // Each run of the bin loads the whole service: start them together.
  const [help, unknown, ok, cut] = await Promise.all([
    cli(['verify', '--help']),
    cli(['verify', '--keyfile', 'x', 'audit.jsonl']),
    cli(['verify', plain]),
    cli(['verify', '--audit-checkpoint', elsewhere, '--audit-hmac-key-file', keyFile, keyed])
  ])
  t.equal(help.code, 0)
  t.match(help.stdout, /^Usage: kafscale-mcp audit verify \[options\] AUDIT-FILE\n/)
  t.match(help.stdout, /--audit-hmac-key-file FILE .*\[KAFSCALE_MCP_AUDIT_HMAC_KEY_FILE\]/)
  t.match(help.stdout, /Exit status: 0 intact; 1 broken/)

  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /^kafscale-mcp audit: Unknown option '--keyfile'.*\n\nUsage: kafscale-mcp audit verify/)
  t.equal(unknown.stdout, '')

  t.equal(ok.code, 0)
  t.equal(ok.stdout, `${plain}: 2 records, chain intact, ends at its checkpoint ${plain}.checkpoint (SHA-256, no key)\n` +
    'note: without an HMAC key this cannot rule out a rewrite: whoever can write the file and its checkpoint can recompute every hash. Seal the chain with --audit-hmac-key-file.\n')

  t.equal(cut.code, 1)
  t.match(cut.stderr, `${keyed}: the checkpoint (`)
  t.match(cut.stderr, `) recorded 3 records, the chain ends at record 2: records were removed from the end, or the file was replaced by an older copy (checkpoint ${elsewhere}; 2 records verified)\n`)
})

t.test('audit verify: usage errors and unreadable input exit 2', async (t) => {
  const shortKey = join(dir, 'short.key')
  writeFileSync(shortKey, 'tooshort\n')
  const cases: Array<[string[], RegExp]> = [
    [['verify'], /^kafscale-mcp audit: name exactly one audit file\n\nUsage: kafscale-mcp audit verify/],
    [['verify', 'a', 'b'], /^kafscale-mcp audit: name exactly one audit file\n/],
    [['check', 'a'], /^kafscale-mcp audit: the only command is verify\n/],
    [['verify', join(dir, 'nowhere.jsonl')], /^kafscale-mcp audit: cannot verify .*nowhere\.jsonl: ENOENT/],
    [['verify', '--audit-hmac-key-file', shortKey, await chain(1)], /the audit HMAC key file .*short\.key holds 8 bytes; use at least 32 random bytes/]
  ]
  for (const [args, message] of cases) {
    const errors = t.capture(console, 'error')
    t.equal(runAuditCommand(args, {}), 2, args.join(' '))
    t.match(String(errors()[0]?.args[0]), message)
  }
})

t.test('the arguments kept in a record are bounded; the digest covers all of them', async (t) => {
  const many = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]))
  const path = fresh()
  await new ChainedFileAuditSink({ path }).write({ ...record(1), arguments: redact(many), arguments_sha256: digestArguments(many) })
  const line = lines(path)[0]!
  t.ok(Buffer.byteLength(line) < 12_000, `a 100,000-key call writes a ${Buffer.byteLength(line)}-byte record`)
  const kept = JSON.parse(line) as { arguments: Record<string, unknown>, arguments_sha256: string }
  t.equal(Object.keys(kept.arguments).length, 101)
  t.equal(kept.arguments['…'], '[99900 more keys not recorded]')
  t.equal(kept.arguments_sha256, digestArguments(many))
  t.not(kept.arguments_sha256, digestArguments(kept.arguments), 'the digest is of the full arguments, not the kept part')

  const size = (v: unknown): number => Buffer.byteLength(JSON.stringify(redact(v)))
  const wide = Object.fromEntries(Array.from({ length: 90 }, (_, i) => [`field${i}`, 'x'.repeat(1000)]))
  t.ok(size(wide) <= 8192, `long strings under many keys stay within 8 KiB (${size(wide)})`)
  t.match(redact(wide), { field0: `${'x'.repeat(256)}…`, '…': /^\[\d+ more keys not recorded\]$/ })
  const nested = Array.from({ length: 20 }, () => Array.from({ length: 200 }, (_, i) => ({ i, tag: 'ü'.repeat(300) })))
  t.ok(size(nested) <= 8192, `nested arrays stay within 8 KiB (${size(nested)})`)
  t.equal((redact(Array.from({ length: 150 }, (_, i) => i)) as unknown[]).at(-1), '[50 more items not recorded]')
  let deep: unknown = 'bottom'
  for (let i = 0; i < 50; i++) deep = { down: deep }
  t.match(JSON.stringify(redact(deep)), /^(\{"down":){9}"\[too deep\]"\}{9}$/)
  t.same(redact({ password: 'hunter2', names: ['orders'] }), { password: '[redacted]', names: ['orders'] })
})

t.test('what the caller names itself and the tool it asks for are bounded in the record too', async (t) => {
  const path = fresh()
  const server = await startServer(['--audit-file', path], { backend: demoBackend() })
  t.teardown(server.close)
  // 10,000 characters: the 2026-07-28 era repeats the tool name in the Mcp-Name header, whose size Node caps at 16 KB.
  const huge = 'n'.repeat(10_000)
  const res = await fetch(`${server.base}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': huge },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: huge, arguments: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: huge, version: huge }, 'io.modelcontextprotocol/clientCapabilities': {} } }
    })
  })
  t.equal(res.status, 200)
  const line = lines(path)[0]!
  t.ok(Buffer.byteLength(line) < 2_000, `a call naming a 10,000-character tool as a 10,000-character client writes a ${Buffer.byteLength(line)}-byte record`)
  const kept = JSON.parse(line) as AuditRecord
  t.same([kept.tool, kept.principal.client_name, kept.principal.client_version], [`${'n'.repeat(256)}…`, `${'n'.repeat(256)}…`, `${'n'.repeat(256)}…`])
  t.match(kept, { decision: 'deny', rule: 'unknown-tool', error_code: 'KSMCP_ERR_UNKNOWN_TOOL' })
})

t.test('adding or changing the key resumes the chain; the old records no longer verify', async (t) => {
  const path = await chain(2)
  const keyed = new ChainedFileAuditSink({ path, key: KEY })
  t.match(keyed.resumption, { reason: /^the end of the file did not verify \(line 1: .*\); the checkpoint .* says the chain is sealed with sha256, not hmac-sha256$/, broken_lines: [1, 2] })
  await keyed.write(record(3))
  const other = Buffer.from('another-key-for-the-audit-chain-0123456789')
  const rotated = new ChainedFileAuditSink({ path, key: other })
  t.match(rotated.resumption, { broken_lines: [1, 3] })
  await rotated.write(record(4))
  t.match(verifyAuditFile(path, { key: other }), { ok: true, records: 1, resumptions: [{ line: 4, brokenLines: [1, 3] }] })
  t.match(verifyAuditFile(path, { key: KEY }), { ok: false, records: 1, brokenLine: 4, reason: /^its hash does not match its content: the record was altered \(or it was written with another key, or without one\)/ }, 'the old key verifies its own record only')
})

t.test('the chart mounts the HMAC key from a Secret and points the service at it', async (t) => {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const helm = process.env.HELM_BINARY ?? join(root, '.cache/bin/helm')
  const rendered = await new Promise<string>((resolve, reject) => {
    execFile(helm, ['template', 'k', join(root, 'chart'), '--kube-version', '1.31.0', '--set', 'mcp.enabled=true', '--set', 'mcp.auth.token=abc',
      '--set', 'mcp.audit.file=/var/log/kafscale-mcp/audit.jsonl', '--set', 'mcp.audit.existingSecret=audit-keys', '--set', 'mcp.audit.existingSecretHmacKeyKey=chain'],
    (err, stdout, stderr) => { err === null ? resolve(stdout) : reject(new Error(stderr)) })
  })
  const deployment = parseAllDocuments(rendered).map((d) => d.toJS() as Record<string, any>).find((m) => m?.kind === 'Deployment')!
  const pod = deployment.spec.template.spec
  const named = (list: Array<{ name: string }>, name: string): unknown => list.find((e) => e.name === name)
  t.same(named(pod.containers[0].env, 'KAFSCALE_MCP_AUDIT_HMAC_KEY_FILE'), { name: 'KAFSCALE_MCP_AUDIT_HMAC_KEY_FILE', value: '/var/run/secrets/kafscale-mcp/audit/chain' })
  t.same(named(pod.containers[0].volumeMounts, 'audit-key'), { name: 'audit-key', mountPath: '/var/run/secrets/kafscale-mcp/audit', readOnly: true })
  t.same(named(pod.volumes, 'audit-key'), { name: 'audit-key', secret: { secretName: 'audit-keys', items: [{ key: 'chain', path: 'chain' }] } })
})

// ---- mutations ----

function step (n: number, mutation: MutationAuditFields): AuditRecord {
  return { ...record(n), tool: 'create_topic', mutation }
}
const plan = (id: string): MutationAuditFields => ({ phase: 'plan', plan_id: id, result: 'planned', resource: 'topic:orders', env: 'prod', before_sha256: sha('absent') })
const intent = (id: string): MutationAuditFields => ({ phase: 'intent', plan_id: id, resource: 'topic:orders', env: 'prod', before_sha256: sha('absent') })
const outcome = (id: string, result: MutationAuditFields['result']): MutationAuditFields => ({ phase: 'outcome', plan_id: id, result, resource: 'topic:orders', env: 'prod', broker_answer: { error_code: 0 } })

/** An AuditLog over one chained file, collecting the errors it reports. */
function fileLog (options: { path: string, checkpointPath?: string }): { log: AuditLog, errors: Error[] } {
  const errors: Error[] = []
  return { log: new AuditLog([new ChainedFileAuditSink({ ...options, key: KEY })], { failClosedForReads: false, onError: (err) => { errors.push(err) } }), errors }
}

/** runAuditCommand in this process: its exit status and what it printed. */
function verifyCommand (t: Test, path: string): { code: number, stdout: string, stderr: string } {
  const out = t.capture(console, 'log')
  const err = t.capture(console, 'error')
  const code = runAuditCommand(['verify', '--audit-hmac-key-file', keyFile, path], {})
  const text = (calls: Array<{ args: unknown[] }>): string => calls.map((c) => `${String(c.args[0])}\n`).join('')
  return { code, stdout: text(out()), stderr: text(err()) }
}

t.test('plan, intent and outcome records: the fields as written, and verify passes', async (t) => {
  const path = fresh()
  const { log, errors } = fileLog({ path })
  t.equal(await log.record(step(1, plan('p-1'))), true)
  t.equal(await log.record(step(2, intent('p-1')), { durable: true }), true)
  t.equal(await log.record(step(3, { ...outcome('p-1', 'applied'), approval: { by: 'oidc:https://idp|bob', plan_token: 'sealed.token' }, break_glass: { reason: 'r'.repeat(1000) } })), true)
  // Refused before anything was sent: an outcome with no intent is what the service writes then.
  t.equal(await log.record(step(4, outcome('p-2', 'refused'))), true)
  t.equal(await log.record(step(5, { ...outcome('p-3', 'declined'), plan_id: 'x'.repeat(10_000), confirmation: { action: 'decline' } })), true)
  // Fields and phases beyond these are the service's to add: kept, bounded, paired with nothing.
  const approval = { phase: 'approval', plan_id: 'p-1', result: 'approved', resource: 'topic:orders', env: 'prod', comment: 'c'.repeat(300) }
  t.equal(await log.record(step(6, approval as unknown as MutationAuditFields)), true)
  const unopened = { phase: 'outcome', result: 'refused', resource: 'topic:orders', env: 'prod', reason: 'the plan token is not sealed by this service' }
  t.equal(await log.record(step(7, unopened as unknown as MutationAuditFields)), true)
  t.same(errors, [])

  const written = lines(path).map((l) => (JSON.parse(l) as AuditRecord).mutation)
  t.same(written[1], intent('p-1'))
  t.same(written[2], { phase: 'outcome', plan_id: 'p-1', result: 'applied', resource: 'topic:orders', env: 'prod', broker_answer: { error_code: 0 }, approval: { by: 'oidc:https://idp|bob', plan_token: '[redacted]' }, break_glass: { reason: `${'r'.repeat(256)}…` } })
  t.equal(written[4]!.plan_id, `${'x'.repeat(256)}…`, 'a caller-sized plan id is bounded like any caller string')
  t.same(written.slice(5), [{ ...approval, comment: `${'c'.repeat(256)}…` }, unopened])
  t.same(verifyAuditFile(path, { key: KEY }), { ok: true, records: 7 })
  const cmd = verifyCommand(t, path)
  t.same([cmd.code, cmd.stderr], [0, ''])
  t.notMatch(cmd.stdout, 'warning')

  // Cutting the intent out of the file is first of all a broken chain.
  writeFileSync(path, `${lines(path).filter((_, i) => i !== 1).join('\n')}\n`)
  t.match(verifyAuditFile(path, { key: KEY }), { ok: false, brokenLine: 2, reason: /prev_hash is not the previous record's hash/ })
})

t.test('an applied or failed outcome without its intent fails verify, even in a consistent chain', async (t) => {
  const path = fresh()
  const { log } = fileLog({ path })
  await log.record(step(1, intent('p-1')), { durable: true })
  await log.record(step(2, outcome('p-1', 'applied')))
  await log.record(step(3, outcome('p-2', 'applied')))
  await log.record(step(4, outcome('p-1', 'failed')), { durable: true })
  await log.record(step(5, outcome('p-3', 'refused')))
  const problem = 'whose intent is missing: the change was sent with no intent record before it'
  t.same(verifyAuditFile(path, { key: KEY }), {
    ok: false,
    records: 5,
    reason: `line 3: plan "p-2": outcome "applied" ${problem}`,
    orphanOutcomes: [
      { line: 3, plan_id: 'p-2', problem: `outcome "applied" ${problem}` },
      { line: 4, plan_id: 'p-1', problem: `outcome "failed" ${problem}` }
    ]
  }, 'one intent pairs with one outcome')
  const cmd = verifyCommand(t, path)
  t.equal(cmd.code, 1)
  t.equal(cmd.stdout, '')
  t.match(cmd.stderr, `error: line 3: plan "p-2": outcome "applied" ${problem}\nerror: line 4: plan "p-1": outcome "failed" ${problem}\n`)

  const early = fresh()
  const second = fileLog({ path: early })
  await second.log.record(step(1, outcome('p-9', 'applied')))
  await second.log.record(step(2, intent('p-9')), { durable: true })
  t.match(verifyAuditFile(early, { key: KEY }), { ok: false, orphanOutcomes: [{ line: 1 }], danglingIntents: [{ line: 2 }] }, 'an intent written after its outcome does not count')
})

t.test('an intent with no outcome is a warning: verify still passes', async (t) => {
  const path = fresh()
  const { log } = fileLog({ path })
  await log.record(step(1, plan('p-1')))
  await log.record(step(2, intent('p-1')), { durable: true })
  await log.record(step(3, intent('p-2')), { durable: true })
  await log.record(step(4, outcome('p-2', 'applied')))
  await log.record(step(5, intent('p-1')), { durable: true })
  t.same(verifyAuditFile(path, { key: KEY }), {
    ok: true,
    records: 5,
    danglingIntents: [{ line: 2, plan_id: 'p-1', problem: DANGLING_INTENT }, { line: 5, plan_id: 'p-1', problem: DANGLING_INTENT }]
  })
  const cmd = verifyCommand(t, path)
  t.same([cmd.code, cmd.stderr], [0, ''])
  t.equal(cmd.stdout, `${path}: 5 records, chain intact, ends at its checkpoint ${path}.checkpoint (HMAC-SHA256, key ${keyFile})\n` +
    'warning: line 2: plan "p-1": intent without outcome: the service stopped or the broker\'s answer was lost — check the broker\n' +
    'warning: line 5: plan "p-1": intent without outcome: the service stopped or the broker\'s answer was lost — check the broker\n')
})

t.test('a durable record that cannot reach the disk returns false and is reported', async (t) => {
  // Root ignores permissions, so the failures are ones root gets too.
  const gone = join(dir, 'removed')
  mkdirSync(gone)
  const removed = fileLog({ path: join(gone, 'audit.jsonl') })
  t.equal(await removed.log.record(step(1, intent('p-1')), { durable: true }), true)
  rmSync(gone, { recursive: true })
  t.equal(await removed.log.record(step(2, intent('p-2')), { durable: true }), false, 'the directory was removed')
  t.match(removed.errors, [{ code: 'ENOENT' }])

  const full = fileLog({ path: '/dev/full', checkpointPath: join(dir, 'full.checkpoint') })
  t.equal(await full.log.record(step(1, intent('p-1')), { durable: true }), false, 'the disk is full')
  t.match(full.errors, [{ code: 'ENOSPC' }])

  // /dev/null takes writes but cannot sync them: only a durable record notices.
  const unsyncable = fileLog({ path: '/dev/null', checkpointPath: join(dir, 'null.checkpoint') })
  t.equal(await unsyncable.log.record(step(1, plan('p-1'))), true, 'a record that need not be durable is written')
  t.equal(await unsyncable.log.record(step(2, intent('p-1')), { durable: true }), false, 'a durable one is not on stable storage: false')
  t.match(unsyncable.errors, [{ code: 'EINVAL', syscall: 'fsync' }])
})

t.test('stdout: a durable record resolves after the write; a failed write returns false and the service lives on', async (t) => {
  const script = `
    import { AuditLog, StdoutAuditSink } from ${JSON.stringify(new URL('../lib/audit.ts', import.meta.url).href)}
    const errors = []
    const log = new AuditLog([new StdoutAuditSink()], { failClosedForReads: false, onError: (err) => { errors.push(err.code) } })
    const record = ${JSON.stringify(step(1, intent('p-1')))}
    const results = [await log.record(record, { durable: true }), await log.record(record)]
    process.stderr.write(JSON.stringify({ results, errors }))`
  const run = async (stdout: string): Promise<{ code: number | null, stderr: string }> => {
    const fd = openSync(stdout, 'w')
    try {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', fd, 'pipe'] })
      let stderr = ''
      child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
      return await new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })))
    } finally {
      closeSync(fd)
    }
  }
  const file = join(dir, 'stdout.jsonl')
  t.same(await run(file), { code: 0, stderr: JSON.stringify({ results: [true, true], errors: [] }) }, 'stdout redirected to a file')
  t.match(lines(file).map((l) => JSON.parse(l) as AuditRecord), [{ mutation: { phase: 'intent', plan_id: 'p-1' } }, { mutation: { phase: 'intent' } }])
  t.same(await run('/dev/full'), { code: 0, stderr: JSON.stringify({ results: [false, false], errors: ['ENOSPC', 'ENOSPC'] }) }, 'stdout on a full disk')
})
