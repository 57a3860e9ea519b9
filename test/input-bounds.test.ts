import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Type } from 'typebox'
import { demoBackend } from '../demo/cluster.ts'
import { MemoryBackend } from '../lib/store/memory-backend.ts'
import { SNAPSHOT_KEY } from '../lib/kafscale/keys.ts'
import { compileSchema, maxJsonBytes } from '../lib/schema.ts'
import { DescribeConfigsInput, DescribeTopicsInput, ListTopicsInput } from '../schemas/topics.ts'
import { FetchOffsetsInput, ListGroupsInput } from '../schemas/groups.ts'
import { ConsumerLagInput } from '../schemas/lag.ts'
import { encodeCursor } from '../core/paging.ts'
import { ERROR_META_KEY } from '../transports/mcp-server.ts'
import { encoded, snapshotWith } from './helpers/cluster-builder.ts'
import { callRest, connectClient, startServer } from './helpers/server.ts'

const MB = 1024 * 1024

// The body of the report: 900,000 copies of an invalid name, 3.6 MB.
const HUGE_NAMES = `{"names":[${'"/",'.repeat(899_999)}"/"]}`

t.test('a 900,000-name list is refused without reading one of its names', async (t) => {
  const validator = compileSchema(DescribeTopicsInput)
  let reads = 0
  const names = new Proxy(new Array<string>(900_000).fill('/'), {
    get (target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++
      return Reflect.get(target, key, receiver)
    }
  })
  t.equal(validator.check({ names }), false)
  t.same(validator.problems({ names }), ['names: must not have more than 1000 items (got 900000)'])
  t.equal(reads, 0, 'no element was looked at')
})

t.test('100,000 unknown fields make one short problem', async (t) => {
  const input = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]))
  t.same(compileSchema(DescribeTopicsInput).problems(input), [
    'arguments: unknown fields "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9" and 99990 more'
  ])
})

t.test('problems are reported ten at a time, then counted', async (t) => {
  const schema = Type.Object({ tags: Type.Array(Type.String({ maxLength: 3 }), { maxItems: 100 }) }, { additionalProperties: false })
  const problems = compileSchema(schema).problems({ tags: Array.from({ length: 50 }, (_, i) => `tag-${i}`) })
  t.same(problems, [
    ...Array.from({ length: 10 }, (_, i) => `tags.${i} "tag-${i}": must not have more than 3 characters`),
    'and 40 more problems'
  ])
})

t.test('a string of astral characters within maxLength passes the bounds check', async (t) => {
  const validator = compileSchema(Type.Object({ name: Type.String({ maxLength: 3 }) }))
  t.equal(validator.check({ name: '😀😀😀' }), true, '3 code points, 6 UTF-16 units')
  t.same(validator.problems({ name: '😀😀😀😀' }), ['name "😀😀😀😀": must not have more than 3 characters'])
})

t.test('bodyLimit: the largest body a valid input can need, however it is written', async (t) => {
  const schema = Type.Object({
    name: Type.String({ maxLength: 5 }),
    tags: Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: 2 }), { maxItems: 3 }), Type.Null()])),
    limit: Type.Optional(Type.Integer({ minimum: 1 }))
  }, { additionalProperties: false })
  // {"name":"…","tags":[…],"limit":…}: key and value strings at 12 bytes a code point, 24 per separator.
  const expected = 2 +
    (2 + 12 * 4) + (2 + 12 * 5) + 48 +
    (2 + 12 * 4) + (2 + 3 * ((2 + 12 * 2) + 24)) + 48 +
    (2 + 12 * 5) + 32 + 48
  t.equal(maxJsonBytes(schema), expected)

  // The widest way to write the largest valid value: astral characters, escaped, pretty-printed.
  const escaped = (s: string): string => `"${Array.from({ length: s.length }, (_, i) => `\\u${s.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')}"`
  const astral = '😀'
  const widest = `{\n  ${escaped('name')}: ${escaped(astral.repeat(5))},\n  ${escaped('tags')}: [\n    ${[1, 2, 3].map(() => escaped(astral.repeat(2))).join(',\n    ')}\n  ],\n  ${escaped('limit')}: 9007199254740991\n}`
  t.ok(compileSchema(schema).check(JSON.parse(widest)), 'the widest body is valid')
  t.ok(Buffer.byteLength(widest) <= expected, `${Buffer.byteLength(widest)} bytes fit in ${expected}`)

  t.equal(maxJsonBytes(Type.Object({ note: Type.String() }, { additionalProperties: false })), Infinity, 'an unbounded string')
  t.equal(maxJsonBytes(Type.Object({ ids: Type.Array(Type.Integer()) }, { additionalProperties: false })), Infinity, 'an unbounded list')
  t.equal(maxJsonBytes(Type.Object({})), Infinity, 'an object open to any field')
})

t.test('every string and list of every built-in tool input is bounded, and so is its body', async (t) => {
  const server = await startServer([], { backend: demoBackend() })
  t.teardown(server.close)
  const tools = server.app.tools.list()
  t.equal(tools.length, 11)
  for (const tool of tools) {
    const unbounded: string[] = []
    walk(tool.definition.input, 'input', (node, path) => {
      const types = ([] as unknown[]).concat(node.type ?? [])
      if (types.includes('string') && node.maxLength === undefined && node.enum === undefined && node.const === undefined) unbounded.push(`${path}: string without maxLength`)
      if (types.includes('array') && node.maxItems === undefined) unbounded.push(`${path}: array without maxItems`)
      if (types.includes('object') && node.additionalProperties !== false) unbounded.push(`${path}: object open to any field`)
    })
    t.same(unbounded, [], `${tool.definition.name}: every input is bounded`)
    t.ok(Number.isFinite(tool.bodyLimit), `${tool.definition.name}: bodyLimit ${tool.bodyLimit} bytes`)
  }
  const describeTopics = server.app.tools.get('describe_topics')!
  t.ok(describeTopics.bodyLimit < Buffer.byteLength(HUGE_NAMES), 'the 3.6 MB body of the report is over describe_topics\' limit')
})

t.test('the cursor of a page that ends on the longest key is accepted back', async (t) => {
  // A control character is the widest a key can be in JSON (\u0001, 6 bytes).
  const wide = (n: number): string => '\u0001'.repeat(n)
  const cases: Array<[string, Parameters<typeof compileSchema>[0], Record<string, unknown>, string]> = [
    ['list_topics', ListTopicsInput, {}, wide(249)],
    ['describe_topics', DescribeTopicsInput, {}, `${wide(249)}\u0000000999`],
    ['describe_configs', DescribeConfigsInput, {}, `${wide(249)}\u0000000999`],
    ['fetch_offsets', FetchOffsetsInput, { group_id: 'g' }, `${wide(249)}\u00002147483647`],
    ['list_groups', ListGroupsInput, {}, wide(32767)],
    ['consumer_lag', ConsumerLagInput, {}, `1${'9'.repeat(20)}\u0000${wide(32767)}\u0000${wide(249)}\u00002147483647`]
  ]
  for (const [tool, schema, rest, key] of cases) {
    const validator = compileSchema(schema)
    const input = { ...rest, cursor: encodeCursor(key) }
    t.same(validator.problems(input), [], tool)
    t.ok(validator.check(input), `${tool}: a ${input.cursor.length}-character cursor`)
  }
})

interface Node { type?: string | string[], properties?: Record<string, Node>, items?: Node, anyOf?: Node[], maxLength?: number, maxItems?: number, additionalProperties?: unknown, enum?: unknown, const?: unknown }

function walk (node: Node, path: string, visit: (node: Node, path: string) => void): void {
  visit(node, path)
  for (const [key, child] of Object.entries(node.properties ?? {})) walk(child, `${path}.${key}`, visit)
  if (node.items !== undefined) walk(node.items, `${path}[]`, visit)
  node.anyOf?.forEach((branch, i) => { walk(branch, `${path}|${i}`, visit) })
}

t.test('the 3.6 MB body of 900,000 names is refused while /healthz keeps answering', async (t) => {
  const server = await startServer(['--max-concurrent', '100'], { backend: demoBackend() })
  t.teardown(server.close)
  const before = process.memoryUsage().rss
  const post = async (): Promise<{ status: number, body: any }> => {
    const res = await fetch(`${server.base}/api/v1/tools/describe_topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: HUGE_NAMES })
    return { status: res.status, body: await res.json() }
  }
  const health = async (): Promise<number> => (await fetch(`${server.base}/healthz`)).status
  const answers = await Promise.all([post(), health(), post(), health(), post(), health(), post(), health()])
  const refusals = answers.filter((a): a is { status: number, body: any } => typeof a === 'object')
  t.same(answers.filter((a) => typeof a === 'number'), [200, 200, 200, 200], '/healthz answered beside them')
  t.equal(refusals.length, 4)
  const limit = server.app.tools.get('describe_topics')!.bodyLimit
  for (const refusal of refusals) {
    t.same(refusal, {
      status: 413,
      body: { statusCode: 413, code: 'KSMCP_ERR_BODY_TOO_LARGE', error: 'Payload Too Large', message: `the body is larger than the ${limit} bytes the largest valid input of tool describe_topics needs` }
    }, 'refused unread: over the route\'s body limit')
  }
  const grown = (process.memoryUsage().rss - before) / MB
  t.ok(grown < 150, `RSS grew by ${grown.toFixed(0)} MB for 4 such bodies`)
})

t.test('each REST route takes the body its tool\'s largest valid input needs, and no more', async (t) => {
  const server = await startServer([], { backend: demoBackend() })
  t.teardown(server.close)
  const post = async (tool: string, body: string): Promise<{ status: number, body: any }> => {
    const res = await fetch(`${server.base}/api/v1/tools/${tool}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    return { status: res.status, body: await res.json() }
  }
  const limit = server.app.tools.get('cluster_status')!.bodyLimit
  t.ok(limit < 64 * 1024, `cluster_status takes no arguments: its limit is ${limit} bytes`)
  const padded = (bytes: number): string => JSON.stringify({ pad: 'x'.repeat(bytes - 10) })
  t.same(await post('cluster_status', padded(limit + 1)), {
    status: 413,
    body: { statusCode: 413, code: 'KSMCP_ERR_BODY_TOO_LARGE', error: 'Payload Too Large', message: `the body is larger than the ${limit} bytes the largest valid input of tool cluster_status needs` }
  })
  t.match(await post('cluster_status', padded(limit - 100)), { status: 400, body: { code: 'KSMCP_ERR_INVALID_INPUT', message: 'invalid arguments: arguments: unknown field "pad"' } }, 'under the limit the body is read and validated')
  t.match(await post('no_such_tool', padded(32 * 1024)), { status: 413, body: { code: 'KSMCP_ERR_BODY_TOO_LARGE', message: /of an unknown tool needs/ } })
  t.match(await post('no_such_tool', '{}'), { status: 404, body: { code: 'KSMCP_ERR_UNKNOWN_TOOL' } })
})

t.test('names lists are declared as type ["array", "null"] and integers are integers, in tools/list', async (t) => {
  const server = await startServer([], { backend: demoBackend() })
  t.teardown(server.close)
  const client = await connectClient(server.base, 'modern')
  t.teardown(async () => { await client.close() })
  const { tools } = await client.listTools()
  const byName = new Map(tools.map((tool) => [tool.name, tool]))
  for (const [tool, field] of [['describe_topics', 'names'], ['describe_configs', 'topics'], ['fetch_offsets', 'topics'], ['consumer_lag', 'topics']] as const) {
    const property = (byName.get(tool)!.inputSchema.properties as Record<string, Record<string, unknown>>)[field]!
    t.same(property.type, ['array', 'null'], `${tool}.${field}`)
    t.equal(property.maxItems, 1000)
    t.equal(property.anyOf, undefined)
    t.match(property.items, { type: 'string' })
  }
  const config = ((byName.get('describe_configs')!.outputSchema!.properties as any).configs.items.properties) as Record<string, { type: string }>
  t.same([config.retention_ms!.type, config.retention_bytes!.type, config.segment_bytes!.type], ['integer', 'integer', 'integer'])

  t.same(await callRest(server.base, 'describe_configs', { topics: 'orders' }), {
    status: 400, body: { statusCode: 400, code: 'KSMCP_ERR_INVALID_INPUT', error: 'Bad Request', message: 'invalid arguments: topics "orders": must be array or null' }
  })
  t.equal((await callRest(server.base, 'describe_topics', { names: null })).body.topics.length, 6, 'null means all')
  const listed = await client.callTool({ name: 'describe_configs', arguments: { topics: ['payments'] } })
  t.match(listed.structuredContent, { configs: [{ name: 'payments', retention_ms: 604800000, retention_bytes: 10737418240, segment_bytes: 67108864 }] })
})

t.test('cluster_status over 3,000 topics stays under the size cap and says how many it left out', async (t) => {
  const kv = new MemoryBackend()
  kv.put(SNAPSHOT_KEY, encoded(snapshotWith(Array.from({ length: 3000 }, (_, i) => [`topic-${String(i).padStart(4, '0')}`, 3]))))
  const server = await startServer([], { backend: kv })
  t.teardown(server.close)
  const res = await fetch(`${server.base}/api/v1/tools/cluster_status`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  const text = await res.text()
  t.equal(res.status, 200)
  t.ok(text.length <= 50_000, `${text.length} characters`)
  const body = JSON.parse(text)
  t.same(Object.keys(body), ['cluster_name', 'cluster_id', 'controller_id', 'brokers', 'topics', 'topics_omitted', 's3', 'etcd', 'observed_at'])
  t.ok(text.length > 40_000, `the topics fill the cap: ${body.topics.length} listed`)
  t.equal(body.topics.length + body.topics_omitted, 3002, 'listed and omitted make every topic')
  const names = body.topics.map((topic: { name: string }) => topic.name)
  t.same(names, [...names].sort(), 'the first ones by name')
  t.same(body.topics.slice(0, 3), [
    { name: 'orders', partition_count: 3, error_code: 0 }, { name: 'payments', partition_count: 2, error_code: 0 }, { name: 'topic-0000', partition_count: 3, error_code: 0 }
  ])

  const client = await connectClient(server.base, 'modern')
  t.teardown(async () => { await client.close() })
  const result = await client.callTool({ name: 'cluster_status', arguments: {} })
  const content = (result.content as Array<{ text: string }>)[0]!.text
  t.ok(content.length <= 50_000, `MCP text ${content.length} characters`)
  t.equal((result.structuredContent as { topics_omitted: number }).topics_omitted, body.topics_omitted)
})

t.test('a plugin tool cannot answer more than the size cap', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kafscale-big-plugin-'))
  const plugin = join(dir, 'big.mjs')
  writeFileSync(plugin, `export default async function (app) {
    app.tools.add({
      name: 'big_blob', description: 'Answers as many characters as asked, whatever the cap.',
      input: { type: 'object', properties: { size: { type: 'integer', minimum: 0, maximum: 1000000 } }, required: ['size'], additionalProperties: false },
      output: { type: 'object', properties: { blob: { type: 'string' } }, required: ['blob'] },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      handler: async ({ size }) => ({ blob: 'x'.repeat(size) })
    })
  }\n`)
  const server = await startServer(['--plugins', plugin, '--max-response-chars', '2000'], { backend: demoBackend() })
  t.teardown(server.close)
  t.same(await callRest(server.base, 'big_blob', { size: 1000 }), { status: 200, body: { blob: 'x'.repeat(1000) } }, 'an answer under the cap')
  const message = 'the answer of big_blob is 3011 characters, over the 2000-character cap (KAFSCALE_MCP_MAX_RESPONSE_CHARS): ask for less with `size`'
  t.same(await callRest(server.base, 'big_blob', { size: 3000 }), {
    status: 422, body: { statusCode: 422, code: 'KSMCP_ERR_RESPONSE_TOO_LARGE', error: 'Unprocessable Entity', message }
  })
  const client = await connectClient(server.base, 'modern')
  t.teardown(async () => { await client.close() })
  const result = await client.callTool({ name: 'big_blob', arguments: { size: 3000 } })
  t.same({ isError: result.isError, content: result.content }, { isError: true, content: [{ type: 'text', text: message }] })
  t.same(result._meta?.[ERROR_META_KEY], { code: 'KSMCP_ERR_RESPONSE_TOO_LARGE', statusCode: 422 })
})

t.test('an answer over the cap tells a paged tool\'s caller to page', async (t) => {
  const server = await startServer(['--max-response-chars', '1000'], { backend: demoBackend() })
  t.teardown(server.close)
  // One topic's description cannot be split: over the cap it is refused, saying what can be done.
  const { status, body } = await callRest(server.base, 'describe_topics', { names: ['clickstream'] })
  t.equal(status, 422)
  t.match(body.message, /^the answer of describe_topics is \d+ characters, over the 1000-character cap \(KAFSCALE_MCP_MAX_RESPONSE_CHARS\): ask for less with `names`, `prefix`, `limit`, `cursor`: pass a smaller `limit` or a `prefix`, and follow `next_cursor` for the rest$/)
  const paged = await callRest(server.base, 'describe_topics', {})
  t.equal(paged.status, 200, 'a tool that pages stays under the cap itself')
  t.same(paged.body.topics.map((topic: { name: string }) => topic.name), ['audit-log'])
  t.equal(paged.body.truncated, true)
})
