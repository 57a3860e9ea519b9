import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { demoBackend } from '../demo/cluster.ts'
import { startServer } from './helpers/server.ts'

// The official MCP conformance suite against the real server. Its protocol scenarios must
// pass; test/conformance-baseline.yml lists only the scenarios that need the reference
// server's fixture tools. The suite exits non-zero on an unexpected failure and on a stale
// baseline entry (a listed scenario that now passes).

const CLI = fileURLToPath(new URL('../node_modules/.bin/conformance', import.meta.url))
const BASELINE = fileURLToPath(new URL('./conformance-baseline.yml', import.meta.url))

async function conformance (args: string[]): Promise<{ code: number, output: string }> {
  return await new Promise((resolve) => {
    execFile(CLI, ['server', ...args, '--expected-failures', BASELINE], { timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, output: stdout + stderr })
    })
  })
}

t.test('official conformance suite', async (t) => {
  const server = await startServer([], { backend: demoBackend() })
  t.teardown(server.close)
  const url = `${server.base}/mcp`
  const runs: Array<[string, string[], RegExp[]]> = [
    ['2025-era active suite', [], [/server-initialize: \d+ passed, 0 failed/, /ping: \d+ passed, 0 failed/, /tools-list: \d+ passed, 0 failed/, /resources-list: \d+ passed, 0 failed/, /prompts-list: \d+ passed, 0 failed/, /completion-complete: \d+ passed, 0 failed/, /dns-rebinding-protection: \d+ passed, 0 failed/]],
    ['2026-07-28 active suite', ['--spec-version', '2026-07-28'], [/tools-list: \d+ passed, 0 failed/, /completion-complete: \d+ passed, 0 failed/, /dns-rebinding-protection: \d+ passed, 0 failed/]],
    ['stateless operation', ['--scenario', 'server-stateless'], [/Passed: 24\/28/]],
    ['HTTP header validation', ['--scenario', 'http-header-validation'], [/Passed: (\d+)\/\1, 0 failed/]],
    ['caching hints', ['--scenario', 'caching'], [/Passed: (\d+)\/\1, 0 failed/]]
  ]
  for (const [name, args, expected] of runs) {
    const { code, output } = await conformance(['--url', url, ...args])
    t.equal(code, 0, `${name}: no failure outside the baseline`, { output: code === 0 ? undefined : output.slice(-3000) })
    for (const pattern of expected) t.match(output, pattern, `${name}: ${pattern}`)
  }
})
