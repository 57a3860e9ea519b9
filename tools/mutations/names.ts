import type { Finding } from '../../core/mutation.ts'

// Which names the target broker accepts, and which names KafScale's key layout ties together.

const KAFKA_LEGAL = /^[a-zA-Z0-9._-]+$/

/** Findings about a topic name on this broker flavour (contract §5.1). */
export function topicNameFindings (topic: string, flavor: 'kafscale' | 'kafka', existing: Iterable<string>): Finding[] {
  const findings: Finding[] = []
  if (flavor === 'kafka') {
    if (!KAFKA_LEGAL.test(topic) || topic === '.' || topic === '..') {
      findings.push({ level: 'error', code: 'INVALID_TOPIC_NAME', message: `Apache Kafka accepts topic names of [a-zA-Z0-9._-] only (not "." or ".."): ${JSON.stringify(topic)} is refused` })
    }
    const folded = topic.replaceAll('.', '_')
    for (const other of existing) {
      if (other !== topic && other.replaceAll('.', '_') === folded) findings.push({ level: 'error', code: 'TOPIC_NAME_COLLISION', message: `topic ${JSON.stringify(topic)} collides with ${JSON.stringify(other)}: Kafka's metric names treat "." and "_" alike` })
    }
  } else if (topic.trim() === '') {
    findings.push({ level: 'error', code: 'INVALID_TOPIC_NAME', message: 'KafScale refuses a topic name that is blank' })
  }
  return findings
}

/** Topics whose etcd keys lie under this topic's prefix: deleting `topic` deletes them too. */
export function nestedTopics (topic: string, names: Iterable<string>): string[] {
  return [...new Set([...names].filter((name) => name.startsWith(`${topic}/`)))].sort()
}

/** Topics under whose prefix this topic's keys lie: deleting one of them deletes this one. */
export function enclosingTopics (topic: string, names: Iterable<string>): string[] {
  return [...new Set([...names].filter((name) => topic.startsWith(`${name}/`)))].sort()
}
