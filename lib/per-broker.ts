import { isCodedError } from './errors.ts'

// Questions put to every broker at once (metrics scrapes, control-plane status): one broker's
// failure is that broker's answer, never the whole call's, so the others still count.

/**
 * A snapshot host without its port, as the console takes it (Go's net.SplitHostPort, falling
 * back to the text before the first colon); IPv6 stays in brackets, ready for ":port".
 */
export function bareHost (host: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host)
  return bracketed !== null ? `[${bracketed[1]}]` : host.includes(':') ? host.slice(0, host.indexOf(':')) : host
}

export interface BrokerError {
  code: string
  message: string
}

export interface BrokerOutcome<T> {
  target: T
  error?: BrokerError
}

/** `call` on every target in parallel; a target whose call throws gets `{ target, error }` instead. */
export async function eachBroker<T, R extends BrokerOutcome<T>> (targets: readonly T[], failureCode: string, call: (target: T) => Promise<R>): Promise<Array<R | { target: T, error: BrokerError }>> {
  return await Promise.all(targets.map(async (target) => {
    try {
      return await call(target)
    } catch (err) {
      return { target, error: { code: isCodedError(err) ? err.code : failureCode, message: (err as Error).message } }
    }
  }))
}
