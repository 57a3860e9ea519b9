import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'

/**
 * The reference's shared token, from a value or a file. A file is re-read when it changes,
 * so a mounted Secret can be rotated without a restart. Comparison is constant-time over
 * SHA-256 digests, independent of the token's length.
 */
export class StaticToken {
  private digest: Buffer | undefined
  private readonly file: string | undefined
  private fileStamp = ''

  constructor (source: { value?: string, file?: string }) {
    this.file = source.file
    if (source.value !== undefined && source.value !== '') this.digest = sha256(source.value)
    if (this.file !== undefined) this.refresh()
    if (this.digest === undefined) throw new Error(this.file !== undefined ? `the token file ${this.file} is empty` : 'no static token given')
  }

  private refresh (): void {
    if (this.file === undefined) return
    const stat = statSync(this.file)
    const stamp = `${stat.mtimeMs}:${stat.size}:${stat.ino}`
    if (stamp === this.fileStamp) return
    const value = readFileSync(this.file, 'utf8').trim()
    if (value !== '') this.digest = sha256(value)
    this.fileStamp = stamp
  }

  matches (presented: string): boolean {
    try {
      this.refresh()
    } catch {
      // A file being replaced: keep the last token until the new one is readable.
    }
    return this.digest !== undefined && timingSafeEqual(sha256(presented), this.digest)
  }
}

function sha256 (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}
