import t from 'tap'
import { snapshotAnswer } from '../core/snapshot-answers.ts'
import { SNAPSHOT_KEY } from '../lib/kafscale/keys.ts'
import { MemoryBackend } from '../lib/store/memory-backend.ts'
import { encoded, snapshotWith } from './helpers/cluster-builder.ts'
import { callRest, connectClient, startServer } from './helpers/server.ts'

// Answers that depend on the snapshot alone are remembered per snapshot and question: the same
// question about the same snapshot is answered from memory, a new snapshot is asked afresh.

t.test('snapshotAnswer remembers per snapshot and question, within its bounds', async (t) => {
  let computed = 0
  const compute = (value: string) => () => { computed++; return { value } }
  const chars = (): number => 10
  const first = {}
  const a = snapshotAnswer(first, 'q', compute('a'), chars)
  t.equal(snapshotAnswer(first, 'q', compute('other'), chars), a, 'the same question about the same snapshot: the remembered answer')
  t.equal(computed, 1)
  t.same(snapshotAnswer(first, 'q2', compute('b'), chars), { value: 'b' }, 'another question is computed')
  const second = {}
  t.same(snapshotAnswer(second, 'q', compute('c'), chars), { value: 'c' }, 'another snapshot is asked afresh')
  t.equal(computed, 3)

  await t.rejects(async () => snapshotAnswer(first, 'throws', () => { throw new Error('no') }, chars), /no/)
  t.same(snapshotAnswer(first, 'throws', compute('d'), chars), { value: 'd' }, 'a failed computation is not remembered')

  const third = {}
  for (let i = 0; i < 65; i++) snapshotAnswer(third, `q${i}`, compute(`v${i}`), chars)
  computed = 0
  snapshotAnswer(third, 'q64', compute('again'), chars)
  t.equal(computed, 0, 'the latest 64 answers are kept')
  snapshotAnswer(third, 'q0', compute('again'), chars)
  t.equal(computed, 1, 'the least recently used beyond 64 is forgotten')

  const fourth = {}
  snapshotAnswer(fourth, 'big', compute('big'), () => 2_000_000)
  t.same(snapshotAnswer(fourth, 'big', compute('big again'), () => 2_000_000), { value: 'big again' }, 'an answer over a quarter of the budget is not kept')
  for (let i = 0; i < 5; i++) snapshotAnswer(fourth, `m${i}`, compute(`m${i}`), () => 900_000)
  computed = 0
  snapshotAnswer(fourth, 'm0', compute('m0 again'), () => 900_000)
  t.equal(computed, 1, 'the oldest answers go when the kept ones would exceed 4,000,000 characters')
  snapshotAnswer(fourth, 'm4', compute('m4 again'), () => 900_000)
  t.equal(computed, 1, 'the newest stay')

  const long = 'x'.repeat(3000)
  snapshotAnswer(fourth, long, compute('long'), chars)
  t.same(snapshotAnswer(fourth, long, compute('long again'), chars), { value: 'long again' }, 'a question naming many things is not remembered')
})

t.test('list_topics, describe_topics and cluster_status answer from the snapshot they are asked about', async (t) => {
  const kv = new MemoryBackend()
  kv.put(SNAPSHOT_KEY, encoded(snapshotWith([['alpha', 2]])))
  const server = await startServer([], { backend: kv })
  t.teardown(server.close)
  const names = async (): Promise<Record<string, string[]>> => {
    const [list, described, status] = await Promise.all([
      callRest(server.base, 'list_topics', {}),
      callRest(server.base, 'describe_topics', {}),
      callRest(server.base, 'cluster_status', {})
    ])
    const of = (body: { topics: Array<{ name: string }> }): string[] => body.topics.map((topic) => topic.name)
    return { list: of(list.body), described: of(described.body), status: of(status.body) }
  }
  const before = await names()
  t.same(await names(), before, 'asked twice, the same answers')
  for (const [tool, topics] of Object.entries(before)) {
    t.ok(topics.includes('alpha'), `${tool} lists alpha`)
    t.notOk(topics.includes('beta'), `${tool} does not list beta yet`)
  }

  kv.put(SNAPSHOT_KEY, encoded(snapshotWith([['alpha', 2], ['beta', 3]])))
  const after = await names()
  for (const [tool, topics] of Object.entries(after)) t.ok(topics.includes('beta'), `${tool} lists beta once the snapshot has it`)

  // The MCP answer carries the same text as REST: remembered answers keep their JSON text.
  const client = await connectClient(server.base, 'modern')
  t.teardown(async () => { await client.close() })
  const viaMcp = await client.callTool({ name: 'list_topics', arguments: {} }) as { content: Array<{ text: string }>, structuredContent: unknown }
  const viaRest = await fetch(`${server.base}/api/v1/tools/list_topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(viaMcp.content[0]!.text, await viaRest.text())
  t.same(JSON.parse(viaMcp.content[0]!.text), viaMcp.structuredContent)
})
