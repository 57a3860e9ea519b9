import { parseArgs } from 'node:util'
import { defaultCheckpointPath, loadAuditKey, verifyAuditFile, type VerifyResult } from './audit.ts'

// `kafscale-mcp audit verify`: the same key and checkpoint settings as the service, so that
// inside the service's container it needs nothing but the file name.

export const AUDIT_USAGE = `Usage: kafscale-mcp audit verify [options] AUDIT-FILE

Checks that no record of the audit file was altered, removed, inserted or reordered, and that the
file ends where its checkpoint says (nothing cut from the end, not emptied). With the HMAC key it
also shows that records and checkpoint were sealed by a holder of the key, so a rewritten chain
fails; without one, whoever can write both files can rewrite them unnoticed. Mutation records are
paired by plan: an outcome saying a change was sent (applied, failed) needs its intent before it,
and an intent with no outcome after it is reported as a warning.

Options (each also an environment variable):
  --audit-hmac-key-file FILE    the key the service seals the chain with  [KAFSCALE_MCP_AUDIT_HMAC_KEY_FILE]
  --audit-checkpoint FILE       the checkpoint (default: AUDIT-FILE.checkpoint)  [KAFSCALE_MCP_AUDIT_CHECKPOINT]
  --help                        show this help

Exit status: 0 intact; 1 broken, not matching the checkpoint, or a change sent without its intent;
2 usage error or unreadable file; 3 intact, but the service resumed the chain after a broken or
missing part (each one is listed). Intents without an outcome are warnings: they change no status.`

/** Runs `audit ARGS…` and returns the exit status. */
export function runAuditCommand (args: string[], env: NodeJS.ProcessEnv): number {
  let parsed
  try {
    parsed = parseArgs({
      args,
      options: { 'audit-hmac-key-file': { type: 'string' }, 'audit-checkpoint': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true
    })
  } catch (err) {
    console.error(`kafscale-mcp audit: ${(err as Error).message}\n\n${AUDIT_USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    console.log(AUDIT_USAGE)
    return 0
  }
  if (positionals[0] !== 'verify' || positionals.length !== 2) {
    console.error(`kafscale-mcp audit: ${positionals[0] === 'verify' ? 'name exactly one audit file' : 'the only command is verify'}\n\n${AUDIT_USAGE}`)
    return 2
  }
  const file = positionals[1]!
  const keyFile = values['audit-hmac-key-file'] ?? nonEmpty(env.KAFSCALE_MCP_AUDIT_HMAC_KEY_FILE)
  const checkpointPath = values['audit-checkpoint'] ?? nonEmpty(env.KAFSCALE_MCP_AUDIT_CHECKPOINT) ?? defaultCheckpointPath(file)
  let result: VerifyResult
  try {
    result = verifyAuditFile(file, { key: keyFile !== undefined ? loadAuditKey(keyFile) : undefined, checkpointPath })
  } catch (err) {
    console.error(`kafscale-mcp audit: cannot verify ${file}: ${(err as Error).message}`)
    return 2
  }
  const orphans = result.orphanOutcomes ?? []
  if (!result.ok && orphans.length === 0) {
    console.error(result.brokenLine !== undefined
      ? `${file}: chain broken at line ${result.brokenLine}: ${result.reason} (${result.records} records before it are intact)`
      : `${file}: ${result.reason} (checkpoint ${checkpointPath}; ${result.records} records verified)`)
    return 1
  }
  const sealed = keyFile !== undefined ? `HMAC-SHA256, key ${keyFile}` : 'SHA-256, no key'
  const resumptions = result.resumptions ?? []
  const report = orphans.length > 0 ? console.error : console.log
  report(`${file}: ${result.records} records, chain intact, ends at its checkpoint ${checkpointPath} (${sealed})` +
    (resumptions.length > 0 ? `, but the service resumed the chain ${resumptions.length === 1 ? 'once' : `${resumptions.length} times`}:` : ''))
  for (const r of resumptions) {
    const after = r.brokenLines === undefined ? '' : r.brokenLines[0] === r.brokenLines[1] ? ` after a broken record at line ${r.brokenLines[0]}` : ` after broken lines ${r.brokenLines[0]}–${r.brokenLines[1]}`
    report(`  line ${r.line}: resumed${after}: ${r.reason}`)
  }
  for (const o of orphans) console.error(`error: line ${o.line}: plan ${JSON.stringify(o.plan_id)}: ${o.problem}`)
  for (const d of result.danglingIntents ?? []) report(`warning: line ${d.line}: plan ${JSON.stringify(d.plan_id)}: ${d.problem}`)
  if (keyFile === undefined) report('note: without an HMAC key this cannot rule out a rewrite: whoever can write the file and its checkpoint can recompute every hash. Seal the chain with --audit-hmac-key-file.')
  if (orphans.length > 0) return 1
  return resumptions.length > 0 ? 3 : 0
}

function nonEmpty (text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text
}
