// Client configurations for this server, in each client's own documented format, ready to paste.
// A secret never appears: a token is a reference the client resolves (an environment variable, a
// VS Code input), and a value the person must fill in is a <placeholder>.
//
// Formats, as documented (checked December 2026):
// - Claude Desktop runs remote servers through mcp-remote: claude_desktop_config.json
//   `{ "mcpServers": { name: { "command", "args", "env" } } }`, headers as
//   `--header "Authorization: Bearer ${VAR}"` with VAR in "env", expanded by mcp-remote; a plain
//   http:// URL other than localhost/127.0.0.1 needs `--allow-http`; an identity provider without
//   dynamic registration takes `--static-oauth-client-info '{"client_id":…}'` (`${VAR}` expanded
//   too), which pins the callback port (a port given after the URL: the redirect URI to register).
//   Source: mcp-remote 0.15.1 README ("Custom Headers", "Flags", "Static OAuth Client
//   Information"; node_modules/mcp-remote/README.md).
// - Cursor: ~/.cursor/mcp.json or .cursor/mcp.json, `{ "mcpServers": { name: { "url", "headers" } } }`,
//   with `${env:NAME}` interpolated in url and headers. Source: https://cursor.com/docs/mcp.
// - VS Code: .vscode/mcp.json, `{ "servers": { name: { "type": "http", "url", "headers" } },
//   "inputs": [{ "type": "promptString", "id", "description", "password": true }] }`, a secret as
//   `${input:id}` (asked once, kept in VS Code's secret storage). Source:
//   https://code.visualstudio.com/docs/copilot/reference/mcp-configuration.
// - MCP Inspector CLI: `npx @modelcontextprotocol/inspector --cli URL --transport http --method
//   tools/list --header "Name: value"` (--header since inspector PR #716; 0.15 has none). Source:
//   https://github.com/modelcontextprotocol/inspector (cli/README.md).
// - A local stdio server: `{ "command", "args", "env" }` in the same mcpServers map (Claude Desktop,
//   Cursor); the client starts the process and talks over its stdin/stdout.

export const CLIENTS = ['claude', 'cursor', 'vscode', 'inspector', 'stdio'] as const
export type ClientName = typeof CLIENTS[number]

/** The variable a client resolves to the token (static mode) or to an identity provider's token. */
export const TOKEN_VARIABLE = 'KAFSCALE_MCP_TOKEN'
/** The variable mcp-remote reads the pre-registered OAuth client id from (OIDC mode). */
export const CLIENT_ID_VARIABLE = 'KAFSCALE_MCP_CLIENT_ID'
/** VS Code's input id for the token. */
export const VSCODE_TOKEN_INPUT = 'kafscale-mcp-token'
/**
 * mcp-remote's OAuth callback port in OIDC mode. A pre-registered client names its redirect URI,
 * so the port is fixed rather than derived from the URL: the identity provider must allow
 * http://localhost:DESKTOP_CALLBACK_PORT/oauth/callback.
 */
export const DESKTOP_CALLBACK_PORT = 33418
export const DESKTOP_REDIRECT_URI = `http://localhost:${DESKTOP_CALLBACK_PORT}/oauth/callback`
const SERVER_NAME = 'kafscale'

/** What a client needs to reach this server. */
export interface ServerAccess {
  /** The URL of /mcp as clients reach it. */
  url: string
  auth: 'static' | 'oidc' | 'none'
  /** The scopes the identity provider must allow (OIDC mode). */
  scopes: string[]
  /** How a client that starts the server runs it over stdio. */
  stdio: { command: string, args: string[], env: Record<string, string> }
}

export interface ClientConfig {
  client: ClientName
  title: string
  /** Where it goes: a file, or a shell. */
  where: string
  /** What to paste: JSON for a configuration file, a command line for the Inspector. */
  text: string
  /** What to do besides pasting: set the token, register a client at the identity provider. */
  notes: string[]
}

export function clientConfig (client: ClientName, access: ServerAccess): ClientConfig {
  return RENDER[client](access)
}

/** Every client's configuration, for a person reading a terminal. */
export function allClientConfigs (access: ServerAccess): string {
  return CLIENTS.map((client) => {
    const config = clientConfig(client, access)
    return [`${config.title} (${config.where}):`, config.text, ...config.notes.map((note) => `  ${note}`)].join('\n')
  }).join('\n\n')
}

const json = (value: unknown): string => JSON.stringify(value, null, 2)
const tokenPlaceholder = (access: ServerAccess): string => access.auth === 'static' ? '<the server\'s token>' : '<an access token from the identity provider>'

function identityProviderNote (access: ServerAccess): string {
  return `Register a public client (no secret, PKCE S256) at the identity provider, with redirect URI ${DESKTOP_REDIRECT_URI}, scopes ${access.scopes.join(' ')} (and kafscale:break-glass for those who may break glass), issuing access tokens whose audience is ${access.url}; put its client id in env.${CLIENT_ID_VARIABLE}.`
}

const RENDER: Record<ClientName, (access: ServerAccess) => ClientConfig> = {
  claude: (access) => {
    const url = new URL(access.url)
    const plainHttp = url.protocol === 'http:' && url.hostname !== 'localhost' && url.hostname !== '127.0.0.1'
    const args = ['-y', 'mcp-remote', access.url, ...(plainHttp ? ['--allow-http'] : [])]
    const env: Record<string, string> = {}
    const notes: string[] = plainHttp && access.auth !== 'none' ? ['The token crosses the network in clear text over http://: serve the URL over TLS.'] : []
    if (access.auth === 'static') {
      args.push('--header', `Authorization: Bearer \${${TOKEN_VARIABLE}}`)
      env[TOKEN_VARIABLE] = tokenPlaceholder(access)
      notes.push(`Put the token in env.${TOKEN_VARIABLE}. On Windows, where the client splits arguments at spaces, use "Authorization:\${KAFSCALE_MCP_AUTH_HEADER}" with env.KAFSCALE_MCP_AUTH_HEADER "Bearer <token>" instead.`)
    } else if (access.auth === 'oidc') {
      args.splice(3, 0, String(DESKTOP_CALLBACK_PORT))
      args.push('--static-oauth-client-info', JSON.stringify({ client_id: `\${${CLIENT_ID_VARIABLE}}` }))
      env[CLIENT_ID_VARIABLE] = '<the client id registered at the identity provider>'
      notes.push(identityProviderNote(access), 'mcp-remote opens the sign-in page in a browser and keeps the tokens in ~/.mcp-auth.')
    }
    const server = { command: 'npx', args, ...(Object.keys(env).length > 0 ? { env } : {}) }
    return { client: 'claude', title: 'Claude Desktop, through mcp-remote', where: 'claude_desktop_config.json', text: json({ mcpServers: { [SERVER_NAME]: server } }), notes }
  },
  cursor: (access) => {
    const headers = access.auth === 'static' ? { headers: { Authorization: `Bearer \${env:${TOKEN_VARIABLE}}` } } : {}
    const notes = access.auth === 'static'
      ? [`Cursor reads ${TOKEN_VARIABLE} from the environment it was started in: export it there.`]
      : access.auth === 'oidc' ? ['Cursor signs in with OAuth itself; for an identity provider without dynamic client registration, use the Claude Desktop entry above in Cursor\'s mcp.json.'] : []
    return { client: 'cursor', title: 'Cursor', where: '~/.cursor/mcp.json or .cursor/mcp.json', text: json({ mcpServers: { [SERVER_NAME]: { url: access.url, ...headers } } }), notes }
  },
  vscode: (access) => {
    const server = { type: 'http', url: access.url, ...(access.auth === 'static' ? { headers: { Authorization: `Bearer \${input:${VSCODE_TOKEN_INPUT}}` } } : {}) }
    const inputs = access.auth === 'static' ? { inputs: [{ type: 'promptString', id: VSCODE_TOKEN_INPUT, description: 'kafscale-mcp token', password: true }] } : {}
    const notes = access.auth === 'static' ? ['VS Code asks for the token when the server first starts and keeps it in its secret storage.'] : access.auth === 'oidc' ? ['VS Code signs in with OAuth itself.'] : []
    return { client: 'vscode', title: 'VS Code', where: '.vscode/mcp.json', text: json({ ...inputs, servers: { [SERVER_NAME]: server } }), notes }
  },
  inspector: (access) => {
    const header = access.auth === 'none' ? '' : ` --header "Authorization: Bearer $${TOKEN_VARIABLE}"`
    const notes = access.auth === 'none' ? [] : [`Export ${TOKEN_VARIABLE}=${tokenPlaceholder(access)} first; Inspector 0.15's CLI has no --header: use a newer one.`]
    return { client: 'inspector', title: 'MCP Inspector CLI', where: 'a shell', text: `npx @modelcontextprotocol/inspector --cli ${access.url} --transport http --method tools/list${header}`, notes }
  },
  stdio: (access) => {
    const { command, args, env } = access.stdio
    const server = { command, args, ...(Object.keys(env).length > 0 ? { env } : {}) }
    return { client: 'stdio', title: 'A local process over stdio', where: 'the mcpServers of Claude Desktop or Cursor', text: json({ mcpServers: { [SERVER_NAME]: server } }), notes: ['The client starts the server itself: no HTTP and no token, the local user is the caller. Any Node 20 or newer runs it.'] }
  }
}
