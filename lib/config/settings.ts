import { Type, type Static, type TSchema } from 'typebox'
import { asymmetricAlgorithm, hostPort, hostPortUrl, httpUrl, port, positive, readableFile, type Check } from './checks.ts'
import { DEFAULT_GROUP_MIRROR_MAX_KEYS } from '../store/group-mirror.ts'
import { DEFAULT_LAG_WINDOW_COMMITS, DEFAULT_LAG_WINDOW_SPAN_MS } from '../lag-history.ts'

// Every setting of the service, once: its flag (the property name), environment variable (the
// reference's names keep their meaning), type, default and help. --help, the parsing of flags and
// environment, the defaults and the per-setting checks are all read from this schema.
//
// Schema options beyond JSON Schema's own (description, default, minimum):
//   env        the environment variable
//   goDuration a Go duration such as 500ms or 1m30s, held in milliseconds
//   check      the name of a rule in CHECKS (for a list, on its items)

/** "host:port" or ":port", port 0–65535, IPv6 hosts in brackets. */
export function parseListenAddress (addr: string): { host: string, port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(addr.trim())
  if (m === null) return undefined
  const port = Number(m[2])
  if (port > 65535) return undefined
  const host = m[1] === '' ? '0.0.0.0' : m[1]!.replace(/^\[(.*)\]$/, '$1')
  return { host, port }
}

/** One entry of --broker-metrics-urls: NODEID=URL. */
export function parseBrokerUrlEntry (entry: string): [nodeId: number, url: string] | undefined {
  const m = /^(\d+)=(.*)$/.exec(entry)
  return m === null || httpUrl(m[2]!) !== undefined ? undefined : [Number(m[1]), m[2]!]
}

/** One entry of --broker-control-addrs: NODEID=host:port. */
export function parseBrokerAddrEntry (entry: string): [nodeId: number, address: string] | undefined {
  const m = /^(\d+)=(.*)$/.exec(entry)
  return m === null || hostPort(m[2]!) !== undefined ? undefined : [Number(m[1]), m[2]!]
}

export const CHECKS = {
  httpUrl,
  hostPortUrl,
  asymmetricAlgorithm,
  positive,
  readableFile,
  hostPort,
  listenAddress: ((addr, shown = JSON.stringify(addr)) => parseListenAddress(addr) === undefined ? `${shown} is not host:port or :port with a port from 0 to 65535` : undefined) satisfies Check<string>,
  brokerUrlEntry: ((entry, shown = JSON.stringify(entry)) => parseBrokerUrlEntry(entry) === undefined ? `${shown} is not NODEID=http(s)://…` : undefined) satisfies Check<string>,
  brokerAddrEntry: ((entry, shown = JSON.stringify(entry)) => parseBrokerAddrEntry(entry) === undefined ? `${shown} is not NODEID=host:port with a port from 1 to 65535` : undefined) satisfies Check<string>,
  port
}
type CheckName = keyof typeof CHECKS

// An alias, not an interface: TypeBox takes options with an index signature.
type Meta = { env: string, description: string }

const text = (meta: Meta & { check?: CheckName }) => Type.Optional(Type.String(meta))
const textWithDefault = (meta: Meta & { default: string }) => Type.String(meta)
const flag = (meta: Meta) => Type.Boolean({ ...meta, default: false })
const list = (meta: Meta & { default?: string[] }, check?: CheckName) => Type.Array(Type.String(check !== undefined ? { check } : {}), { default: [], ...meta })
const count = (meta: Meta & { default: number, minimum?: number, check?: CheckName }) => Type.Integer({ minimum: 0, ...meta })
const duration = (meta: Meta & { default: number, check?: CheckName }) => Type.Integer({ ...meta, goDuration: true })
const oneOf = <const T extends string[]>(values: readonly [...T], meta: Meta & { default: T[number] }) => Type.Enum(values, meta)
const optionalOneOf = <const T extends string[]>(values: readonly [...T], meta: Meta) => Type.Optional(Type.Enum(values, meta))

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export const SETTINGS = Type.Object({
  'http-addr': text({ env: 'KAFSCALE_MCP_HTTP_ADDR', description: 'listen address, host:port or :port (default ":8090", all interfaces; "127.0.0.1:8090" with --demo)', check: 'listenAddress' }),
  'auth-mode': optionalOneOf(['oidc', 'static', 'none'], { env: 'KAFSCALE_MCP_AUTH_MODE', description: 'oidc, static or none (default: static when a token is set, oidc when an issuer is set, else none)' }),
  'auth-token': text({ env: 'KAFSCALE_MCP_AUTH_TOKEN', description: 'static bearer token (static mode; read-only, refused in prod unless allowed)' }),
  'auth-token-file': text({ env: 'KAFSCALE_MCP_AUTH_TOKEN_FILE', description: 'file holding the static token, re-read when it changes' }),
  'allow-static-token-in-prod': flag({ env: 'KAFSCALE_MCP_ALLOW_STATIC_TOKEN_IN_PROD', description: 'accept a static token when KAFSCALE_ENV=prod' }),
  'insecure-no-auth': flag({ env: 'KAFSCALE_MCP_INSECURE_NO_AUTH', description: 'serve without authentication on a non-loopback address (dangerous)' }),
  'oidc-issuer': text({ env: 'KAFSCALE_MCP_OIDC_ISSUER', description: 'OIDC issuer URL; its discovery document gives the JWKS', check: 'httpUrl' }),
  'oidc-jwks-url': text({ env: 'KAFSCALE_MCP_OIDC_JWKS_URL', description: 'explicit JWKS URL instead of discovery', check: 'httpUrl' }),
  'oidc-audience': text({ env: 'KAFSCALE_MCP_OIDC_AUDIENCE', description: 'required token audience (default: the resource URL)' }),
  'resource-url': text({ env: 'KAFSCALE_MCP_RESOURCE_URL', description: 'public URL of /mcp, e.g. https://mcp.example.com/mcp (OIDC mode)', check: 'httpUrl' }),
  'oidc-groups-claim': textWithDefault({ env: 'KAFSCALE_MCP_OIDC_GROUPS_CLAIM', description: 'claim holding groups or roles', default: 'groups' }),
  'oidc-algorithms': list({ env: 'KAFSCALE_MCP_OIDC_ALGORITHMS', description: 'accepted signature algorithms, asymmetric only', default: ['RS256', 'ES256', 'PS256', 'EdDSA'] }, 'asymmetricAlgorithm'),
  'oidc-clock-skew': duration({ env: 'KAFSCALE_MCP_OIDC_CLOCK_SKEW', description: 'allowed clock skew', default: 30_000 }),
  'oidc-max-token-lifetime': duration({ env: 'KAFSCALE_MCP_OIDC_MAX_TOKEN_LIFETIME', description: 'refuse tokens whose exp - iat is longer', default: 3_600_000, check: 'positive' }),
  'oidc-jwks-cache-ttl': duration({ env: 'KAFSCALE_MCP_OIDC_JWKS_CACHE_TTL', description: 'how long fetched keys are trusted', default: 600_000 }),
  'policy-file': text({ env: 'KAFSCALE_MCP_POLICY_FILE', description: 'RBAC policy, YAML or JSON, reloaded on change (default: everyone authenticated may observe)' }),
  'audit-stdout': flag({ env: 'KAFSCALE_MCP_AUDIT_STDOUT', description: 'write one audit record per tool call to stdout' }),
  'audit-file': text({ env: 'KAFSCALE_MCP_AUDIT_FILE', description: 'append hash-chained audit records to this file' }),
  'audit-hmac-key-file': text({ env: 'KAFSCALE_MCP_AUDIT_HMAC_KEY_FILE', description: 'file holding a secret key (32+ bytes) that seals the audit chain with HMAC-SHA256, so a rewrite is detectable' }),
  'audit-checkpoint': text({ env: 'KAFSCALE_MCP_AUDIT_CHECKPOINT', description: 'where the audit file\'s checkpoint (record count, head hash) is kept (default: the file + .checkpoint)' }),
  'audit-reads': oneOf(['open', 'closed'], { env: 'KAFSCALE_MCP_AUDIT_READS', description: 'open (answer reads when the audit log fails) or closed (withhold them)', default: 'open' }),
  'rate-limit': count({ env: 'KAFSCALE_MCP_RATE_LIMIT', description: 'requests per caller per window, 0 = off', default: 300 }),
  'rate-limit-window': duration({ env: 'KAFSCALE_MCP_RATE_LIMIT_WINDOW', description: 'rate limit window', default: 60_000, check: 'positive' }),
  'max-concurrent': count({ env: 'KAFSCALE_MCP_MAX_CONCURRENT', description: 'requests in flight per caller, open streams not counted, 0 = off', default: 16 }),
  'max-streams': count({ env: 'KAFSCALE_MCP_MAX_STREAMS', description: 'open SSE sessions and subscriptions per caller, 0 = off', default: 16 }),
  'max-streams-total': count({ env: 'KAFSCALE_MCP_MAX_STREAMS_TOTAL', description: 'open SSE sessions and subscriptions in all, 0 = off', default: 1000 }),
  'etcd-endpoints': list({ env: 'KAFSCALE_MCP_ETCD_ENDPOINTS', description: 'comma-separated etcd URLs, e.g. http://etcd:2379' }, 'hostPortUrl'),
  'etcd-username': text({ env: 'KAFSCALE_MCP_ETCD_USERNAME', description: 'etcd user' }),
  'etcd-password': text({ env: 'KAFSCALE_MCP_ETCD_PASSWORD', description: 'etcd password' }),
  'etcd-timeout': duration({ env: 'KAFSCALE_MCP_ETCD_TIMEOUT', description: 'deadline of each etcd request', default: 2000, check: 'positive' }),
  'etcd-ca-file': text({ env: 'KAFSCALE_MCP_ETCD_CA_FILE', description: 'PEM CA bundle that signed etcd\'s certificate (https:// endpoints; default: the system\'s roots)', check: 'readableFile' }),
  'etcd-cert-file': text({ env: 'KAFSCALE_MCP_ETCD_CERT_FILE', description: 'PEM client certificate for etcd\'s --client-cert-auth (with --etcd-key-file)', check: 'readableFile' }),
  'etcd-key-file': text({ env: 'KAFSCALE_MCP_ETCD_KEY_FILE', description: 'PEM private key of the client certificate', check: 'readableFile' }),
  'group-mirror-max-keys': count({ env: 'KAFSCALE_MCP_GROUP_MIRROR_MAX_KEYS', description: 'answer group reads from memory kept current by an etcd watch while /kafscale/consumers/ holds at most this many keys (about 400 bytes each); 0 = always read etcd', default: DEFAULT_GROUP_MIRROR_MAX_KEYS }),
  'lag-window-commits': count({ env: 'KAFSCALE_MCP_LAG_WINDOW_COMMITS', description: 'commits kept per group and partition to judge consumer lag by (consumer_lag status, rates)', default: DEFAULT_LAG_WINDOW_COMMITS, minimum: 2 }),
  'lag-window-span': duration({ env: 'KAFSCALE_MCP_LAG_WINDOW_SPAN', description: 'the oldest commit kept is at most this much older than the newest', default: DEFAULT_LAG_WINDOW_SPAN_MS, check: 'positive' }),
  'lag-sample-interval': duration({ env: 'KAFSCALE_MCP_LAG_SAMPLE_INTERVAL', description: 'while consumer lag is read (the last 5 min) or a group resource is subscribed to, read the log ends of the topics groups commit on (and, without the group mirror, every commit) this often; 0 = only when read', default: 30_000 }),
  'etcd-allow-insecure-password': flag({ env: 'KAFSCALE_MCP_ETCD_ALLOW_INSECURE_PASSWORD', description: 'send the etcd password over plain http:// to a non-loopback host (dangerous)' }),
  'broker-metrics-url': text({ env: 'KAFSCALE_MCP_BROKER_METRICS_URL', description: 'a broker\'s Prometheus URL, e.g. http://kafscale-broker:9093/metrics', check: 'httpUrl' }),
  'broker-metrics-urls': list({ env: 'KAFSCALE_MCP_BROKER_METRICS_URLS', description: 'explicit per-broker URLs, NODEID=URL comma-separated (default: derived from each broker\'s host)' }, 'brokerUrlEntry'),
  'operator-metrics-url': text({ env: 'KAFSCALE_MCP_OPERATOR_METRICS_URL', description: 'the KafScale operator\'s metrics URL, for etcd snapshot staleness in cluster_health', check: 'httpUrl' }),
  'metrics-timeout': duration({ env: 'KAFSCALE_MCP_METRICS_TIMEOUT', description: 'deadline of a metrics scrape', default: 3000, check: 'positive' }),
  'metrics-cache-ttl': duration({ env: 'KAFSCALE_MCP_METRICS_CACHE_TTL', description: 'how long one scrape answers all callers', default: 2000 }),
  'broker-control-port': count({ env: 'KAFSCALE_MCP_BROKER_CONTROL_PORT', description: 'the brokers\' gRPC control-plane port, dialled on each broker\'s snapshot host; 0 = only the explicit addresses', default: 19094, check: 'port' }),
  'broker-control-addrs': list({ env: 'KAFSCALE_MCP_BROKER_CONTROL_ADDRS', description: 'explicit per-broker control-plane addresses, NODEID=host:port comma-separated (default: each broker\'s host and the control port)' }, 'brokerAddrEntry'),
  'broker-control-timeout': duration({ env: 'KAFSCALE_MCP_BROKER_CONTROL_TIMEOUT', description: 'deadline of a control-plane call (a drain adds the deadline it gives the broker)', default: 3000, check: 'positive' }),
  'session-timeout': duration({ env: 'KAFSCALE_MCP_SESSION_TIMEOUT', description: 'accepted for compatibility; the service is stateless', default: 0 }),
  mutations: flag({ env: 'KAFSCALE_MCP_MUTATIONS', description: 'register the mutation tools (create/delete topics, partitions, configs, groups, broker control); needs OIDC auth and an audit sink' }),
  'kafka-bootstrap': list({ env: 'KAFSCALE_MCP_KAFKA_BOOTSTRAP', description: 'host:port of brokers for the Kafka admin API (default: every broker of the etcd snapshot)' }, 'hostPort'),
  'kafka-client-id': textWithDefault({ env: 'KAFSCALE_MCP_KAFKA_CLIENT_ID', description: 'the admin client\'s Kafka client.id, the principal KafScale\'s ACLs see (give it admin on cluster)', default: 'kafscale-mcp' }),
  'kafka-flavor': oneOf(['auto', 'kafscale', 'kafka'], { env: 'KAFSCALE_MCP_KAFKA_FLAVOR', description: 'which broker rules plans follow: auto (KafScale when the broker lacks IncrementalAlterConfigs), kafscale or kafka', default: 'auto' }),
  'kafka-timeout': duration({ env: 'KAFSCALE_MCP_KAFKA_TIMEOUT', description: 'deadline of each Kafka admin request', default: 10_000, check: 'positive' }),
  'plan-key-file': text({ env: 'KAFSCALE_MCP_PLAN_KEY_FILE', description: 'file holding the secret key (32+ bytes) that seals plan tokens and approvals, the same on every replica (default: a random key per process)', check: 'readableFile' }),
  'plan-ttl': duration({ env: 'KAFSCALE_MCP_PLAN_TTL', description: 'how long a plan token (and its approval) can be applied', default: 600_000, check: 'positive' }),
  'confirm-tools': list({ env: 'KAFSCALE_MCP_CONFIRM_TOOLS', description: 'mutation tools whose applies need a human\'s yes (the client\'s user, or an approval); "none" for none', default: ['delete_topic', 'delete_group', 'drain_partitions'] }),
  'approval-tools': list({ env: 'KAFSCALE_MCP_APPROVAL_TOOLS', description: 'mutation tools whose applies need a second principal\'s approval (or break-glass) outside prod too; in prod every apply does' }),
  env: textWithDefault({ env: 'KAFSCALE_ENV', description: 'environment name, e.g. dev, staging, prod', default: '' }),
  'allowed-hosts': list({ env: 'KAFSCALE_MCP_ALLOWED_HOSTS', description: 'comma-separated Host names accepted on /mcp, /sse, /messages and /api (default: localhost names when listening on loopback, else any)' }),
  'allowed-origins': list({ env: 'KAFSCALE_MCP_ALLOWED_ORIGINS', description: 'comma-separated browser Origin hostnames accepted on /mcp, /sse, /messages and /api besides localhost' }),
  plugins: list({ env: 'KAFSCALE_MCP_PLUGINS', description: 'comma-separated module paths or package names of extra tool plugins' }),
  'max-response-chars': count({ env: 'KAFSCALE_MCP_MAX_RESPONSE_CHARS', description: 'size cap of one tool answer in characters; longer lists are paged', default: 50_000, minimum: 1000 }),
  'body-limit': count({ env: 'KAFSCALE_MCP_BODY_LIMIT', description: 'largest request body in bytes', default: 4 * 1024 * 1024, minimum: 1024 }),
  'log-level': oneOf(LOG_LEVELS, { env: 'KAFSCALE_MCP_LOG_LEVEL', description: 'fatal, error, warn, info, debug or trace', default: 'info' }),
  demo: flag({ env: 'KAFSCALE_MCP_DEMO', description: 'serve the embedded demo cluster (no etcd needed) on 127.0.0.1' }),
  stdio: flag({ env: 'KAFSCALE_MCP_STDIO', description: 'serve MCP over stdin/stdout for a client that starts this process (no HTTP, no auth)' })
})

/** The settings as read, before the loader derives the service's Config from them. */
export type Settings = Static<typeof SETTINGS>
export type SettingName = keyof typeof SETTINGS.properties

/** The schema of one setting with the options this module adds. */
export interface SettingSchema {
  type?: string
  env: string
  description: string
  default?: unknown
  minimum?: number
  goDuration?: true
  check?: CheckName
  items?: { check?: CheckName }
  enum?: string[]
}

export function settingSchema (name: SettingName): SettingSchema {
  return (SETTINGS.properties as Record<SettingName, TSchema>)[name] as unknown as SettingSchema
}

export const SETTING_NAMES = Object.keys(SETTINGS.properties) as SettingName[]

/** "KAFSCALE_MCP_HTTP_ADDR (--http-addr)": how problems name a setting. */
export function settingLabel (name: SettingName): string {
  return `${settingSchema(name).env} (--${name})`
}
