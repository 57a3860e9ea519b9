import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PolicyStore } from './auth/policy.ts'
import { allClientConfigs, clientConfig, CLIENTS, type ClientName, type ServerAccess } from './client-config.ts'
import { loadConfig, type Config } from './config.ts'
import { SETTING_NAMES, settingSchema, type SettingName } from './config/settings.ts'

// `kafscale-mcp print-config`: the client configurations for a server run with these same settings
// (flags and environment), so that in the server's container or next to `npm run demo` it needs
// nothing else.

export const PRINT_CONFIG_USAGE = `Usage: kafscale-mcp print-config [--client ${CLIENTS.join('|')}] [server options]

Prints ready-to-paste client configurations for a kafscale-mcp server started with the same
options and environment: its URL (--resource-url, else --http-addr), the Authorization header when
a static token is set (as a variable the client resolves, never the token), the sign-in settings
with OIDC. With --client, only that client's configuration is printed on stdout (notes on stderr).
The stdio configuration runs the server itself, with the options given here that apply to stdio.

Examples:
  kafscale-mcp print-config --demo
  KAFSCALE_MCP_AUTH_TOKEN_FILE=/run/token kafscale-mcp print-config --client claude --resource-url https://mcp.example.com/mcp`

/** The launcher a client's "command": "node" runs: it finds a Node 24 when that node is older. */
const LAUNCHER = fileURLToPath(new URL('../bin/kafscale-mcp.js', import.meta.url))

// Settings of the HTTP server only: a stdio server has no listener, no token and no per-caller
// limits (its one caller is the local user), and refuses --audit-stdout and --mutations.
const HTTP_ONLY = new Set<SettingName>(SETTING_NAMES.filter((name) => /^(auth-|oidc-)/.test(name)))
for (const name of ['http-addr', 'resource-url', 'allow-static-token-in-prod', 'insecure-no-auth', 'allowed-hosts', 'allowed-origins', 'rate-limit', 'rate-limit-window', 'max-concurrent', 'max-streams', 'max-streams-total', 'body-limit', 'session-timeout', 'audit-stdout', 'mutations', 'stdio'] as const) HTTP_ONLY.add(name)
// Printed as a placeholder in the stdio configuration's env, never as given.
const SECRETS = new Set<SettingName>(['etcd-password'])

/** Runs `print-config ARGS…` and returns the exit status. */
export function runPrintConfig (args: string[], env: NodeJS.ProcessEnv): number {
  let parsed
  try {
    parsed = parseArgs({
      args,
      options: {
        client: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(SETTING_NAMES.map((name) => [name, { type: settingSchema(name).type === 'boolean' ? 'boolean' as const : 'string' as const }]))
      },
      strict: true,
      allowPositionals: false,
      tokens: true
    })
  } catch (err) {
    console.error(`kafscale-mcp print-config: ${(err as Error).message}\n\n${PRINT_CONFIG_USAGE}`)
    return 2
  }
  if (parsed.values.help === true) {
    console.log(PRINT_CONFIG_USAGE)
    return 0
  }
  const client = parsed.values.client as string | undefined
  if (client !== undefined && !(CLIENTS as readonly string[]).includes(client)) {
    console.error(`kafscale-mcp print-config: --client ${JSON.stringify(client)} is not ${CLIENTS.join(', ')}`)
    return 2
  }
  const flags = parsed.tokens.flatMap((token) => token.kind === 'option' && token.name !== 'client' ? [{ name: token.name as SettingName, value: token.value }] : [])
  const serverArgs = flags.flatMap(({ name, value }) => value === undefined ? [`--${name}`] : [`--${name}`, value])
  let config: Config
  try {
    config = loadConfig(serverArgs, env)
  } catch (err) {
    console.error(`kafscale-mcp print-config: these settings would not start the server, so there is nothing to connect to: ${(err as Error).message}\nGive print-config the options and environment the server runs with (e.g. --demo, or --http-addr 127.0.0.1:8090).`)
    return 2
  }
  const access: ServerAccess = {
    url: config.resourceUrl ?? listenUrl(config.host, config.port),
    auth: config.authMode,
    scopes: new PolicyStore(config.policyFile).scopesSupported(),
    stdio: stdioCommand(flags, env)
  }
  if (client === undefined) {
    console.log(allClientConfigs(access))
    if (config.resourceUrl === undefined && (config.host === '0.0.0.0' || config.host === '::')) console.error(`note: the server listens on every interface; from another machine use its name instead of ${new URL(access.url).hostname}, or set --resource-url.`)
    return 0
  }
  const chosen = clientConfig(client as ClientName, access)
  console.log(chosen.text)
  for (const note of chosen.notes) console.error(`note: ${note}`)
  return 0
}

/** The URL of /mcp for a server listening on host:port, as a client on this machine reaches it. */
export function listenUrl (host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}/mcp`
}

/**
 * How a client starts this server over stdio: the launcher with --stdio and the stdio-relevant
 * settings, flags as flags and environment variables in env, a secret as a placeholder.
 */
export function stdioCommand (flags: Array<{ name: SettingName, value: string | undefined }>, env: NodeJS.ProcessEnv): ServerAccess['stdio'] {
  const placeholder = (name: SettingName): string => `<${settingSchema(name).env}>`
  const kept = flags.filter(({ name }) => !HTTP_ONLY.has(name))
  const args = [LAUNCHER, '--stdio', ...kept.filter(({ name }) => !SECRETS.has(name)).flatMap(({ name, value }) => value === undefined ? [`--${name}`] : [`--${name}`, value])]
  const childEnv: Record<string, string> = {}
  for (const { name } of kept) if (SECRETS.has(name)) childEnv[settingSchema(name).env] = placeholder(name)
  for (const name of SETTING_NAMES) {
    const variable = settingSchema(name).env
    const value = env[variable]
    if (HTTP_ONLY.has(name) || value === undefined || value === '' || kept.some((flag) => flag.name === name)) continue
    childEnv[variable] = SECRETS.has(name) ? placeholder(name) : value
  }
  return { command: 'node', args, env: childEnv }
}
