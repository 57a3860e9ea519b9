import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { errorBody, TooManyConcurrentError } from '../lib/errors.ts'

export interface AbuseLimitsOptions {
  /** Requests per principal per window; 0 disables. */
  max: number
  windowMs: number
  /** Requests in flight per principal; 0 disables. */
  maxConcurrent: number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler hooks for gated routes: they run after authentication, keyed by principal. */
    abuseLimits: Array<(request: FastifyRequest, reply: FastifyReply) => Promise<void>>
  }
}

export default fp<AbuseLimitsOptions>(async function abuseLimits (app, options) {
  const hooks: Array<(request: FastifyRequest, reply: FastifyReply) => Promise<void>> = []
  if (options.max > 0) {
    await app.register(rateLimit, { global: false })
    const limit = app.rateLimit({
      max: options.max,
      timeWindow: options.windowMs,
      keyGenerator: (request) => request.principal?.id ?? request.ip,
      errorResponseBuilder: (_request, context) => ({
        statusCode: 429,
        code: 'KSMCP_ERR_RATE_LIMITED',
        error: 'Too Many Requests',
        message: `rate limit exceeded: at most ${context.max} requests per ${context.after}; retry in ${Math.ceil(context.ttl / 1000)} s`
      })
    })
    hooks.push(async (request, reply) => { await limit.call(app, request, reply) })
  }
  if (options.maxConcurrent > 0) {
    const inFlight = new Map<string, number>()
    hooks.push(async (request, reply) => {
      const key = request.principal?.id ?? request.ip
      const count = inFlight.get(key) ?? 0
      if (count >= options.maxConcurrent) {
        const err = new TooManyConcurrentError(options.maxConcurrent)
        await reply.code(429).header('retry-after', '1').send(errorBody(err))
        return
      }
      inFlight.set(key, count + 1)
      reply.raw.once('close', () => {
        const left = (inFlight.get(key) ?? 1) - 1
        if (left <= 0) inFlight.delete(key)
        else inFlight.set(key, left)
      })
    })
  }
  app.decorate('abuseLimits', hooks)
}, { name: 'kafscale-abuse-limits', fastify: '5.x', dependencies: ['kafscale-auth'] })
