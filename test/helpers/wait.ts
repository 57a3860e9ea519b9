import { readFileSync } from 'node:fs'

/** Polls until the predicate holds or the bound passes: for state that settles, never a timing assertion. */
export async function eventually (predicate: () => Promise<boolean>, ms = 30_000, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await predicate()) return true
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
  return false
}

/**
 * Sends SIGSTOP and returns once the kernel reports the process stopped: kill() only queues the
 * signal, and a process running on the other core can still answer a request meanwhile.
 */
export function freeze (child: { pid?: number, kill: (signal: NodeJS.Signals) => boolean }): void {
  child.kill('SIGSTOP')
  if (child.pid === undefined) return
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (let i = 0; i < 1000; i++) {
    // /proc/PID/stat: "pid (comm) S …"; T is stopped. comm may hold spaces, so read after the last ")".
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8')
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T') return
    Atomics.wait(pause, 0, 0, 1)
  }
}
