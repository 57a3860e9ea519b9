import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { CLIENT_ID_VARIABLE, DESKTOP_CALLBACK_PORT, DESKTOP_REDIRECT_URI, TOKEN_VARIABLE } from '../lib/client-config.ts'
import { spawnServer } from './helpers/bin.ts'
import { mcpRemoteHome, ROOT, startConfiguredServer, type StdioServer } from './helpers/desktop.ts'
import { freePort } from './helpers/etcd.ts'
import { startIdp } from './helpers/idp.ts'

// mcp-remote 0.15.1, the bridge Claude Desktop reaches remote servers through: the real binary,
// its stdio side driven by an MCP client as Claude Desktop drives it, its HTTP side against the
// real server. The configurations are the ones `kafscale-mcp print-config` prints.

const MCP_REMOTE = join(ROOT, 'node_modules/.bin/mcp-remote')
const SEND_TOKEN = 'send `Authorization: Bearer <token>`'

/** The Claude Desktop entry print-config prints for a server run with these options. */
function claudeEntry (serverArgs: string[]): StdioServer {
  const text = execFileSync(process.execPath, [join(ROOT, 'bin/kafscale-mcp.ts'), 'print-config', '--client', 'claude', ...serverArgs], { encoding: 'utf8' })
  return (JSON.parse(text) as { mcpServers: { kafscale: StdioServer } }).mcpServers.kafscale
}

/**
 * The entry with the user's values in its env, run from the installed binary rather than through
 * `npx -y mcp-remote` (test/client-configs.test.ts runs the entry's own command).
 */
function viaInstalledBinary (entry: StdioServer, env: Record<string, string>): StdioServer {
  if (entry.command !== 'npx' || entry.args?.[0] !== '-y' || entry.args[1] !== 'mcp-remote') throw new Error(`not an npx -y mcp-remote entry: ${JSON.stringify(entry)}`)
  return { command: MCP_REMOTE, args: entry.args.slice(2), env: { ...entry.env, ...env } }
}

t.test('static token: the printed entry works with the token, and without it mcp-remote shows the server\'s instruction', async (t) => {
  const server = await spawnServer(['--demo', '--auth-token', 'static-token-for-mcp-remote', '--log-level', 'warn'])
  t.teardown(server.stop)
  const entry = claudeEntry(['--demo', '--http-addr', server.base.slice('http://'.length), '--auth-token', 'static-token-for-mcp-remote'])
  t.same(entry.env, { [TOKEN_VARIABLE]: '<the server\'s token>' }, 'the token is a placeholder, never the secret')
  t.ok(entry.args!.includes(`Authorization: Bearer \${${TOKEN_VARIABLE}}`), 'the header names the variable')

  const home = mcpRemoteHome()
  t.teardown(() => { rmSync(home, { recursive: true, force: true }) })
  const withToken = await startConfiguredServer(viaInstalledBinary(entry, { [TOKEN_VARIABLE]: 'static-token-for-mcp-remote', MCP_REMOTE_CONFIG_DIR: home }))
  t.teardown(withToken.close)
  const offsets = await withToken.client.callTool({ name: 'fetch_offsets', arguments: { group_id: 'billing' } })
  t.equal((offsets.structuredContent as { offsets: unknown[] }).offsets.length, 3)

  // Pasted as printed, the placeholder still in place: the server refuses it and mcp-remote,
  // assuming OAuth, tries to register a client: the answer is the server's own instruction.
  const error = await startConfiguredServer(viaInstalledBinary(entry, { MCP_REMOTE_CONFIG_DIR: home, [TOKEN_VARIABLE]: '<the server\'s token>' }))
    .then(async (started) => { await started.close(); return undefined }, (err: Error & { stderr: string }) => err)
  t.ok(error !== undefined, 'mcp-remote does not connect')
  const fatal = error!.stderr.split('\n').find((line) => line.includes('Fatal error')) ?? ''
  t.match(fatal, SEND_TOKEN, 'mcp-remote\'s last word carries the server\'s instruction', { stderr: error!.stderr.slice(-2000) })
  t.match(fatal, 'KSMCP_ERR_NO_OAUTH')
  t.notMatch(error!.stderr, 'Route POST:/register not found', 'not the bare 404 of a route that does not exist')
  t.notMatch(error!.stderr, 'static-token-for-mcp-remote', 'the token never reaches the log')
})

t.test('OIDC: a pre-registered desktop client signs in through the identity provider, and a token header works too', async (t) => {
  const port = await freePort()
  const resource = `http://127.0.0.1:${port}/mcp`
  const idp = await startIdp({
    clients: [{ client_id: 'kafscale-desktop', redirect_uris: [DESKTOP_REDIRECT_URI], scopes: ['kafscale:observe', 'kafscale:mutate', 'kafscale:break-glass'], audiences: [resource] }],
    user: { sub: 'alice' }
  })
  t.teardown(idp.close)
  const serverArgs = ['--demo', '--oidc-issuer', idp.issuer, '--resource-url', resource, '--log-level', 'warn']
  const server = await spawnServer(serverArgs, { port })
  t.teardown(server.stop)

  const metadata = await (await fetch(`${server.base}/.well-known/oauth-protected-resource/mcp`)).json() as { resource: string, authorization_servers: string[], scopes_supported: string[] }
  t.same(metadata, { resource, authorization_servers: [idp.issuer], scopes_supported: ['kafscale:observe', 'kafscale:mutate'], bearer_methods_supported: ['header'], resource_name: 'KafScale MCP' }, 'the protected-resource metadata names the issuer')

  const entry = claudeEntry(serverArgs)
  t.ok(entry.args!.includes(String(DESKTOP_CALLBACK_PORT)), 'the callback port is fixed: it is the redirect URI registered at the provider')
  t.same(entry.env, { [CLIENT_ID_VARIABLE]: '<the client id registered at the identity provider>' })
  const home = mcpRemoteHome()
  t.teardown(() => { rmSync(home, { recursive: true, force: true }) })
  // The user's browser: follow the sign-in link mcp-remote prints to the provider (which
  // approves at once) and the provider's redirect back to mcp-remote's callback.
  let signedIn: Promise<void> | undefined
  const browser = (log: string): void => {
    const link = /Please authorize this client by visiting:\s+(\S+)/.exec(log)?.[1]
    if (link === undefined || signedIn !== undefined) return
    signedIn = (async () => {
      const approval = await fetch(link, { redirect: 'manual' })
      t.equal(approval.status, 302, 'the provider accepts the sign-in request', { answer: approval.status === 302 ? '' : await approval.text() })
      const callback = await fetch(approval.headers.get('location')!)
      t.equal(callback.status, 200, 'mcp-remote takes the code')
    })()
  }
  const signedInClient = await startConfiguredServer(viaInstalledBinary(entry, { [CLIENT_ID_VARIABLE]: 'kafscale-desktop', MCP_REMOTE_CONFIG_DIR: home }), { onStderr: browser })
  t.teardown(signedInClient.close)
  await signedIn
  const status = await signedInClient.client.callTool({ name: 'cluster_status', arguments: {} })
  t.equal((status.structuredContent as { cluster_name: string }).cluster_name, 'kafscale-demo')
  await signedInClient.close()

  const now = Math.floor(Date.now() / 1000)
  const token = await idp.sign({ iss: idp.issuer, sub: 'ci-bot', aud: resource, scope: 'kafscale:observe', iat: now, exp: now + 300 })
  const withHeader = await startConfiguredServer({ command: MCP_REMOTE, args: [resource, '--header', `Authorization: Bearer \${${TOKEN_VARIABLE}}`], env: { [TOKEN_VARIABLE]: token, MCP_REMOTE_CONFIG_DIR: mcpRemoteHome() } })
  t.teardown(withHeader.close)
  const topics = await withHeader.client.callTool({ name: 'list_topics', arguments: {} })
  t.equal((topics.structuredContent as { topics: unknown[] }).topics.length, 6)
})
