import { accessSync, constants } from 'node:fs'
import { PluginOptionsError } from '../errors.ts'

// One function per rule a setting obeys. The configuration loader applies them to what the user
// wrote (naming the environment variable and flag); every plugin applies the same ones to its
// options at registration, because tests and embedders register plugins without the loader.

/**
 * What is wrong with a value, in words that follow "SETTING: ", or undefined when it is fine.
 * `shown` is the value as the user wrote it (the loader passes the text, e.g. "abc" for a count).
 */
export type Check<T> = (value: T, shown?: string) => string | undefined

/** JWS algorithms with a public key: a token signed with a shared secret or none is never accepted. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

export const httpUrl: Check<string> = (url, shown = JSON.stringify(url)) =>
  /^https?:\/\/\S+$/.test(url) && URL.canParse(url) ? undefined : `${shown} is not an http(s) URL`

/** An etcd endpoint: scheme, host and port, no path. */
export const hostPortUrl: Check<string> = (url, shown = JSON.stringify(url)) =>
  /^https?:\/\/[^/\s]+\/?$/.test(url) && URL.canParse(url) ? undefined : `${shown} is not an http(s)://host:port URL`

/** A host and port to dial: host:port, IPv6 hosts in brackets, port from 1 to 65535. */
export const hostPort: Check<string> = (addr, shown = JSON.stringify(addr)) => {
  const m = /^(?:\[[^\]\s]+\]|[^:\s[\]/]+):(\d{1,5})$/.exec(addr)
  return m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 65535 ? undefined : `${shown} is not host:port with a port from 1 to 65535`
}

/** A port to dial, or 0 for none. */
export const port: Check<number> = (n, shown = JSON.stringify(n)) =>
  Number.isInteger(n) && n >= 0 && n <= 65535 ? undefined : `${shown} is not a port from 0 to 65535`

export const asymmetricAlgorithm: Check<string> = (alg) =>
  ASYMMETRIC_ALGORITHMS.includes(alg) ? undefined : `${alg} is not an asymmetric JWS algorithm (HMAC and none are never accepted)`

/** Deadlines and windows: zero would refuse every request. */
export const positive: Check<number> = (n) => (n > 0 ? undefined : 'must be more than 0')

/** Counts and sizes; 0 where the setting allows it means "off". */
export function wholeNumber (minimum: number): Check<number> {
  return (n, shown = JSON.stringify(n)) =>
    Number.isInteger(n) && n >= minimum ? undefined : `${shown} must be a whole number, ${minimum === 0 ? '0 or more' : `at least ${minimum}`}`
}

export const readableFile: Check<string> = (path) => {
  try {
    accessSync(path, constants.R_OK)
    return undefined
  } catch (err) {
    return `cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`
  }
}

/** "SUBJECT: words" when the check finds a problem. */
export function problemOf<T> (subject: string, value: T, check: Check<T>, shown?: string): string | undefined {
  const words = check(value, shown)
  return words === undefined ? undefined : `${subject}: ${words}`
}

/** Refuses a plugin's registration with every problem of its options at once. */
export function assertOptions (plugin: string, problems: Array<string | undefined>): void {
  const found = problems.filter((p): p is string => p !== undefined)
  if (found.length > 0) throw new PluginOptionsError(plugin, found.join('; '))
}
