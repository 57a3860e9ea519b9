import { parseArgs } from 'node:util'
import { ConfigError } from './errors.ts'

export interface Config {
  host: string
  port: number
  authToken?: string
  etcdEndpoints: string[]
  etcdUsername?: string
  etcdPassword?: string
  etcdTimeoutMs: number
  brokerMetricsUrl?: string
  metricsTimeoutMs: number
  metricsCacheTtlMs: number
  /** Accepted for compatibility with the reference; the service is stateless, so unused. */
  sessionTimeoutMs: number
  environment: string
  allowedHosts?: string[]
  allowedOrigins: string[]
  plugins: string[]
  bodyLimit: number
  logLevel: string
  demo: boolean
}

interface Setting {
  flag: string
  env?: string
  help: string
  boolean?: boolean
  secret?: boolean
}

// Every setting is an environment variable (the reference's names keep their meaning) and a flag.
export const SETTINGS: Setting[] = [
  { flag: 'http-addr', env: 'KAFSCALE_MCP_HTTP_ADDR', help: 'listen address, host:port or :port (default ":8090", all interfaces)' },
  { flag: 'auth-token', env: 'KAFSCALE_MCP_AUTH_TOKEN', help: 'static bearer token required on /mcp and /api (unset: no auth)', secret: true },
  { flag: 'etcd-endpoints', env: 'KAFSCALE_MCP_ETCD_ENDPOINTS', help: 'comma-separated etcd URLs, e.g. http://etcd:2379' },
  { flag: 'etcd-username', env: 'KAFSCALE_MCP_ETCD_USERNAME', help: 'etcd user' },
  { flag: 'etcd-password', env: 'KAFSCALE_MCP_ETCD_PASSWORD', help: 'etcd password', secret: true },
  { flag: 'etcd-timeout', env: 'KAFSCALE_MCP_ETCD_TIMEOUT', help: 'deadline of each etcd request, Go duration (default 2s)' },
  { flag: 'broker-metrics-url', env: 'KAFSCALE_MCP_BROKER_METRICS_URL', help: 'a broker\'s Prometheus URL, e.g. http://kafscale-broker:9093/metrics' },
  { flag: 'metrics-timeout', env: 'KAFSCALE_MCP_METRICS_TIMEOUT', help: 'deadline of a metrics scrape, Go duration (default 3s)' },
  { flag: 'metrics-cache-ttl', env: 'KAFSCALE_MCP_METRICS_CACHE_TTL', help: 'how long one scrape answers all callers, Go duration (default 2s)' },
  { flag: 'session-timeout', env: 'KAFSCALE_MCP_SESSION_TIMEOUT', help: 'accepted for compatibility; the service is stateless (Go duration)' },
  { flag: 'env', env: 'KAFSCALE_ENV', help: 'environment name, e.g. dev, staging, prod' },
  { flag: 'allowed-hosts', env: 'KAFSCALE_MCP_ALLOWED_HOSTS', help: 'comma-separated Host names accepted on /mcp (default: localhost names when listening on loopback, else any)' },
  { flag: 'allowed-origins', env: 'KAFSCALE_MCP_ALLOWED_ORIGINS', help: 'comma-separated browser Origin hostnames accepted on /mcp besides localhost' },
  { flag: 'plugins', env: 'KAFSCALE_MCP_PLUGINS', help: 'comma-separated module paths or package names of extra tool plugins' },
  { flag: 'body-limit', env: 'KAFSCALE_MCP_BODY_LIMIT', help: 'largest request body in bytes (default 4194304)' },
  { flag: 'log-level', env: 'KAFSCALE_MCP_LOG_LEVEL', help: 'fatal, error, warn, info, debug or trace (default info)' },
  { flag: 'demo', help: 'serve the embedded demo cluster (no etcd needed) on 127.0.0.1', boolean: true }
]

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]'])

export function isLoopback (host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.')
}

export function usage (): string {
  const lines = ['Usage: kafscale-mcp [options]', '', 'Serves KafScale cluster insight to MCP clients at /mcp and as REST at /api/v1/tools/<name>.', '', 'Options (each also an environment variable):']
  for (const s of SETTINGS) {
    lines.push(`  --${s.flag}${s.boolean === true ? '' : ' VALUE'}`.padEnd(32) + s.help + (s.env !== undefined ? `  [${s.env}]` : ''))
  }
  lines.push('  --help'.padEnd(32) + 'show this help', '  --version'.padEnd(32) + 'print the version')
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

  const demo = values.demo === true
  const addr = raw('http-addr') ?? (demo ? '127.0.0.1:8090' : ':8090')
  const listen = parseListenAddress(addr)
  if (listen === undefined) problems.push(`${name('http-addr')}: ${JSON.stringify(addr)} is not host:port or :port with a port from 0 to 65535`)

  const etcdEndpoints = list('etcd-endpoints')
  for (const endpoint of etcdEndpoints) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) problems.push(`${name('etcd-endpoints')}: ${JSON.stringify(endpoint)} is not an http(s)://host:port URL`)
  }
  const brokerMetricsUrl = optional('broker-metrics-url')
  if (brokerMetricsUrl !== undefined && !/^https?:\/\/\S+$/.test(brokerMetricsUrl)) {
    problems.push(`${name('broker-metrics-url')}: ${JSON.stringify(brokerMetricsUrl)} is not an http(s) URL`)
  }
  if (demo && etcdEndpoints.length > 0) problems.push('--demo serves the embedded cluster and cannot be combined with etcd endpoints')

  const bodyLimitText = raw('body-limit')
  const bodyLimit = bodyLimitText === undefined || bodyLimitText === '' ? 4 * 1024 * 1024 : Number(bodyLimitText)
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1024) problems.push(`${name('body-limit')}: ${JSON.stringify(bodyLimitText)} must be a whole number of bytes, at least 1024`)

  const logLevel = raw('log-level') ?? 'info'
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) problems.push(`${name('log-level')}: ${JSON.stringify(logLevel)} is not a log level`)

  const config: Config = {
    host: listen?.host ?? '0.0.0.0',
    port: listen?.port ?? 8090,
    authToken: optional('auth-token'),
    etcdEndpoints,
    etcdUsername: optional('etcd-username'),
    etcdPassword: raw('etcd-password'),
    etcdTimeoutMs: duration('etcd-timeout', 2000),
    brokerMetricsUrl,
    metricsTimeoutMs: duration('metrics-timeout', 3000),
    metricsCacheTtlMs: duration('metrics-cache-ttl', 2000),
    sessionTimeoutMs: duration('session-timeout', 0),
    environment: raw('env') ?? '',
    allowedOrigins: list('allowed-origins'),
    plugins: list('plugins'),
    bodyLimit,
    logLevel,
    demo
  }
  const hosts = list('allowed-hosts')
  if (hosts.length > 0) config.allowedHosts = hosts
  else if (isLoopback(config.host)) config.allowedHosts = ['localhost', '127.0.0.1', '[::1]']
  if (config.etcdTimeoutMs <= 0) problems.push(`${name('etcd-timeout')}: must be more than 0`)
  if (config.metricsTimeoutMs <= 0) problems.push(`${name('metrics-timeout')}: must be more than 0`)
  if (problems.length > 0) throw new ConfigError(problems.join('; '))
  return config
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
