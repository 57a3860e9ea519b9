import type { CommitEntry, LogEndObservation } from './lag-history.ts'
import { rfc3339Nano } from './kafscale/offsets.ts'

// A partition's consumption judged by its behaviour over the window of its latest commits, as
// LinkedIn's Burrow does, rather than by a lag threshold: 50,000 behind is fine for a consumer
// that does 20,000/s and alarming for one that has not committed for an hour. Pure: the
// facts and the time come in, a status with its reason and the evidence goes out.
//
// The rules, in order (a partition gets the first that holds):
//   not_committed  the group has no committed offset on the partition
//   no_data        the lag cannot be read, or no commit was seen yet
//   ok             lag is zero (or the commit is past the flushed log end) now
//   stopped        no commit for longer than the window's commits span (the configured span
//                  while only one commit is known) while messages wait, and the log end has
//                  been past the committed offset for that long too
//   rewind         a committed offset in the window is lower than the one before it
//   no_data        only one commit is known: its movement cannot be judged
//   stalled        every commit of the window holds the same offset while messages waited
//                  through the whole window
//   falling_behind the offsets move and the lag grew at every commit (3 commits at least)
//   ok             otherwise
// Guarded false alarms: a first message after a quiet period is not "stopped" or "stalled"
// until the log end has been past the commit for as long as the rule asks (log ends are
// observed apart from commits for this); a rebalancing group pauses its commits, so neither is
// judged while it rebalances; a topic whose log end has not moved leaves a caught-up consumer
// at lag zero, which is ok however long it stays silent.

export type LagStatus = 'ok' | 'falling_behind' | 'stalled' | 'stopped' | 'rewind' | 'not_committed' | 'no_data'

/** Worst last: a group or topic takes the worst status of its partitions. */
export const LAG_STATUSES: readonly LagStatus[] = ['ok', 'not_committed', 'no_data', 'falling_behind', 'rewind', 'stalled', 'stopped']
const RANK = new Map(LAG_STATUSES.map((s, i) => [s, i]))

// Two points always make a line: a trend is only called from three commits on.
const MIN_TREND_COMMITS = 3
const REBALANCING = new Set(['preparing_rebalance', 'completing_rebalance', 'PreparingRebalance', 'CompletingRebalance'])

export interface PartitionFacts {
  committedOffset: number | null
  /** The lag now (log end − committed offset, not clamped); null when unknown. */
  lag: number | null
  /** Why the lag read gave no lag (the lag row's reason). */
  lagReason?: string
  /** The window, oldest first; undefined when this replica keeps none. */
  commits: CommitEntry[] | undefined
  logEnds: LogEndObservation[]
  groupState: string | undefined
}

export interface WindowSettings {
  commits: number
  spanMs: number
  /** When the history began. */
  since: number
  /** The history is at its partition limit (a missing window is why). */
  full?: boolean
}

export interface Estimates {
  /** Messages per second the group committed over the window. */
  consumption_rate: number | null
  /** Messages per second the log end grew over its observations. */
  production_rate: number | null
  rate_reason?: string
  /** Seconds until the lag is zero at these rates; 0 when caught up. */
  catch_up_seconds: number | null
  catch_up_reason?: string
}

export interface PartitionJudgement extends Estimates {
  status: LagStatus
  readonly status_reason: string
  /** The false alarms held back, each in words. */
  readonly guards: string[]
}

// The words are built only when read: a group of thousands of partitions is judged whole on
// every call, and only the page of partitions shown needs its reasons.
interface Verdict {
  status: LagStatus
  reason: () => string
}

export function judgePartition (facts: PartitionFacts, settings: WindowSettings, now: number): PartitionJudgement {
  const held: Array<() => string> = []
  const verdict = classify(facts, settings, now, held)
  const stuck = verdict.status === 'stopped' || verdict.status === 'stalled'
  return new Judgement(verdict, held, estimates(facts, stuck ? `the consumer is not advancing (${verdict.status})` : undefined))
}

class Judgement implements PartitionJudgement {
  readonly status: LagStatus
  readonly consumption_rate: number | null
  readonly production_rate: number | null
  readonly rate_reason?: string
  readonly catch_up_seconds: number | null
  readonly catch_up_reason?: string
  private readonly reason: () => string
  private readonly held: Array<() => string>
  private words: { reason: string, guards: string[] } | undefined

  constructor (verdict: Verdict, held: Array<() => string>, estimates: Estimates) {
    this.status = verdict.status
    this.reason = verdict.reason
    this.held = held
    this.consumption_rate = estimates.consumption_rate
    this.production_rate = estimates.production_rate
    if (estimates.rate_reason !== undefined) this.rate_reason = estimates.rate_reason
    this.catch_up_seconds = estimates.catch_up_seconds
    if (estimates.catch_up_reason !== undefined) this.catch_up_reason = estimates.catch_up_reason
  }

  get status_reason (): string {
    return this.explained().reason
  }

  get guards (): string[] {
    return this.explained().guards
  }

  private explained (): { reason: string, guards: string[] } {
    if (this.words === undefined) {
      const guards = this.held.map((say) => say())
      // A held-back alarm is said in the reason too: evidence (where guards are listed) is not
      // shown on every partition. Not for no_data, which judges nothing anyway.
      const said = guards.length > 0 && this.status !== 'no_data'
      this.words = { reason: said ? `${this.reason()}; held back: ${guards.join('; ')}` : this.reason(), guards }
    }
    return this.words
  }
}

function classify (facts: PartitionFacts, settings: WindowSettings, now: number, guards: Array<() => string>): Verdict {
  const { committedOffset, lag, commits } = facts
  if (committedOffset === null) {
    const unreadable = facts.lagReason
    return unreadable !== undefined && unreadable !== 'never committed'
      ? { status: 'no_data', reason: () => unreadable }
      : { status: 'not_committed', reason: () => 'the group has never committed an offset on this partition' }
  }
  if (lag === null) return { status: 'no_data', reason: () => facts.lagReason ?? 'the lag is unknown' }
  if (commits === undefined || commits.length === 0) {
    return {
      status: 'no_data',
      reason: () => settings.full === true
        ? 'not tracked: the history holds its limit of partitions'
        : `no commit seen since this replica's history began at ${iso(settings.since)}`
    }
  }
  if (lag <= 0) {
    return { status: 'ok', reason: () => lag === 0 ? 'caught up: lag 0' : `caught up: the committed offset is ${-lag} past the flushed log end (records consumed before their flush to S3)` }
  }
  const first = commits[0]!
  const last = commits.at(-1)!
  const rebalancing = facts.groupState !== undefined && REBALANCING.has(facts.groupState)
  const one = commits.length === 1

  // Stopped
  const threshold = one ? settings.spanMs : last.at - first.at
  const silent = now - last.at
  if (silent > threshold) {
    const pending = pendingSince(last.offset, commits, facts.logEnds) ?? now
    const waiting = now - pending
    if (rebalancing) guards.push(() => `no commit for ${duration(silent)}, but the group is ${facts.groupState}: its consumers pause commits until it completes, so it is not judged stopped`)
    else if (waiting <= threshold) guards.push(() => `no commit for ${duration(silent)}, but the log end was first seen past the committed offset ${last.offset} at ${iso(pending)}, ${duration(waiting)} ago: a first message after a quiet period, not judged stopped until it waits ${duration(threshold)}`)
    else {
      const interval = one ? `longer than the window span (${duration(settings.spanMs)}) with only one commit known` : `longer than the ${duration(threshold)} the window's ${commits.length} commits span`
      return { status: 'stopped', reason: () => `no commit for ${duration(silent)} (the last: offset ${last.offset} at ${iso(last.at)}), ${interval}, while ${lag} message(s) wait; the log end has been past that offset since ${iso(pending)} or earlier` }
    }
  }

  for (let i = 1; i < commits.length; i++) {
    if (commits[i]!.offset < commits[i - 1]!.offset) {
      return { status: 'rewind', reason: () => `the committed offset went back from ${commits[i - 1]!.offset} to ${commits[i]!.offset} at ${iso(commits[i]!.at)} (an offset reset or a consumer restarted from older offsets)` }
    }
  }
  if (one) return { status: 'no_data', reason: () => `not enough history: one commit seen (offset ${last.offset} at ${iso(last.at)}); judging its movement needs two` }

  if (first.offset === last.offset) {
    const pending = pendingSince(last.offset, commits, facts.logEnds) ?? now
    if (pending > first.at) guards.push(() => `the offset did not move over the window, but the log end passed it only at ${iso(pending)}, after the window's first commit: not judged stalled until messages wait through a whole window`)
    else if (rebalancing) guards.push(() => `the offset did not move over the window, but the group is ${facts.groupState}: not judged stalled while it rebalances`)
    else return { status: 'stalled', reason: () => `${commits.length} commits over ${duration(last.at - first.at)} all at offset ${last.offset} while messages waited (the log end past it since ${iso(pending)} or earlier; lag ${lag} now): the consumer commits but does not advance` }
  }

  const lags = commits.filter((c) => c.logEnd !== null).map((c) => c.logEnd! - c.offset)
  const growing = lags.length >= MIN_TREND_COMMITS && lags[0]! > 0 && lags.every((l, i) => i === 0 || l >= lags[i - 1]!) && lags.at(-1)! > lags[0]!
  if (growing && last.offset > first.offset) {
    return { status: 'falling_behind', reason: () => `the lag grew at every commit, from ${lags[0]} to ${lags.at(-1)} over ${commits.length} commits in ${duration(last.at - first.at)}, while the consumer advanced ${last.offset - first.offset} messages: the topic is produced faster than it is consumed` }
  }
  const caughtUp = lags.some((l) => l <= 0)
  return {
    status: 'ok',
    reason: () => caughtUp
      ? `lag ${lag} now, but it was zero within the window: the consumer keeps up`
      : last.offset > first.offset
        ? `consuming: advanced ${last.offset - first.offset} messages over ${duration(last.at - first.at)}; lag ${lag} and not growing at every commit`
        : `lag ${lag}, offsets not moving, no rule applies`
  }
}

/**
 * Since when the log end is known to be past `offset`: the earliest commit that saw it so, or
 * the first read of a log end beyond it. Log ends only grow, so it has been past since then.
 * Undefined when nothing seen says so.
 */
function pendingSince (offset: number, commits: CommitEntry[], logEnds: LogEndObservation[]): number | undefined {
  let since: number | undefined
  for (const c of commits) if (c.logEnd !== null && c.logEnd > offset && (since === undefined || c.at < since)) since = c.at
  for (const o of logEnds) if (o.offset > offset && (since === undefined || o.firstSeen < since)) since = o.firstSeen
  return since
}

function estimates (facts: PartitionFacts, notAdvancing: string | undefined): Estimates {
  const consumption = consumptionRate(facts.commits ?? [])
  const production = productionRate(facts.logEnds)
  const reasons = [consumption.reason, production.reason].filter((r) => r !== undefined)
  const out: Estimates = { consumption_rate: consumption.rate, production_rate: production.rate, catch_up_seconds: null }
  if (reasons.length > 0) out.rate_reason = reasons.join('; ')
  const catchUp = catchUpOf(facts.lag, consumption.rate, production.rate, notAdvancing ?? (reasons.length > 0 ? 'a rate is unknown (see rate_reason)' : undefined))
  out.catch_up_seconds = catchUp.seconds
  if (catchUp.reason !== undefined) out.catch_up_reason = catchUp.reason
  return out
}

function consumptionRate (commits: CommitEntry[]): { rate: number | null, reason?: string } {
  if (commits.length < 2) return { rate: null, reason: `consumption: ${commits.length === 0 ? 'no commit' : 'one commit'} in the window (a rate needs two)` }
  if (commits.some((c, i) => i > 0 && c.offset < commits[i - 1]!.offset)) return { rate: null, reason: 'consumption: the window holds a rewind' }
  const first = commits[0]!
  const last = commits.at(-1)!
  const rate = perSecond(last.offset - first.offset, last.at - first.at)
  return rate === null ? { rate, reason: 'consumption: the commits of the window share one time' } : { rate }
}

function productionRate (logEnds: LogEndObservation[]): { rate: number | null, reason?: string } {
  if (logEnds.length === 0) return { rate: null, reason: 'production: no log end read yet' }
  const oldest = logEnds[0]!
  const newest = logEnds.at(-1)!
  if (newest.offset < oldest.offset) return { rate: null, reason: 'production: the log end went back (the topic was re-created?)' }
  const rate = perSecond(newest.offset - oldest.offset, newest.lastSeen - oldest.firstSeen)
  return rate === null ? { rate, reason: 'production: the log end was read once (a rate needs two reads)' } : { rate }
}

function catchUpOf (lag: number | null, consumption: number | null, production: number | null, unknown: string | undefined): { seconds: number | null, reason?: string } {
  if (lag === null) return { seconds: null, reason: 'the lag is unknown' }
  if (lag <= 0) return { seconds: 0 }
  if (unknown !== undefined) return { seconds: null, reason: unknown }
  if (consumption! <= production!) return { seconds: null, reason: `consumption (${consumption}/s) does not exceed production (${production}/s): the lag will not shrink at these rates` }
  return { seconds: round(lag / (consumption! - production!)) }
}

export interface StatusSummary {
  status: LagStatus
  status_reason: string
  status_counts: Partial<Record<LagStatus, number>>
}

/** The worst status of the partitions, with how many have each; `label` names a partition in the reason. */
export function summarizeStatuses<P extends { judgement: PartitionJudgement }> (partitions: readonly P[], label: (partition: P) => string): StatusSummary {
  const counts: Partial<Record<LagStatus, number>> = {}
  let worst: LagStatus = 'ok'
  for (const { judgement: { status } } of partitions) {
    counts[status] = (counts[status] ?? 0) + 1
    if (RANK.get(status)! > RANK.get(worst)!) worst = status
  }
  if (partitions.length === 0) return { status: 'no_data', status_reason: 'no partitions', status_counts: counts }
  const worstOnes = partitions.filter((p) => p.judgement.status === worst)
  const named = worstOnes.slice(0, 6).map(label)
  const others = LAG_STATUSES.filter((s) => s !== worst && counts[s] !== undefined).map((s) => `${counts[s]} ${s}`)
  const list = worstOnes.length <= 5 ? named.join(', ') : `${named.slice(0, 5).join(', ')} and ${worstOnes.length - 5} more`
  return {
    status: worst,
    status_reason: `${worstOnes.length} of ${partitions.length} partition(s) ${worst} (${list})${others.length > 0 ? `; ${others.join(', ')}` : ''}`,
    status_counts: counts
  }
}

/**
 * A group's rates are its partitions' summed; it has caught up when its slowest partition has,
 * so its time to catch up is the longest, and unknown when any lagging partition's is.
 */
export function groupEstimates<P extends { lag: number | null, judgement: PartitionJudgement }> (partitions: readonly P[], label: (partition: P) => string): Estimates {
  const sum = (pick: (j: PartitionJudgement) => number | null): { total: number | null, known: number } => {
    const known = partitions.map((p) => pick(p.judgement)).filter((r) => r !== null)
    return { total: known.length === 0 ? null : round(known.reduce((a, b) => a + b, 0)), known: known.length }
  }
  const consumption = sum((j) => j.consumption_rate)
  const production = sum((j) => j.production_rate)
  const out: Estimates = { consumption_rate: consumption.total, production_rate: production.total, catch_up_seconds: 0 }
  if (consumption.known < partitions.length || production.known < partitions.length) {
    out.rate_reason = `summed over the partitions with a rate: ${consumption.known} of ${partitions.length} for consumption, ${production.known} for production`
  }
  const lagging = partitions.filter((p) => p.lag !== null && p.lag > 0)
  const unknown = lagging.filter((p) => p.judgement.catch_up_seconds === null)
  if (unknown.length > 0) {
    out.catch_up_seconds = null
    out.catch_up_reason = `${unknown.length} lagging partition(s) without an estimate, e.g. ${label(unknown[0]!)}: ${unknown[0]!.judgement.catch_up_reason}`
  } else if (lagging.length > 0) out.catch_up_seconds = Math.max(...lagging.map((p) => p.judgement.catch_up_seconds!))
  return out
}

export interface Evidence {
  commits: Array<{ offset: number, committed_at: string, log_end_offset: number | null, lag: number | null }>
  log_ends: Array<{ offset: number, first_seen: string, last_seen: string }>
  group_state?: string
  guards?: string[]
}

export function evidenceOf (facts: PartitionFacts, judgement: PartitionJudgement): Evidence {
  const evidence: Evidence = {
    commits: (facts.commits ?? []).map((c) => ({ offset: c.offset, committed_at: iso(c.at), log_end_offset: c.logEnd, lag: c.logEnd === null ? null : c.logEnd - c.offset })),
    log_ends: facts.logEnds.map((o) => ({ offset: o.offset, first_seen: iso(o.firstSeen), last_seen: iso(o.lastSeen) }))
  }
  if (facts.groupState !== undefined) evidence.group_state = facts.groupState
  if (judgement.guards.length > 0) evidence.guards = judgement.guards
  return evidence
}

function perSecond (count: number, ms: number): number | null {
  return ms <= 0 ? null : round(count / (ms / 1000))
}

function round (n: number): number {
  return Math.round(n * 1000) / 1000
}

function iso (ms: number): string {
  return rfc3339Nano(new Date(ms))
}

/** "45s", "12m 5s", "3h 4m": how long, for a reason in words. */
export function duration (ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.floor(s / 60)}m ${s % 60}s`
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
}
