import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './harness.ts'
import { round } from './stats.ts'

// Reads a V8 CPU profile (node --cpu-prof) and says where the time of a load went: self time
// by owner (an npm package, our own folder, Node's internals, the garbage collector), the same
// in four parts (the MCP SDK, ours, the garbage collector, the rest), the hottest functions,
// and the time spent inside our functions and the SDK's (callees included).

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface ProfileSummary {
  /** Busy samples (not idle) in the window. */
  samples: number
  /** Self time by owner, largest first. */
  by_owner: Array<{ owner: string, percent: number }>
  /**
   * Self time in five parts: the MCP SDK (with zod, its validator); the Web-standard plumbing
   * its handler speaks (undici's Request, Response and Headers, web streams, TextEncoder, abort
   * signals); our own code; the garbage collector; the rest (Node's HTTP and sockets, Fastify,
   * native code such as socket writes). Built-ins a function calls (JSON.stringify) count as that
   * function's self time; the bench's own scripts (sdk-server.ts) count as the rest.
   */
  split: { sdk: number, web: number, ours: number, gc: number, rest: number }
  /** The functions with the most self time. */
  top_self: Array<{ function: string, owner: string, percent: number }>
  /** Our functions and the MCP SDK's with the most time, callees included. */
  top_inclusive: Array<{ function: string, owner: string, percent: number }>
}

function owner (url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg !== null) return pkg[1]!
  if (url.startsWith('node:')) return 'node: internals'
  const path = url.replace(/^file:\/\//, '')
  if (path.startsWith(ROOT)) return `ours: ${path.slice(ROOT.length).split('/')[0]}`
  return url
}

const WEB = /^node:internal\/(deps\/undici|webstreams|encoding|abort_controller|event_target)\//

function part (url: string, who: string): keyof ProfileSummary['split'] {
  if (who.startsWith('@modelcontextprotocol/') || who === 'zod') return 'sdk'
  if (WEB.test(url)) return 'web'
  if (who.startsWith('ours:') && who !== 'ours: bench') return 'ours'
  return who === '(garbage collector)' ? 'gc' : 'rest'
}

const label = ({ functionName, url, lineNumber }: ProfileNode['callFrame']): string =>
  `${functionName === '' ? '(anonymous)' : functionName} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`

/** Summarises the one profile in `dir`, counting only the last `windowMs` before it ended (the load, not the start-up). */
export function summarizeProfile (dir: string, windowMs: number, top = 12): ProfileSummary {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}`)
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const from = profile.endTime - windowMs * 1000
  const selfByOwner = new Map<string, number>()
  const split = { sdk: 0, web: 0, ours: 0, gc: 0, rest: 0 }
  const self = new Map<string, { owner: string, n: number }>()
  const inclusive = new Map<string, { owner: string, n: number }>()
  const count = (into: Map<string, { owner: string, n: number }>, name: string, who: string): void => {
    const entry = into.get(name) ?? { owner: who, n: 0 }
    entry.n++
    into.set(name, entry)
  }
  let at = profile.startTime
  let total = 0
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i]!
    const frame = byId.get(id)!.callFrame
    if (at < from || frame.functionName === '(idle)') return
    total++
    const who = owner(frame.url, frame.functionName)
    selfByOwner.set(who, (selfByOwner.get(who) ?? 0) + 1)
    split[part(frame.url, who)]++
    count(self, label(frame), who)
    const seen = new Set<string>()
    for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
      const f = byId.get(node)!.callFrame
      const name = label(f)
      const nodeOwner = owner(f.url, f.functionName)
      if (seen.has(name) || !(nodeOwner.startsWith('ours:') || nodeOwner.startsWith('@modelcontextprotocol/'))) continue
      seen.add(name)
      count(inclusive, name, nodeOwner)
    }
  })
  const percent = (n: number): number => round((100 * n) / total, 1)
  const ranked = (m: Map<string, { owner: string, n: number }>): ProfileSummary['top_self'] =>
    [...m].sort((a, b) => b[1].n - a[1].n).slice(0, top).map(([f, { owner, n }]) => ({ function: f, owner, percent: percent(n) }))
  return {
    samples: total,
    split: { sdk: percent(split.sdk), web: percent(split.web), ours: percent(split.ours), gc: percent(split.gc), rest: percent(split.rest) },
    by_owner: [...selfByOwner].sort((a, b) => b[1] - a[1]).map(([o, n]) => ({ owner: o, percent: percent(n) })).filter((o) => o.percent >= 1),
    top_self: ranked(self),
    top_inclusive: ranked(inclusive)
  }
}
