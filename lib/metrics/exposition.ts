// Prometheus text exposition (format 0.0.4) parser. It replaces parse-prometheus-text-format,
// which merges labelled histogram series, drops the last sample of a text without a trailing
// newline and groups samples by the last TYPE line: KafScale's broker interleaves the samples
// of three admin families after their HELP/TYPE lines (contract §6.2), so a sample must be
// read on its own, by name. A line that is not a comment, blank or a sample is an error.

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
  timestampMs?: number
}

export interface Exposition {
  samples: Sample[]
  /** Family name → declared TYPE. */
  types: Map<string, string>
}

export class ExpositionError extends Error {}

const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y

export function parseExposition (text: string): Exposition {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '')
    if (line.trim() === '') continue
    if (line.startsWith('#')) {
      const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line)
      if (m !== null) types.set(m[1]!, m[2]!)
      continue
    }
    try {
      samples.push(parseSample(line))
    } catch (err) {
      throw new ExpositionError(`line ${i + 1}: ${(err as Error).message}: ${JSON.stringify(line.slice(0, 80))}`)
    }
  }
  return { samples, types }
}

function parseSample (line: string): Sample {
  let pos = 0
  const skipSpaces = (): void => { while (line[pos] === ' ' || line[pos] === '\t') pos++ }
  skipSpaces()
  NAME.lastIndex = pos
  const name = NAME.exec(line)?.[0]
  if (name === undefined) throw new Error('expected a metric name')
  pos += name.length
  const labels: Record<string, string> = {}
  skipSpaces()
  if (line[pos] === '{') {
    pos++
    for (;;) {
      skipSpaces()
      if (line[pos] === '}') { pos++; break }
      LABEL_NAME.lastIndex = pos
      const label = LABEL_NAME.exec(line)?.[0]
      if (label === undefined) throw new Error('expected a label name')
      pos += label.length
      skipSpaces()
      if (line[pos++] !== '=') throw new Error(`expected "=" after label ${label}`)
      skipSpaces()
      if (line[pos++] !== '"') throw new Error(`expected a quoted value for label ${label}`)
      let value = ''
      for (;;) {
        const c = line[pos++]
        if (c === undefined) throw new Error(`unterminated value of label ${label}`)
        if (c === '"') break
        if (c === '\\') {
          const e = line[pos++]
          value += e === 'n' ? '\n' : e === '\\' ? '\\' : e === '"' ? '"' : `\\${e ?? ''}`
        } else {
          value += c
        }
      }
      labels[label] = value
      skipSpaces()
      if (line[pos] === ',') pos++
      else if (line[pos] !== '}') throw new Error('expected "," or "}" in labels')
    }
  }
  const rest = line.slice(pos).trim().split(/\s+/)
  if (rest.length < 1 || rest.length > 2 || rest[0] === '') throw new Error('expected a value and an optional timestamp')
  const value = parseFloatValue(rest[0]!)
  const sample: Sample = { name, labels, value }
  if (rest.length === 2) {
    if (!/^-?\d+$/.test(rest[1]!)) throw new Error(`invalid timestamp ${rest[1]}`)
    sample.timestampMs = Number(rest[1])
  }
  return sample
}

function parseFloatValue (text: string): number {
  switch (text) {
    case 'NaN': return NaN
    case '+Inf': case 'Inf': return Infinity
    case '-Inf': return -Infinity
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`invalid value ${text}`)
  return Number(text)
}
