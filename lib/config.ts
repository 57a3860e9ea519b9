import { parseArgs } from 'node:util'
import { wholeNumber, type Check } from './config/checks.ts'
import { CHECKS, parseBrokerAddrEntry, parseBrokerUrlEntry, parseListenAddress, SETTING_NAMES, settingLabel, settingSchema, type SettingName, type Settings, type SettingSchema } from './config/settings.ts'
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
  /** Keys under /kafscale/consumers/ the group mirror holds at most; 0: no mirror. */
  groupMirrorMaxKeys: number
  /** The lag history's window and sampling (lib/lag-history.ts). */
  lagWindowCommits: number
  lagWindowSpanMs: number
  lagSampleIntervalMs: number
  brokerMetricsUrl?: string
  brokerMetricsUrls: Record<number, string>
  operatorMetricsUrl?: string
  metricsTimeoutMs: number
  metricsCacheTtlMs: number
  brokerControlPort: number
  brokerControlAddrs: Record<number, string>
  brokerControlTimeoutMs: number
  /** Accepted for compatibility with the reference; the service is stateless, so unused. */
  sessionTimeoutMs: number
  environment: string
  /** The guarded mutation tools and what they need (undefined: not registered). */
  mutations?: MutationSettings
  allowedHosts?: string[]
  allowedOrigins: string[]
  plugins: string[]
  bodyLimit: number
  maxResponseChars: number
  logLevel: string
  demo: boolean
  stdio: boolean
}

export interface MutationSettings {
  kafkaBootstrap: string[]
  kafkaClientId: string
  kafkaFlavor: 'auto' | 'kafscale' | 'kafka'
  kafkaTimeoutMs: number
  planKeyFile?: string
  planTtlMs: number
  confirmTools: string[]
  approvalTools: string[]
}

/** The part of the configuration a plugin takes: its options are named as in Config. */
export function slice<K extends keyof Config> (config: Config, keys: readonly K[]): Pick<Config, K> {
  return Object.fromEntries(keys.filter((key) => config[key] !== undefined).map((key) => [key, config[key]])) as Pick<Config, K>
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]'])

export function isLoopback (host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.')
}

export function usage (): string {
  const lines = ['Usage: kafscale-mcp [options]', '', 'Serves KafScale cluster insight to MCP clients at /mcp and as REST at /api/v1/tools/<name>.', '', 'Options (each also an environment variable):']
  const options: Array<[string, string]> = SETTING_NAMES.map((name) => {
    const schema = settingSchema(name)
    return [`--${name}${schema.type === 'boolean' ? '' : ' VALUE'}`, `${schema.description}${schema.goDuration === true ? ', Go duration' : ''}${defaultNote(schema)}  [${schema.env}]`]
  })
  options.push(['--help', 'show this help'], ['--version', 'print the version'])
  // The help column starts after the longest option, so no option runs into its text.
  const width = Math.max(...options.map(([option]) => option.length)) + 2
  for (const [option, help] of options) lines.push(`  ${option.padEnd(width)}${help}`)
  lines.push('', 'Other commands:', '  kafscale-mcp audit verify [--audit-hmac-key-file KEY] [--audit-checkpoint FILE] AUDIT-FILE', '      check an audit file\'s chain and checkpoint (kafscale-mcp audit verify --help)',
    '  kafscale-mcp print-config [--client claude|cursor|vscode|inspector|stdio] [options]', '      print client configurations for a server run with these options (kafscale-mcp print-config --help)')
  return lines.join('\n')
}

/** " (default 30s)"; nothing for defaults that go without saying (off, empty). */
function defaultNote (schema: SettingSchema): string {
  const value = schema.default
  if (value === undefined || value === false || value === '' || (Array.isArray(value) && value.length === 0)) return ''
  const shown = schema.goDuration === true ? formatGoDuration(value as number) : Array.isArray(value) ? value.join(',') : String(value)
  return ` (default ${shown})`
}

interface ReadSettings {
  settings: Settings
  problems: string[]
  /** Settings whose value was refused: the checks across settings leave them out. */
  refused: Set<SettingName>
}

/** Each setting from its flag, else its environment variable, else its default; per-setting checks applied. */
function readSettings (argv: string[], env: NodeJS.ProcessEnv): ReadSettings {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(SETTING_NAMES.map((name) => [name, { type: settingSchema(name).type === 'boolean' ? 'boolean' as const : 'string' as const }])),
    strict: true,
    allowPositionals: false
  })
  const problems: string[] = []
  const refused = new Set<SettingName>()
  const settings: Record<string, unknown> = {}
  for (const name of SETTING_NAMES) {
    const schema = settingSchema(name)
    const fromFlag = values[name]
    if (schema.type === 'boolean') {
      settings[name] = fromFlag === true || /^(1|true|yes)$/i.test(env[schema.env] ?? '')
      continue
    }
    const text = typeof fromFlag === 'string' ? fromFlag : env[schema.env]
    const read = text === undefined || text === '' ? { value: schema.default, problems: [] } : readValue(schema, text)
    for (const problem of read.problems) problems.push(`${settingLabel(name)}: ${problem}`)
    if (read.problems.length > 0) refused.add(name)
    const value = read.problems.length > 0 && !Array.isArray(read.value) ? schema.default : read.value
    if (value !== undefined) settings[name] = value
  }
  return { settings: settings as Settings, problems, refused }
}

/** The value a setting's text stands for, and what is wrong with it. */
function readValue (schema: SettingSchema, text: string): { value: unknown, problems: string[] } {
  const shown = JSON.stringify(text)
  const checked = (value: unknown, words: string | undefined): { value: unknown, problems: string[] } => ({ value, problems: words === undefined ? [] : [words] })
  if (schema.enum !== undefined) {
    const allowed = schema.enum
    return checked(text, allowed.includes(text) ? undefined : `${shown} is not ${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)!}`)
  }
  if (schema.type === 'array') {
    const items = text.split(',').map((item) => item.trim()).filter((item) => item !== '')
    const check = schema.items?.check
    const problems = check === undefined ? [] : items.map((item) => (CHECKS[check] as Check<string>)(item, JSON.stringify(item))).filter((p): p is string => p !== undefined)
    return { value: items, problems }
  }
  const check = schema.check === undefined ? undefined : CHECKS[schema.check] as Check<unknown>
  if (schema.goDuration === true) {
    const ms = parseGoDuration(text)
    if (ms === undefined) return checked(undefined, `${shown} is not a duration such as 500ms, 2s or 1m30s`)
    return checked(ms, check?.(ms, shown))
  }
  if (schema.type === 'integer') {
    const n = Number(text)
    return checked(n, wholeNumber(schema.minimum ?? 0)(n, shown) ?? check?.(n, shown))
  }
  return checked(text, check?.(text, shown))
}

/** Reads flags over environment; every problem is reported at once, in words. */
export function loadConfig (argv: string[], env: NodeJS.ProcessEnv): Config {
  const { settings: s, problems, refused } = readSettings(argv, env)
  const name = settingLabel

  const demo = s.demo
  const stdio = s.stdio
  // A refused address is reported already; the checks below then judge the address meant.
  const listen = refused.has('http-addr') ? undefined : parseListenAddress(s['http-addr'] ?? (demo ? '127.0.0.1:8090' : ':8090'))
  const host = listen?.host ?? (demo ? '127.0.0.1' : '0.0.0.0')

  const etcdEndpoints = s['etcd-endpoints']
  const etcdTls = etcdTlsFiles(s)
  if ((s['etcd-cert-file'] === undefined) !== (s['etcd-key-file'] === undefined)) problems.push(`a client certificate needs both ${name('etcd-cert-file')} and ${name('etcd-key-file')}`)
  const etcdSchemes = new Set(etcdEndpoints.map((endpoint) => endpoint.slice(0, endpoint.indexOf(':'))))
  // etcd3 uses one transport for every endpoint: TLS for all or for none.
  if (etcdSchemes.size > 1) problems.push(`${name('etcd-endpoints')}: mixes http:// and https:// endpoints: use one scheme for all`)
  if (etcdTls !== undefined && etcdSchemes.has('http')) problems.push(`${name('etcd-ca-file')}, ${name('etcd-cert-file')} and ${name('etcd-key-file')} are for https:// endpoints: use https:// in ${name('etcd-endpoints')}`)
  if (s['etcd-username'] !== undefined && s['etcd-password'] !== undefined && !s['etcd-allow-insecure-password']) {
    const exposed = etcdEndpoints.filter((endpoint) => endpoint.startsWith('http://') && !isLoopback(endpointHost(endpoint)))
    if (exposed.length > 0) problems.push(`refusing to send the etcd password in clear text over ${exposed.join(', ')}: use https:// endpoints (with ${name('etcd-ca-file')} for a private CA), or pass ${name('etcd-allow-insecure-password')}`)
  }
  if (demo && etcdEndpoints.length > 0) problems.push('--demo serves the embedded cluster and cannot be combined with etcd endpoints')

  const authToken = s['auth-token']
  const authTokenFile = s['auth-token-file']
  const issuer = s['oidc-issuer']
  const resourceUrl = s['resource-url']
  const authMode = s['auth-mode'] ?? (authToken !== undefined || authTokenFile !== undefined ? 'static' : issuer !== undefined ? 'oidc' : 'none')
  if (stdio && s['audit-stdout']) problems.push('--stdio speaks MCP on stdout: send the audit to a file (--audit-file) instead of --audit-stdout')
  if (authMode === 'none' && listen !== undefined && !isLoopback(host) && !s['insecure-no-auth'] && !stdio) {
    problems.push(`refusing to serve without authentication on ${host}: configure OIDC (KAFSCALE_MCP_OIDC_ISSUER) or a token, listen on 127.0.0.1, or pass --insecure-no-auth`)
  }
  if (authMode === 'static') {
    if (authToken === undefined && authTokenFile === undefined) problems.push(`static auth needs ${name('auth-token')} or ${name('auth-token-file')}`)
    if (s.env === 'prod' && !s['allow-static-token-in-prod']) problems.push(`a static shared token is refused when KAFSCALE_ENV=prod: use OIDC, or set ${name('allow-static-token-in-prod')}`)
  }
  let oidc: Config['oidc']
  if (authMode === 'oidc') {
    if (issuer === undefined) problems.push(`oidc auth needs ${name('oidc-issuer')}`)
    if (resourceUrl === undefined) problems.push(`oidc auth needs ${name('resource-url')}, the public URL of /mcp`)
    const jwksUrl = s['oidc-jwks-url']
    oidc = {
      issuer: issuer ?? '',
      audience: s['oidc-audience'] ?? resourceUrl ?? '',
      ...(jwksUrl !== undefined ? { jwksUrl } : {}),
      algorithms: s['oidc-algorithms'].length > 0 ? s['oidc-algorithms'] : settingSchema('oidc-algorithms').default as string[],
      clockToleranceSec: s['oidc-clock-skew'] / 1000,
      maxTokenLifetimeSec: s['oidc-max-token-lifetime'] / 1000,
      groupsClaim: s['oidc-groups-claim'],
      jwksCacheMaxAgeMs: s['oidc-jwks-cache-ttl']
    }
  }
  for (const flag of ['audit-hmac-key-file', 'audit-checkpoint'] as const) {
    if (s[flag] !== undefined && s['audit-file'] === undefined) problems.push(`${name(flag)} applies to the audit file: set ${name('audit-file')} too`)
  }
  if (s.mutations) {
    if (authMode !== 'oidc') problems.push(`${name('mutations')} needs OIDC auth (${name('oidc-issuer')}): mutation tools are never served with ${authMode === 'static' ? 'a static shared token' : 'no authentication'}, which carries no per-user identity`)
    if (!s['audit-stdout'] && s['audit-file'] === undefined) problems.push(`${name('mutations')} needs an audit sink: set ${name('audit-file')} (or ${name('audit-stdout')}); every mutation attempt is recorded before anything changes`)
  }
  if (problems.length > 0) throw new ConfigError(problems.join('; '))

  const config: Config = {
    host,
    port: listen?.port ?? 8090,
    authMode,
    authToken,
    authTokenFile,
    insecureNoAuth: s['insecure-no-auth'],
    ...(oidc !== undefined ? { oidc } : {}),
    resourceUrl,
    policyFile: s['policy-file'],
    auditStdout: s['audit-stdout'],
    auditFile: s['audit-file'],
    auditCheckpoint: s['audit-checkpoint'],
    auditHmacKeyFile: s['audit-hmac-key-file'],
    auditFailClosedForReads: s['audit-reads'] === 'closed',
    rateLimitMax: s['rate-limit'],
    rateLimitWindowMs: s['rate-limit-window'],
    maxConcurrent: s['max-concurrent'],
    maxStreams: s['max-streams'],
    maxStreamsTotal: s['max-streams-total'],
    etcdEndpoints,
    etcdUsername: s['etcd-username'],
    etcdPassword: s['etcd-password'],
    etcdTimeoutMs: s['etcd-timeout'],
    ...(etcdTls !== undefined ? { etcdTls } : {}),
    groupMirrorMaxKeys: s['group-mirror-max-keys'],
    lagWindowCommits: s['lag-window-commits'],
    lagWindowSpanMs: s['lag-window-span'],
    lagSampleIntervalMs: s['lag-sample-interval'],
    brokerMetricsUrl: s['broker-metrics-url'],
    brokerMetricsUrls: Object.fromEntries(s['broker-metrics-urls'].map(parseBrokerUrlEntry).filter((entry) => entry !== undefined)),
    operatorMetricsUrl: s['operator-metrics-url'],
    metricsTimeoutMs: s['metrics-timeout'],
    metricsCacheTtlMs: s['metrics-cache-ttl'],
    brokerControlPort: s['broker-control-port'],
    brokerControlAddrs: Object.fromEntries(s['broker-control-addrs'].map(parseBrokerAddrEntry).filter((entry) => entry !== undefined)),
    brokerControlTimeoutMs: s['broker-control-timeout'],
    sessionTimeoutMs: s['session-timeout'],
    environment: s.env,
    ...(s.mutations ? { mutations: mutationSettings(s) } : {}),
    allowedOrigins: s['allowed-origins'],
    plugins: s.plugins,
    bodyLimit: s['body-limit'],
    maxResponseChars: s['max-response-chars'],
    logLevel: s['log-level'],
    demo,
    stdio
  }
  const hosts = s['allowed-hosts']
  if (hosts.length > 0) config.allowedHosts = hosts
  else if (isLoopback(config.host)) config.allowedHosts = ['localhost', '127.0.0.1', '[::1]']
  return config
}

function mutationSettings (s: Settings): MutationSettings {
  const toolList = (list: string[]): string[] => list.length === 1 && list[0] === 'none' ? [] : list
  return {
    kafkaBootstrap: s['kafka-bootstrap'],
    kafkaClientId: s['kafka-client-id'],
    kafkaFlavor: s['kafka-flavor'],
    kafkaTimeoutMs: s['kafka-timeout'],
    ...(s['plan-key-file'] !== undefined ? { planKeyFile: s['plan-key-file'] } : {}),
    planTtlMs: s['plan-ttl'],
    confirmTools: toolList(s['confirm-tools']),
    approvalTools: toolList(s['approval-tools'])
  }
}

function etcdTlsFiles (s: Settings): EtcdTlsFiles | undefined {
  const files: EtcdTlsFiles = {
    ...(s['etcd-ca-file'] !== undefined ? { caFile: s['etcd-ca-file'] } : {}),
    ...(s['etcd-cert-file'] !== undefined ? { certFile: s['etcd-cert-file'] } : {}),
    ...(s['etcd-key-file'] !== undefined ? { keyFile: s['etcd-key-file'] } : {})
  }
  return Object.keys(files).length > 0 ? files : undefined
}

/** The host of an http(s)://host:port endpoint, brackets kept for IPv6 as isLoopback expects. */
function endpointHost (endpoint: string): string {
  try {
    return new URL(endpoint).hostname
  } catch {
    return '' // reported as an invalid endpoint already
  }
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

/** A duration in milliseconds as Go writes it: 90000 → "1m30s". */
export function formatGoDuration (ms: number): string {
  if (ms === 0) return '0'
  let rest = ms
  let text = ''
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`
      rest %= size
    }
  }
  return rest > 0 ? `${text}${rest}ms` : text
}
