import fp from 'fastify-plugin'
import { AuditLog, ChainedFileAuditSink, StdoutAuditSink, loadAuditKey, type AuditSink } from '../lib/audit.ts'
import { ConfigError } from '../lib/errors.ts'

export interface AuditPluginOptions {
  /** One JSON line per call on stdout (application logs go to stderr). */
  stdout: boolean
  /** Append-only, hash-chained file. */
  file?: string
  /** Where the file's checkpoint (record count and head hash) is kept; default FILE.checkpoint. */
  checkpoint?: string
  /** File holding the HMAC key that seals the chain and its checkpoint. */
  hmacKeyFile?: string
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
  if (options.file !== undefined) sinks.push(openFileSink(options.file, options, app.log))
  app.decorate('audit', new AuditLog(sinks, {
    failClosedForReads: options.failClosedForReads,
    onError: (err) => { app.log.error({ err: err.message }, 'audit record could not be written') }
  }))
}, { name: 'kafscale-audit', fastify: '5.x' })

function openFileSink (file: string, options: AuditPluginOptions, log: { error: (obj: object, msg: string) => void }): ChainedFileAuditSink {
  const key = options.hmacKeyFile !== undefined ? loadAuditKey(options.hmacKeyFile) : undefined
  let sink: ChainedFileAuditSink
  try {
    sink = new ChainedFileAuditSink({ path: file, checkpointPath: options.checkpoint, key })
  } catch (err) {
    throw new ConfigError(`cannot open the audit file ${file} or its checkpoint: ${(err as Error).message}`)
  }
  // The service still starts: the next record carries the same reason, so verify can explain the gap.
  if (sink.resumption !== undefined) {
    log.error({ file, checkpoint: sink.checkpointPath, reason: sink.resumption.reason, broken_lines: sink.resumption.broken_lines }, 'the audit file\'s end is broken or does not match its checkpoint: serving anyway; the next record resumes the chain after the last good one and carries this reason')
  }
  return sink
}
