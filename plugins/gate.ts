import type { FastifyInstance } from 'fastify'
import { hostHeaderValidation, originValidation } from '@modelcontextprotocol/fastify'

export interface BrowserChecks {
  /** Host header names accepted (DNS-rebinding protection); undefined: any. */
  allowedHosts?: string[]
  /** Origin hostnames accepted; requests without Origin (non-browser clients) pass. */
  allowedOrigins: string[]
}

/**
 * The checks of a gated route scope, in order: Host and Origin for the MCP endpoints a browser
 * could be tricked into calling, then authentication, then the per-caller limits (which need
 * to know the caller, so they run after it).
 */
export function addGate (app: FastifyInstance, browser?: BrowserChecks): void {
  if (browser?.allowedHosts !== undefined) app.addHook('onRequest', hostHeaderValidation(browser.allowedHosts))
  if (browser !== undefined) app.addHook('onRequest', originValidation(browser.allowedOrigins))
  app.addHook('onRequest', app.authenticate)
  for (const hook of app.abuseLimits) app.addHook('preHandler', hook)
}
