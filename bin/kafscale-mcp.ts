#!/usr/bin/env -S node --max-semi-space-size=4 --optimize-for-size
// --max-semi-space-size: parsing a large snapshot grows V8's young generation to ~120 MB and
// RSS never gives it back; 4 MB semi-spaces keep a 100,000-partition cluster near 210 MB RSS.
// --optimize-for-size: after a burst of large requests (megabyte bodies that are parsed and
// refused) V8 otherwise keeps ~100 MB of grown old space while idle; with it RSS comes back to
// within ~15 MB (the fuzz test checks +50 MB). It costs CPU: a small MCP call takes ~1.4-2x the
// server CPU with it (the SDK's per-request setup slows most), but without it 200 clients calling
// describe_group for 15 s grew RSS by ~190 MB for good (issue 12's measurements).
import { userInfo } from 'node:os'
import { runAuditCommand } from '../lib/audit-command.ts'
import { allClientConfigs } from '../lib/client-config.ts'
import { listenUrl, runPrintConfig, stdioCommand } from '../lib/print-config-command.ts'
import { loadConfig, usage, type Config } from '../lib/config.ts'
import { REVISION, VERSION } from '../lib/version.ts'

const argv = process.argv.slice(2)
if (argv[0] === 'audit') process.exit(runAuditCommand(argv.slice(1), process.env))
if (argv[0] === 'print-config') process.exit(runPrintConfig(argv.slice(1), process.env))
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(usage())
  process.exit(0)
}
if (argv.includes('--version')) {
  console.log(`${VERSION} (${REVISION})`)
  process.exit(0)
}

let config: Config
try {
  config = loadConfig(argv, process.env)
} catch (err) {
  console.error(`kafscale-mcp: ${(err as Error).message}\nRun kafscale-mcp --help for the options.`)
  process.exit(2)
}

// The service's modules load only now: --help, --version and a bad setting answer at once (a
// desktop client's first look, a shell's tab completion) without loading Fastify, the SDK and etcd.
const [{ serveStdio }, { buildApp }, { buildMcpServer }, { liveUpdatesOf }, { demoBackend, startDemoBrokerMetrics }] = await Promise.all([
  import('@modelcontextprotocol/server/stdio'),
  import('../app.ts'),
  import('../transports/mcp-server.ts'),
  import('../transports/live-updates.ts'),
  import('../demo/cluster.ts')
])

const demoMetrics = config.demo && config.brokerMetricsUrl === undefined ? await startDemoBrokerMetrics() : undefined
if (demoMetrics !== undefined) {
  config.brokerMetricsUrls = demoMetrics.urls
  config.brokerMetricsUrl = demoMetrics.urls[0]
}
let app: Awaited<ReturnType<typeof buildApp>>
try {
  app = await buildApp(config, config.demo ? { backend: demoBackend() } : {})
} catch (err) {
  // A plugin refusing its options (a bad policy or key file, an unloadable tool plugin) is a
  // configuration problem like a bad flag: one line that says what, not a stack trace.
  console.error(`kafscale-mcp: ${(err as Error).message}`)
  demoMetrics?.close()
  process.exit(2)
}

if (config.stdio) {
  // A client that starts this process is the local user: no token, the policy still applies.
  const user = userInfo().username
  const caller = { principal: { id: `local:${user}`, method: 'none' as const, subject: user, groups: [], claims: {} }, transport: 'stdio' as const, requestId: 'stdio' }
  await app.ready()
  const live = liveUpdatesOf(app)
  const connection = serveStdio(({ era }) => buildMcpServer(app.tools, app.kafscaleStore, VERSION, caller, { era, session: true, ...(live !== undefined ? { live } : {}) }), { onerror: (err) => { app.log.warn({ err: err.message }, 'stdio') } })
  process.stdin.once('end', () => {
    void connection.close().then(async () => { await app.close() }).then(() => { demoMetrics?.close(); process.exit(0) })
  })
} else {
  await serveHttp()
}

const SHUTDOWN_GRACE_MS = 1000
const SHUTDOWN_DEADLINE_MS = 10_000

async function serveHttp (): Promise<void> {
  let closing = false
  // `on`, not `once`: a second signal (Ctrl-C reaches the launcher's child from the terminal and
  // again from the launcher) must not kill the process mid-shutdown with Node's default handler.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (closing) return
      closing = true
      app.log.info({ signal }, 'shutting down')
      // Streams are closed by the MCP plugin's preClose hook and idle sockets by Fastify. A
      // half-open connection (headers never finished) counts as busy to Node and would hold
      // the close until its headers timeout: after a short grace for answers in flight, every
      // remaining connection is cut. The last resort, should a close hook hang, is exit 1.
      setTimeout(() => { app.server.closeAllConnections() }, SHUTDOWN_GRACE_MS).unref()
      setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref()
      void app.close().then(() => { demoMetrics?.close(); process.exit(0) })
    })
  }

  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the port is in use by another process' : (err as Error).message
    console.error(`kafscale-mcp: cannot listen on ${config.host}:${config.port}: ${reason}\nChoose another address with --http-addr HOST:PORT (or KAFSCALE_MCP_HTTP_ADDR).`)
    process.exit(1)
  }

  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const url = config.resourceUrl ?? listenUrl(config.host, port)
  if (!config.demo) {
    app.log.info({ url }, 'serving MCP; `kafscale-mcp print-config` with these settings prints client configurations')
    return
  }
  const header = config.authMode === 'none' ? '' : ' -H "Authorization: Bearer $KAFSCALE_MCP_TOKEN"'
  console.log([
    '',
    `kafscale-mcp ${VERSION} is serving the demo cluster "kafscale-demo" at ${url}`,
    '',
    allClientConfigs({ url, auth: config.authMode, scopes: app.policy.scopesSupported(), stdio: stdioCommand([{ name: 'demo', value: undefined }], {}) }),
    '',
    `REST: curl -s -X POST ${url.replace(/\/mcp$/, '/api/v1/tools/list_topics')} -H 'content-type: application/json'${header} -d '{}'`,
    'One client only: kafscale-mcp print-config --demo --client claude|cursor|vscode|inspector|stdio (with the same token settings).',
    ''
  ].join('\n'))
}
