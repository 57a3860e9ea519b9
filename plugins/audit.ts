import fp from 'fastify-plugin'
import { AuditLog, ChainedFileAuditSink, StdoutAuditSink, loadAuditKey, type AuditSink } from '../lib/audit.ts'
import type { Config } from '../lib/config.ts'
import { ConfigError } from '../lib/errors.ts'

/**
 * One JSON line per call on stdout (application logs go to stderr); an append-only, hash-chained
 * file, its checkpoint (default FILE.checkpoint) and the HMAC key that seals both; whether read
 * results are withheld when the record cannot be written (mutations always are).
 */
export const AUDIT_SETTINGS = ['auditStdout', 'auditFile', 'auditCheckpoint', 'auditHmacKeyFile', 'auditFailClosedForReads'] as const
export type AuditPluginOptions = Pick<Config, typeof AUDIT_SETTINGS[number]>

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditLog
  }
}

export default fp<AuditPluginOptions>(async function audit (app, options) {
  const sinks: AuditSink[] = []
  if (options.auditStdout) sinks.push(new StdoutAuditSink())
  if (options.auditFile !== undefined) sinks.push(openFileSink(options.auditFile, options, app.log))
  app.decorate('audit', new AuditLog(sinks, {
    failClosedForReads: options.auditFailClosedForReads,
    onError: (err) => { app.log.error({ err: err.message }, 'audit record could not be written') }
  }))
}, { name: 'kafscale-audit', fastify: '5.x' })

function openFileSink (file: string, options: AuditPluginOptions, log: { error: (obj: object, msg: string) => void }): ChainedFileAuditSink {
  const key = options.auditHmacKeyFile !== undefined ? loadAuditKey(options.auditHmacKeyFile) : undefined
  let sink: ChainedFileAuditSink
  try {
    sink = new ChainedFileAuditSink({ path: file, checkpointPath: options.auditCheckpoint, key })
  } catch (err) {
    throw new ConfigError(`cannot open the audit file ${file} or its checkpoint: ${(err as Error).message}`)
  }
  // The service still starts: the next record carries the same reason, so verify can explain the gap.
  if (sink.resumption !== undefined) {
    log.error({ file, checkpoint: sink.checkpointPath, reason: sink.resumption.reason, broken_lines: sink.resumption.broken_lines }, 'the audit file\'s end is broken or does not match its checkpoint: serving anyway; the next record resumes the chain after the last good one and carries this reason')
  }
  return sink
}
