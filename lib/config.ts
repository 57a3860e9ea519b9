import { accessSync, constants } from 'node:fs'
import { parseArgs } from 'node:util'
import { ConfigError } from './errors.ts'
import type { OidcOptions } from './auth/oidc.ts'
import type { EtcdTlsFiles } from './store/etcd-backend.ts'

export interface Config {
  host: string
  port: number
  authMode: 'oidc' | 'static' | 'none'
  authToken?: string
  authTokenFile?: string
  insecureNoAuth: boolean
  oidc?: Omit<OidcOptions, 'timeoutMs'>
  /** Public URL of /mcp, the OAuth resource identifier. */
  resourceUrl?: string
  policyFile?: string
  auditStdout: boolean
  auditFile?: string
  auditCheckpoint?: string
  auditHmacKeyFile?: string
  auditFailClosedForReads: boolean
  rateLimitMax: number
  rateLimitWindowMs: number
  maxConcurrent: number
  maxStreams: number
  maxStreamsTotal: number
  etcdEndpoints: string[]
  etcdUsername?: string
  etcdPassword?: string
  etcdTimeoutMs: number
  /** CA and client certificate for https:// etcd endpoints. */
  etcdTls?: EtcdTlsFiles
  brokerMetricsUrl?: string
  brokerMetricsUrls: Record<number, string>
  operatorMetricsUrl?: string
  metricsTimeoutMs: number
  metricsCacheTtlMs: number
  /** Accepted for compatibility with the reference; the service is stateless, so unused. */
  sessionTimeoutMs: number
  environment: string
  allowedHosts?: string[]
  allowedOrigins: string[]
  plugins: string[]
  bodyLimit: number
  maxResponseChars: number
  logLevel: string
  demo: boolean
  stdio: boolean
}

interface Setting {
  flag: string
  env?: string
  help: string
  boolean?: boolean
}

// Every setting is an environment variable (the reference's names keep their meaning) and a flag.
export const SETTINGS: Setting[] = [
  { flag: 'http-addr', env: 'KAFSCALE_MCP_HTTP_ADDR', help: 'listen address, host:port or :port (default ":8090", all interfaces)' },
  { flag: 'auth-mode', env: 'KAFSCALE_MCP_AUTH_MODE', help: 'oidc, static or none (default: static when a token is set, oidc when an issuer is set, else none)' },
  { flag: 'auth-token', env: 'KAFSCALE_MCP_AUTH_TOKEN', help: 'static bearer token (static mode; read-only, refused in prod unless allowed)' },
  { flag: 'auth-token-file', env: 'KAFSCALE_MCP_AUTH_TOKEN_FILE', help: 'file holding the static token, re-read when it changes' },
  { flag: 'allow-static-token-in-prod', env: 'KAFSCALE_MCP_ALLOW_STATIC_TOKEN_IN_PROD', help: 'accept a static token when KAFSCALE_ENV=prod', boolean: true },
  { flag: 'insecure-no-auth', env: 'KAFSCALE_MCP_INSECURE_NO_AUTH', help: 'serve without authentication on a non-loopback address (dangerous)', boolean: true },
  { flag: 'oidc-issuer', env: 'KAFSCALE_MCP_OIDC_ISSUER', help: 'OIDC issuer URL; its discovery document gives the JWKS' },
  { flag: 'oidc-jwks-url', env: 'KAFSCALE_MCP_OIDC_JWKS_URL', help: 'explicit JWKS URL instead of discovery' },
  { flag: 'oidc-audience', env: 'KAFSCALE_MCP_OIDC_AUDIENCE', help: 'required token audience (default: the resource URL)' },
  { flag: 'resource-url', env: 'KAFSCALE_MCP_RESOURCE_URL', help: 'public URL of /mcp, e.g. https://mcp.example.com/mcp (OIDC mode)' },
  { flag: 'oidc-groups-claim', env: 'KAFSCALE_MCP_OIDC_GROUPS_CLAIM', help: 'claim holding groups or roles (default groups)' },
  { flag: 'oidc-algorithms', env: 'KAFSCALE_MCP_OIDC_ALGORITHMS', help: 'accepted signature algorithms, asymmetric only (default RS256,ES256,PS256,EdDSA)' },
  { flag: 'oidc-clock-skew', env: 'KAFSCALE_MCP_OIDC_CLOCK_SKEW', help: 'allowed clock skew, Go duration (default 30s)' },
  { flag: 'oidc-max-token-lifetime', env: 'KAFSCALE_MCP_OIDC_MAX_TOKEN_LIFETIME', help: 'refuse tokens whose exp - iat is longer, Go duration (default 1h)' },
  { flag: 'oidc-jwks-cache-ttl', env: 'KAFSCALE_MCP_OIDC_JWKS_CACHE_TTL', help: 'how long fetched keys are trusted, Go duration (default 10m)' },
  { flag: 'policy-file', env: 'KAFSCALE_MCP_POLICY_FILE', help: 'RBAC policy, YAML or JSON, reloaded on change (default: everyone authenticated may observe)' },
  { flag: 'audit-stdout', env: 'KAFSCALE_MCP_AUDIT_STDOUT', help: 'write one audit record per tool call to stdout', boolean: true },
  { flag: 'audit-file', env: 'KAFSCALE_MCP_AUDIT_FILE', help: 'append hash-chained audit records to this file' },
  { flag: 'audit-hmac-key-file', env: 'KAFSCALE_MCP_AUDIT_HMAC_KEY_FILE', help: 'file holding a secret key (32+ bytes) that seals the audit chain with HMAC-SHA256, so a rewrite is detectable' },
  { flag: 'audit-checkpoint', env: 'KAFSCALE_MCP_AUDIT_CHECKPOINT', help: 'where the audit file\'s checkpoint (record count, head hash) is kept (default: the file + .checkpoint)' },
  { flag: 'audit-reads', env: 'KAFSCALE_MCP_AUDIT_READS', help: 'open (answer reads when the audit log fails) or closed (withhold them); default open' },
  { flag: 'rate-limit', env: 'KAFSCALE_MCP_RATE_LIMIT', help: 'requests per caller per window, 0 = off (default 300)' },
  { flag: 'rate-limit-window', env: 'KAFSCALE_MCP_RATE_LIMIT_WINDOW', help: 'rate limit window, Go duration (default 1m)' },
  { flag: 'max-concurrent', env: 'KAFSCALE_MCP_MAX_CONCURRENT', help: 'requests in flight per caller, open streams not counted, 0 = off (default 16)' },
  { flag: 'max-streams', env: 'KAFSCALE_MCP_MAX_STREAMS', help: 'open SSE sessions and subscriptions per caller, 0 = off (default 16)' },
  { flag: 'max-streams-total', env: 'KAFSCALE_MCP_MAX_STREAMS_TOTAL', help: 'open SSE sessions and subscriptions in all, 0 = off (default 1000)' },
  { flag: 'etcd-endpoints', env: 'KAFSCALE_MCP_ETCD_ENDPOINTS', help: 'comma-separated etcd URLs, e.g. http://etcd:2379' },
  { flag: 'etcd-username', env: 'KAFSCALE_MCP_ETCD_USERNAME', help: 'etcd user' },
  { flag: 'etcd-password', env: 'KAFSCALE_MCP_ETCD_PASSWORD', help: 'etcd password' },
  { flag: 'etcd-timeout', env: 'KAFSCALE_MCP_ETCD_TIMEOUT', help: 'deadline of each etcd request, Go duration (default 2s)' },
  { flag: 'etcd-ca-file', env: 'KAFSCALE_MCP_ETCD_CA_FILE', help: 'PEM CA bundle that signed etcd\'s certificate (https:// endpoints; default: the system\'s roots)' },
  { flag: 'etcd-cert-file', env: 'KAFSCALE_MCP_ETCD_CERT_FILE', help: 'PEM client certificate for etcd\'s --client-cert-auth (with --etcd-key-file)' },
  { flag: 'etcd-key-file', env: 'KAFSCALE_MCP_ETCD_KEY_FILE', help: 'PEM private key of the client certificate' },
  { flag: 'etcd-allow-insecure-password', env: 'KAFSCALE_MCP_ETCD_ALLOW_INSECURE_PASSWORD', help: 'send the etcd password over plain http:// to a non-loopback host (dangerous)', boolean: true },
  { flag: 'broker-metrics-url', env: 'KAFSCALE_MCP_BROKER_METRICS_URL', help: 'a broker\'s Prometheus URL, e.g. http://kafscale-broker:9093/metrics' },
  { flag: 'broker-metrics-urls', env: 'KAFSCALE_MCP_BROKER_METRICS_URLS', help: 'explicit per-broker URLs, NODEID=URL comma-separated (default: derived from each broker\'s host)' },
  { flag: 'operator-metrics-url', env: 'KAFSCALE_MCP_OPERATOR_METRICS_URL', help: 'the KafScale operator\'s metrics URL, for etcd snapshot staleness in cluster_health' },
  { flag: 'metrics-timeout', env: 'KAFSCALE_MCP_METRICS_TIMEOUT', help: 'deadline of a metrics scrape, Go duration (default 3s)' },
  { flag: 'metrics-cache-ttl', env: 'KAFSCALE_MCP_METRICS_CACHE_TTL', help: 'how long one scrape answers all callers, Go duration (default 2s)' },
  { flag: 'session-timeout', env: 'KAFSCALE_MCP_SESSION_TIMEOUT', help: 'accepted for compatibility; the service is stateless (Go duration)' },
  { flag: 'env', env: 'KAFSCALE_ENV', help: 'environment name, e.g. dev, staging, prod' },
  { flag: 'allowed-hosts', env: 'KAFSCALE_MCP_ALLOWED_HOSTS', help: 'comma-separated Host names accepted on /mcp, /sse, /messages and /api (default: localhost names when listening on loopback, else any)' },
  { flag: 'allowed-origins', env: 'KAFSCALE_MCP_ALLOWED_ORIGINS', help: 'comma-separated browser Origin hostnames accepted on /mcp, /sse, /messages and /api besides localhost' },
  { flag: 'plugins', env: 'KAFSCALE_MCP_PLUGINS', help: 'comma-separated module paths or package names of extra tool plugins' },
  { flag: 'max-response-chars', env: 'KAFSCALE_MCP_MAX_RESPONSE_CHARS', help: 'size cap of one tool answer in characters; longer lists are paged (default 50000)' },
  { flag: 'body-limit', env: 'KAFSCALE_MCP_BODY_LIMIT', help: 'largest request body in bytes (default 4194304)' },
  { flag: 'log-level', env: 'KAFSCALE_MCP_LOG_LEVEL', help: 'fatal, error, warn, info, debug or trace (default info)' },
  { flag: 'demo', help: 'serve the embedded demo cluster (no etcd needed) on 127.0.0.1', boolean: true },
  { flag: 'stdio', help: 'serve MCP over stdin/stdout for a client that starts this process (no HTTP, no auth)', boolean: true }
]

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]'])

export function isLoopback (host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.')
}

export function usage (): string {
  const lines = ['Usage: kafscale-mcp [options]', '', 'Serves KafScale cluster insight to MCP clients at /mcp and as REST at /api/v1/tools/<name>.', '', 'Options (each also an environment variable):']
  const options: Array<[string, string]> = SETTINGS.map((s) => [`--${s.flag}${s.boolean === true ? '' : ' VALUE'}`, s.help + (s.env !== undefined ? `  [${s.env}]` : '')])
  options.push(['--help', 'show this help'], ['--version', 'print the version'])
  // The help column starts after the longest option, so no option runs into its text.
  const width = Math.max(...options.map(([option]) => option.length)) + 2
  for (const [option, help] of options) lines.push(`  ${option.padEnd(width)}${help}`)
  lines.push('', 'Other commands:', '  kafscale-mcp audit verify [--audit-hmac-key-file KEY] [--audit-checkpoint FILE] AUDIT-FILE', '      check an audit file\'s chain and checkpoint (kafscale-mcp audit verify --help)')
  return lines.join('\n')
}

/** Reads flags over environment; every problem is reported at once, in words. */
export function loadConfig (argv: string[], env: NodeJS.ProcessEnv): Config {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(SETTINGS.map((s) => [s.flag, { type: s.boolean === true ? 'boolean' as const : 'string' as const }])),
    strict: true,
    allowPositionals: false
  })
  const problems: string[] = []
  const raw = (flag: string): string | undefined => {
    const setting = SETTINGS.find((s) => s.flag === flag)!
    const fromFlag = values[flag]
    if (typeof fromFlag === 'string') return fromFlag
    return setting.env !== undefined ? env[setting.env] : undefined
  }
  const name = (flag: string): string => {
    const s = SETTINGS.find((x) => x.flag === flag)!
    return s.env !== undefined ? `${s.env} (--${flag})` : `--${flag}`
  }
  const duration = (flag: string, fallback: number): number => {
    const text = raw(flag)
    if (text === undefined || text === '') return fallback
    const ms = parseGoDuration(text)
    if (ms === undefined) {
      problems.push(`${name(flag)}: ${JSON.stringify(text)} is not a duration such as 500ms, 2s or 1m30s`)
      return fallback
    }
    return ms
  }
  const list = (flag: string): string[] => (raw(flag) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  const optional = (flag: string): string | undefined => {
    const v = raw(flag)
    return v === undefined || v === '' ? undefined : v
  }
  const bool = (flag: string): boolean => {
    if (values[flag] === true) return true
    const setting = SETTINGS.find((x) => x.flag === flag)!
    const text = setting.env !== undefined ? env[setting.env] : undefined
    return text !== undefined && /^(1|true|yes)$/i.test(text)
  }
  const count = (flag: string, fallback: number): number => {
    const text = raw(flag)
    if (text === undefined || text === '') return fallback
    const n = Number(text)
    if (!Number.isInteger(n) || n < 0) problems.push(`${name(flag)}: ${JSON.stringify(text)} must be a whole number, 0 or more`)
    return Number.isInteger(n) && n >= 0 ? n : fallback
  }
  const readableFile = (flag: string): string | undefined => {
    const path = optional(flag)
    if (path === undefined) return undefined
    try {
      accessSync(path, constants.R_OK)
    } catch (err) {
      problems.push(`${name(flag)}: cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    return path
  }
  const etcdTlsFiles = (): EtcdTlsFiles | undefined => {
    const files: EtcdTlsFiles = {}
    const caFile = readableFile('etcd-ca-file')
    const certFile = readableFile('etcd-cert-file')
    const keyFile = readableFile('etcd-key-file')
    if ((certFile === undefined) !== (keyFile === undefined)) problems.push(`a client certificate needs both ${name('etcd-cert-file')} and ${name('etcd-key-file')}`)
    if (caFile !== undefined) files.caFile = caFile
    if (certFile !== undefined) files.certFile = certFile
    if (keyFile !== undefined) files.keyFile = keyFile
    return Object.keys(files).length > 0 ? files : undefined
  }
  const httpUrl = (flag: string): string | undefined => {
    const v = optional(flag)
    if (v !== undefined && !/^https?:\/\/\S+$/.test(v)) problems.push(`${name(flag)}: ${JSON.stringify(v)} is not an http(s) URL`)
    return v
  }

  const demo = values.demo === true
  const addr = raw('http-addr') ?? (demo ? '127.0.0.1:8090' : ':8090')
  const listen = parseListenAddress(addr)
  if (listen === undefined) problems.push(`${name('http-addr')}: ${JSON.stringify(addr)} is not host:port or :port with a port from 0 to 65535`)

  const etcdEndpoints = list('etcd-endpoints')
  for (const endpoint of etcdEndpoints) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) problems.push(`${name('etcd-endpoints')}: ${JSON.stringify(endpoint)} is not an http(s)://host:port URL`)
  }
  const etcdUsername = optional('etcd-username')
  const etcdPassword = raw('etcd-password')
  const etcdTls = etcdTlsFiles()
  const etcdSchemes = new Set(etcdEndpoints.map((endpoint) => endpoint.slice(0, endpoint.indexOf(':'))))
  // etcd3 uses one transport for every endpoint: TLS for all or for none.
  if (etcdSchemes.size > 1) problems.push(`${name('etcd-endpoints')}: mixes http:// and https:// endpoints: use one scheme for all`)
  if (etcdTls !== undefined && etcdSchemes.has('http')) problems.push(`${name('etcd-ca-file')}, ${name('etcd-cert-file')} and ${name('etcd-key-file')} are for https:// endpoints: use https:// in ${name('etcd-endpoints')}`)
  if (etcdUsername !== undefined && etcdPassword !== undefined && etcdPassword !== '' && !bool('etcd-allow-insecure-password')) {
    const exposed = etcdEndpoints.filter((endpoint) => endpoint.startsWith('http://') && !isLoopback(endpointHost(endpoint)))
    if (exposed.length > 0) problems.push(`refusing to send the etcd password in clear text over ${exposed.join(', ')}: use https:// endpoints (with ${name('etcd-ca-file')} for a private CA), or pass ${name('etcd-allow-insecure-password')}`)
  }
  const brokerMetricsUrl = optional('broker-metrics-url')
  if (brokerMetricsUrl !== undefined && !/^https?:\/\/\S+$/.test(brokerMetricsUrl)) {
    problems.push(`${name('broker-metrics-url')}: ${JSON.stringify(brokerMetricsUrl)} is not an http(s) URL`)
  }
  const perBrokerUrls: Record<number, string> = {}
  for (const entry of list('broker-metrics-urls')) {
    const m = /^(\d+)=(https?:\/\/\S+)$/.exec(entry)
    if (m === null) problems.push(`${name('broker-metrics-urls')}: ${JSON.stringify(entry)} is not NODEID=http(s)://…`)
    else perBrokerUrls[Number(m[1])] = m[2]!
  }
  if (demo && etcdEndpoints.length > 0) problems.push('--demo serves the embedded cluster and cannot be combined with etcd endpoints')

  const bodyLimitText = raw('body-limit')
  const bodyLimit = bodyLimitText === undefined || bodyLimitText === '' ? 4 * 1024 * 1024 : Number(bodyLimitText)
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1024) problems.push(`${name('body-limit')}: ${JSON.stringify(bodyLimitText)} must be a whole number of bytes, at least 1024`)

  const logLevel = raw('log-level') ?? 'info'
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) problems.push(`${name('log-level')}: ${JSON.stringify(logLevel)} is not a log level`)

  const authToken = optional('auth-token')
  const authTokenFile = optional('auth-token-file')
  const issuer = httpUrl('oidc-issuer')
  const resourceUrl = httpUrl('resource-url')
  const modeText = optional('auth-mode') ?? (authToken !== undefined || authTokenFile !== undefined ? 'static' : issuer !== undefined ? 'oidc' : 'none')
  if (!['oidc', 'static', 'none'].includes(modeText)) problems.push(`${name('auth-mode')}: ${JSON.stringify(modeText)} is not oidc, static or none`)
  const authMode = modeText as Config['authMode']
  const environment = raw('env') ?? ''
  const insecureNoAuth = bool('insecure-no-auth')
  // A bad address is reported above; the checks below then judge the address meant.
  const host = listen?.host ?? (demo ? '127.0.0.1' : '0.0.0.0')
  const stdio = values.stdio === true
  if (stdio && bool('audit-stdout')) problems.push('--stdio speaks MCP on stdout: send the audit to a file (--audit-file) instead of --audit-stdout')
  if (authMode === 'none' && listen !== undefined && !isLoopback(host) && !insecureNoAuth && !stdio) {
    problems.push(`refusing to serve without authentication on ${host}: configure OIDC (KAFSCALE_MCP_OIDC_ISSUER) or a token, listen on 127.0.0.1, or pass --insecure-no-auth`)
  }
  if (authMode === 'static') {
    if (authToken === undefined && authTokenFile === undefined) problems.push(`static auth needs ${name('auth-token')} or ${name('auth-token-file')}`)
    if (environment === 'prod' && !bool('allow-static-token-in-prod')) problems.push(`a static shared token is refused when KAFSCALE_ENV=prod: use OIDC, or set ${name('allow-static-token-in-prod')}`)
  }
  let oidc: Config['oidc']
  if (authMode === 'oidc') {
    if (issuer === undefined) problems.push(`oidc auth needs ${name('oidc-issuer')}`)
    if (resourceUrl === undefined) problems.push(`oidc auth needs ${name('resource-url')}, the public URL of /mcp`)
    const jwksUrl = httpUrl('oidc-jwks-url')
    const algorithms = list('oidc-algorithms')
    oidc = {
      issuer: issuer ?? '',
      audience: optional('oidc-audience') ?? resourceUrl ?? '',
      ...(jwksUrl !== undefined ? { jwksUrl } : {}),
      algorithms: algorithms.length > 0 ? algorithms : ['RS256', 'ES256', 'PS256', 'EdDSA'],
      clockToleranceSec: duration('oidc-clock-skew', 30_000) / 1000,
      maxTokenLifetimeSec: duration('oidc-max-token-lifetime', 3_600_000) / 1000,
      groupsClaim: optional('oidc-groups-claim') ?? 'groups',
      jwksCacheMaxAgeMs: duration('oidc-jwks-cache-ttl', 600_000)
    }
    for (const alg of oidc.algorithms) {
      if (!/^(RS|PS|ES)(256|384|512)$|^EdDSA$/.test(alg)) problems.push(`${name('oidc-algorithms')}: ${alg} is not an asymmetric JWS algorithm (HMAC and none are never accepted)`)
    }
  }
  const auditReads = optional('audit-reads') ?? 'open'
  if (auditReads !== 'open' && auditReads !== 'closed') problems.push(`${name('audit-reads')}: ${JSON.stringify(auditReads)} is not open or closed`)
  for (const flag of ['audit-hmac-key-file', 'audit-checkpoint']) {
    if (optional(flag) !== undefined && optional('audit-file') === undefined) problems.push(`${name(flag)} applies to the audit file: set ${name('audit-file')} too`)
  }

  const config: Config = {
    host,
    port: listen?.port ?? 8090,
    authMode,
    authToken,
    authTokenFile,
    insecureNoAuth,
    ...(oidc !== undefined ? { oidc } : {}),
    resourceUrl,
    policyFile: optional('policy-file'),
    auditStdout: bool('audit-stdout'),
    auditFile: optional('audit-file'),
    auditCheckpoint: optional('audit-checkpoint'),
    auditHmacKeyFile: optional('audit-hmac-key-file'),
    auditFailClosedForReads: auditReads === 'closed',
    rateLimitMax: count('rate-limit', 300),
    rateLimitWindowMs: duration('rate-limit-window', 60_000),
    maxConcurrent: count('max-concurrent', 16),
    maxStreams: count('max-streams', 16),
    maxStreamsTotal: count('max-streams-total', 1000),
    etcdEndpoints,
    etcdUsername,
    etcdPassword,
    etcdTimeoutMs: duration('etcd-timeout', 2000),
    ...(etcdTls !== undefined ? { etcdTls } : {}),
    brokerMetricsUrl,
    brokerMetricsUrls: perBrokerUrls,
    operatorMetricsUrl: httpUrl('operator-metrics-url'),
    metricsTimeoutMs: duration('metrics-timeout', 3000),
    metricsCacheTtlMs: duration('metrics-cache-ttl', 2000),
    sessionTimeoutMs: duration('session-timeout', 0),
    environment,
    allowedOrigins: list('allowed-origins'),
    plugins: list('plugins'),
    bodyLimit,
    maxResponseChars: count('max-response-chars', 50_000),
    logLevel,
    demo,
    stdio
  }
  const hosts = list('allowed-hosts')
  if (hosts.length > 0) config.allowedHosts = hosts
  else if (isLoopback(config.host)) config.allowedHosts = ['localhost', '127.0.0.1', '[::1]']
  if (config.maxResponseChars < 1000) problems.push(`${name('max-response-chars')}: must be at least 1000`)
  if (config.etcdTimeoutMs <= 0) problems.push(`${name('etcd-timeout')}: must be more than 0`)
  if (config.metricsTimeoutMs <= 0) problems.push(`${name('metrics-timeout')}: must be more than 0`)
  if (problems.length > 0) throw new ConfigError(problems.join('; '))
  return config
}

/** The host of an http(s)://host:port endpoint, brackets kept for IPv6 as isLoopback expects. */
function endpointHost (endpoint: string): string {
  try {
    return new URL(endpoint).hostname
  } catch {
    return '' // reported as an invalid endpoint already
  }
}

function parseListenAddress (addr: string): { host: string, port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(addr.trim())
  if (m === null) return undefined
  const port = Number(m[2])
  if (port > 65535) return undefined
  const host = m[1] === '' ? '0.0.0.0' : m[1]!.replace(/^\[(.*)\]$/, '$1')
  return { host, port }
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Go's time.ParseDuration, in milliseconds ("0" alone is allowed; negative is refused). */
export function parseGoDuration (text: string): number | undefined {
  if (text === '0') return 0
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y
  let total = 0
  let pos = 0
  while (pos < text.length) {
    re.lastIndex = pos
    const m = re.exec(text)
    if (m === null) return undefined
    total += Number(m[1]) * UNITS[m[2]!]!
    pos = re.lastIndex
  }
  return pos === 0 ? undefined : total
}
