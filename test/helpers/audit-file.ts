import { readFileSync } from 'node:fs'

export type AuditRecord = Record<string, any>

/** The audit file's records, in order; none while the file does not exist yet. */
export function auditLines (path: string): AuditRecord[] {
  let text = ''
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return []
  }
  return text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as AuditRecord)
}
