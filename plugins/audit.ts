import fp from 'fastify-plugin'
import { AuditLog, ChainedFileAuditSink, StdoutAuditSink, type AuditSink } from '../lib/audit.ts'

export interface AuditPluginOptions {
  /** One JSON line per call on stdout (application logs go to stderr). */
  stdout: boolean
  /** Append-only, hash-chained file. */
  file?: string
  /** Withhold read results when the audit record cannot be written. Mutations always are. */
  failClosedForReads: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditLog
  }
}

export default fp<AuditPluginOptions>(async function audit (app, options) {
  const sinks: AuditSink[] = []
  if (options.stdout) sinks.push(new StdoutAuditSink())
  if (options.file !== undefined) sinks.push(new ChainedFileAuditSink(options.file))
  app.decorate('audit', new AuditLog(sinks, {
    failClosedForReads: options.failClosedForReads,
    onError: (err) => { app.log.error({ err: err.message }, 'audit record could not be written') }
  }))
}, { name: 'kafscale-audit', fastify: '5.x' })
