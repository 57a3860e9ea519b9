import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { MutationMetrics } from '../core/mutation.ts'
import type { CallMetrics } from '../core/registry.ts'

declare module 'fastify' {
  interface FastifyInstance {
    callMetrics: CallMetrics
    mutationMetrics: MutationMetrics
  }
}

/** The service's own Prometheus metrics at /metrics (no auth, like /healthz; no secrets in them). */
export default fp(async function telemetry (app) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'kafscale_mcp_' })
  const calls = new Counter({ name: 'kafscale_mcp_tool_calls_total', help: 'Tool calls by tool, transport and outcome (ok, error, denied).', labelNames: ['tool', 'transport', 'outcome'], registers: [registry] })
  const duration = new Histogram({
    name: 'kafscale_mcp_tool_call_duration_seconds',
    help: 'Tool call duration, authorization and audit included.',
    labelNames: ['tool'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry]
  })
  app.decorate<CallMetrics>('callMetrics', {
    observe: (tool, transport, outcome, seconds) => {
      calls.inc({ tool, transport, outcome })
      duration.observe({ tool }, seconds)
    }
  })
  const mutations = new Counter({ name: 'kafscale_mcp_mutations_total', help: 'Mutation tool calls by tool and result (planned, blocked, applied, refused, declined, confirmation_requested, failed).', labelNames: ['tool', 'result'], registers: [registry] })
  const breakGlass = new Counter({ name: 'kafscale_mcp_break_glass_total', help: 'Applies that passed an approval fence by break-glass, by tool.', labelNames: ['tool'], registers: [registry] })
  app.decorate<MutationMetrics>('mutationMetrics', {
    outcome: (tool, result) => { mutations.inc({ tool, result }) },
    breakGlass: (tool) => { breakGlass.inc({ tool }) }
  })
  const { changeFeed } = app
  if (changeFeed !== undefined) {
    new Gauge({ name: 'kafscale_mcp_live_listeners', help: 'Open live-update listeners: subscriptions/listen streams and 2025-era sessions.', registers: [registry], collect () { this.set(changeFeed.listenerCount) } }) // eslint-disable-line no-new
  }
  app.get('/metrics', async (_request, reply) => await reply.type(registry.contentType).send(await registry.metrics()))
}, { name: 'kafscale-telemetry', fastify: '5.x', dependencies: ['kafscale-store'] })
