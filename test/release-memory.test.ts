import t from 'tap'
import { CollectAfterLargeDecodes, collectGarbage } from '../lib/store/release-memory.ts'

// The collection after a large snapshot decode: which decodes get one (a clock and a
// collector injected), and that the collection really frees what nothing references.

t.test('a large decode is followed by one collection, at most one per interval, after the caller returns', async (t) => {
  let clock = 1_000_000
  let collections = 0
  const deferred: Array<() => void> = []
  const policy = new CollectAfterLargeDecodes({ minBytes: 1000, minIntervalMs: 60_000, now: () => clock, collect: () => { collections++ }, defer: (run) => { deferred.push(run) } })

  t.equal(policy.decoded(999), false, 'a small decode: none')
  t.equal(policy.decoded(5000), true, 'a large decode: one')
  t.equal(collections, 0, 'not while the caller still holds the decoded value')
  deferred.shift()!()
  t.equal(collections, 1)
  clock += 59_999
  t.equal(policy.decoded(5000), false, 'another within the interval: none, V8 collects it in its own time')
  clock += 1
  t.equal(policy.decoded(5000), true, 'once the interval has passed: one again')
  t.equal(deferred.length, 1)
})

t.test('collectGarbage frees an object nothing references any more', async (t) => {
  const ref = ((): WeakRef<object> => new WeakRef({ payload: new Array(1000).fill('x') }))()
  // A WeakRef keeps its target through the job that made it.
  await new Promise((resolve) => setImmediate(resolve))
  collectGarbage()
  t.equal(ref.deref(), undefined)
})
