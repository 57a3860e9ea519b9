import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { changesBetween } from '../core/mutation.ts'
import { canonicalDigest, loadPlanKey, MAX_SEALED_CHARS, Sealer } from '../lib/mutations/seal.ts'

const KEY = Buffer.from('a-plan-key-of-at-least-thirty-two-bytes!')

t.test('a sealed token opens only with its key and as its kind', async (t) => {
  const sealer = new Sealer(KEY)
  const token = sealer.seal('plan', { id: 'p1', tool: 'create_topic' })
  t.same(sealer.open('plan', token), { payload: { id: 'p1', tool: 'create_topic' } })
  t.same(new Sealer(Buffer.from(KEY)).open('plan', token), { payload: { id: 'p1', tool: 'create_topic' } }, 'another replica with the same key opens it')
  t.match(new Sealer(Buffer.from('another-key-of-at-least-thirty-two-bytes')).open('plan', token), { problem: /seal does not verify/ })
  t.match(new Sealer().open('plan', token), { problem: /this replica has no KAFSCALE_MCP_PLAN_KEY_FILE/ }, 'a per-process key says why')
  t.match(sealer.open('approval', token), { problem: 'it is not a approval token of this service' }, 'a plan is no approval')
  const [kind, body, mac] = token.split('.') as [string, string, string]
  t.match(sealer.open('approval', `approval.${body}.${mac}`), { problem: /seal does not verify/ }, 'relabelled, the seal breaks: kinds are sealed apart')
  const forged = Buffer.from(JSON.stringify({ id: 'p1', tool: 'delete_topic' })).toString('base64url')
  t.match(sealer.open('plan', `${kind}.${forged}.${mac}`), { problem: /seal does not verify/ }, 'an altered payload is refused')
  t.match(sealer.open('plan', 'x'.repeat(MAX_SEALED_CHARS + 1)), { problem: /longer than/ })
  t.match(sealer.open('plan', 'plan.only-two'), { problem: /not a plan token/ })
})

t.test('the plan key file needs 32 bytes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'plan-key-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'short'), 'short\n')
  writeFileSync(join(dir, 'good'), `${KEY.toString()}\n`)
  t.throws(() => loadPlanKey(join(dir, 'short')), /holds 5 bytes; use at least 32 random bytes/)
  t.throws(() => loadPlanKey(join(dir, 'missing')), /cannot read the plan key file/)
  t.same(loadPlanKey(join(dir, 'good')), KEY, 'the trailing newline is not part of the key')
})

t.test('canonical digests ignore key order; diffs list every changed leaf by path', async (t) => {
  t.equal(canonicalDigest({ a: 1, b: { c: 2, d: 3 } }), canonicalDigest({ b: { d: 3, c: 2 }, a: 1 }))
  t.not(canonicalDigest({ a: [1, 2] }), canonicalDigest({ a: [2, 1] }), 'list order counts')
  t.same(changesBetween({ topic: 't', config: { 'retention.ms': '1', 'segment.bytes': '2' }, list: [1] }, { topic: 't', config: { 'retention.ms': '5', 'segment.bytes': '2' }, list: [1, 2], added: true }), [
    { path: 'added', before: null, after: true },
    { path: 'config.retention.ms', before: '1', after: '5' },
    { path: 'list', before: [1], after: [1, 2] }
  ])
})
