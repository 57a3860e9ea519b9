import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../lib/config.ts'
import { assertOptions, positive, problemOf, wholeNumber } from '../lib/config/checks.ts'
import { RateLimitedError, StreamsExhaustedError, TooManyConcurrentError, TooManyStreamsError } from '../lib/errors.ts'

/**
 * Requests per caller per window; requests in flight per caller (open streams do not count
 * there); long-lived streams (SSE sessions, subscriptions) open per caller and in the whole
 * process. Each 0 disables its limit.
 */
export const ABUSE_LIMITS_SETTINGS = ['rateLimitMax', 'rateLimitWindowMs', 'maxConcurrent', 'maxStreams', 'maxStreamsTotal'] as const
export type AbuseLimitsOptions = Pick<Config, typeof ABUSE_LIMITS_SETTINGS[number]>

type LimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler hooks for gated routes: they run after authentication, keyed by callerKey. */
    abuseLimits: LimitHook[]
  }
  interface FastifyContextConfig {
    /**
     * The route holds its response open as a stream (true), or does so for the requests the
     * function picks: such a request counts against the stream caps instead of the in-flight
     * cap, so open streams never starve the caller's ordinary requests.
     */
    opensStream?: boolean | ((request: FastifyRequest) => boolean)
  }
}

/**
 * Whom a limit counts. An OIDC principal is one person wherever it calls from. The shared
 * static token and anonymous access name nobody in particular, so the client address tells
 * their callers apart: one busy client cannot spend everybody's budget.
 */
export function callerKey (request: FastifyRequest): string {
  const { principal } = request
  return principal.method === 'oidc' ? principal.id : `${principal.id}@${request.ip}`
}

/** Slots held per caller and in all. */
class Tally {
  private readonly byCaller = new Map<string, number>()
  total = 0

  of (key: string): number {
    return this.byCaller.get(key) ?? 0
  }

  /** Takes a slot for key; the returned function gives it back. */
  hold (key: string): () => void {
    this.byCaller.set(key, this.of(key) + 1)
    this.total++
    return () => {
      this.total--
      const left = this.of(key) - 1
      if (left <= 0) this.byCaller.delete(key)
      else this.byCaller.set(key, left)
    }
  }
}

export default fp<AbuseLimitsOptions>(async function abuseLimits (app, options) {
  assertOptions('kafscale-abuse-limits', [
    ...(['rateLimitMax', 'maxConcurrent', 'maxStreams', 'maxStreamsTotal'] as const).map((key) => problemOf(key, options[key], wholeNumber(0))),
    problemOf('rateLimitWindowMs', options.rateLimitWindowMs, positive)
  ])
  const hooks: LimitHook[] = []
  if (options.rateLimitMax > 0) {
    await app.register(rateLimit, { global: false })
    const limit = app.rateLimit({
      max: options.rateLimitMax,
      timeWindow: options.rateLimitWindowMs,
      keyGenerator: callerKey,
      errorResponseBuilder: (_request, context) => new RateLimitedError(context.max, describeWindow(options.rateLimitWindowMs), Math.ceil(context.ttl / 1000))
    })
    hooks.push(async (request, reply) => { await limit.call(app, request, reply) })
  }

  const inFlight = new Tally()
  const streams = new Tally()
  const opensStream = (request: FastifyRequest): boolean => {
    const rule = request.routeOptions.config.opensStream
    return typeof rule === 'function' ? rule(request) : rule === true
  }
  hooks.push(async (request, reply) => {
    const key = callerKey(request)
    let release: () => void
    if (opensStream(request)) {
      if (options.maxStreams > 0 && streams.of(key) >= options.maxStreams) throw new TooManyStreamsError(options.maxStreams)
      if (options.maxStreamsTotal > 0 && streams.total >= options.maxStreamsTotal) {
        void reply.header('retry-after', '5')
        throw new StreamsExhaustedError(options.maxStreamsTotal)
      }
      release = streams.hold(key)
    } else {
      if (options.maxConcurrent > 0 && inFlight.of(key) >= options.maxConcurrent) {
        void reply.header('retry-after', '1')
        throw new TooManyConcurrentError(options.maxConcurrent)
      }
      release = inFlight.hold(key)
    }
    reply.raw.once('close', release)
  })
  app.decorate('abuseLimits', hooks)
}, { name: 'kafscale-abuse-limits', fastify: '5.x', dependencies: ['kafscale-auth'] })

/** The window as a person reads it: "1 min", "90 s", "500 ms". */
function describeWindow (ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`
  if (ms % 1000 === 0) return `${ms / 1000} s`
  return `${ms} ms`
}
