import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import { isJsonContentType, validateHostHeader, validateOriginHeader } from '@modelcontextprotocol/server'
import { UngatedTransportError, BadHostError, ForbiddenHostError, ForbiddenOriginError, JsonTooDeepError, UnsupportedMediaTypeError } from '../lib/errors.ts'
import { exceedsNesting } from '../lib/json-depth.ts'

export interface GateOptions {
  /** Host names accepted (DNS-rebinding protection); undefined: any. */
  allowedHosts?: string[]
  /** Origin hostnames accepted; requests without Origin (non-browser clients) pass. */
  allowedOrigins: string[]
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Set in a scope whose routes the gate covers. */
    gated: boolean
  }
}

type Check = (request: FastifyRequest) => Promise<void>

// A tool call over JSON-RPC nests about six deep (envelope, params, arguments, a list, _meta).
const MAX_JSON_DEPTH = 64

/**
 * The gate in front of every data route. Registered in a scope, it covers each route declared
 * there or in a child scope, in this order: Host and Origin (a browser page must not reach a
 * loopback service through DNS rebinding or a cross-site request), a JSON body for POST (a form
 * or a body-less POST from another site must not run a tool), authentication, then the
 * per-caller limits, which need to know the caller. A refusal is thrown, so each transport's
 * error handler answers it in the shape its clients read.
 */
export default fp<GateOptions>(async function gate (app, options) {
  const checks = [hostCheck(options.allowedHosts), originCheck(options.allowedOrigins), jsonBodyCheck, app.authenticate]
  app.addHook('onRoute', (route: RouteOptions) => {
    route.onRequest = [...checks, ...hooksOf(route.onRequest)] as RouteOptions['onRequest']
    route.preHandler = [...app.abuseLimits, ...hooksOf(route.preHandler)] as RouteOptions['preHandler']
  })
  app.decorate('gated', true)

  // Every step after parsing (validation, the audit digest, the SDK's own serialising) walks
  // the value recursively: a body nested thousands deep would overflow the stack there, so it
  // is refused by a scan of its text before it becomes a value.
  const parseJson = app.getDefaultJsonParser(app.initialConfig.onProtoPoisoning ?? 'error', app.initialConfig.onConstructorPoisoning ?? 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body: string, done) => {
    if (exceedsNesting(body, MAX_JSON_DEPTH)) {
      done(new JsonTooDeepError(MAX_JSON_DEPTH), undefined)
      return
    }
    parseJson(request, body, done)
  })
}, { name: 'kafscale-gate', fastify: '5.x', dependencies: ['kafscale-auth', 'kafscale-abuse-limits'] })

/** A transport refuses to start outside the gate rather than serve data unguarded. */
export function assertGated (app: FastifyInstance, plugin: string): void {
  if (!app.hasDecorator('gated')) throw new UngatedTransportError(plugin)
}

function hooksOf<T> (hooks: T | T[] | undefined): T[] {
  return hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]
}

function hostCheck (allowedHosts: string[] | undefined): Check {
  return async function checkHost (request) {
    const hosts = headerValues(request.raw.rawHeaders, 'host')
    // Node keeps the first of several Host headers; a proxy may route by another.
    if (hosts.length > 1) throw new BadHostError('the request has more than one Host header')
    const host = hosts[0]
    const target = request.raw.url ?? '/'
    if (!target.startsWith('/')) {
      // An absolute-form target names the host itself (RFC 9112 §3.2.2), and wins over Host.
      const named = parseUrl(target)
      if (named === undefined || host === undefined || named.host !== parseUrl(`${named.protocol}//${host}`)?.host) {
        throw new BadHostError(`the request target names host ${JSON.stringify(named?.host ?? target)}, the Host header ${JSON.stringify(host ?? '')}`)
      }
    }
    if (allowedHosts !== undefined && !validateHostHeader(host, allowedHosts).ok) throw new ForbiddenHostError(JSON.stringify(host ?? ''))
  }
}

function originCheck (allowedOrigins: string[]): Check {
  return async function checkOrigin (request) {
    const { origin } = request.headers
    if (!validateOriginHeader(origin, allowedOrigins).ok) throw new ForbiddenOriginError(JSON.stringify(origin))
  }
}

async function jsonBodyCheck (request: FastifyRequest): Promise<void> {
  if (request.method !== 'POST') return
  const type = request.headers['content-type']
  if (type === undefined || !isJsonContentType(type)) throw new UnsupportedMediaTypeError(type === undefined ? '(none)' : JSON.stringify(type))
}

function headerValues (rawHeaders: string[], name: string): string[] {
  const values: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === name) values.push(rawHeaders[i + 1]!)
  }
  return values
}

function parseUrl (target: string): URL | undefined {
  try {
    return new URL(target)
  } catch {
    return undefined
  }
}
