import t from 'tap'
import Fastify from 'fastify'
import { formatGoDuration, loadConfig, parseGoDuration, usage } from '../lib/config.ts'
import { SETTING_NAMES, SETTINGS, settingSchema } from '../lib/config/settings.ts'
import { OidcVerifier } from '../lib/auth/oidc.ts'
import abuseLimitsPlugin from '../plugins/abuse-limits.ts'
import authPlugin from '../plugins/auth.ts'
import metricsPlugin from '../plugins/metrics.ts'
import storePlugin from '../plugins/store.ts'

t.test('reference environment variables keep their meaning', async (t) => {
  const c = loadConfig([], {
    KAFSCALE_MCP_HTTP_ADDR: ':9000',
    KAFSCALE_MCP_AUTH_TOKEN: 'tok',
    KAFSCALE_MCP_ETCD_ENDPOINTS: 'http://etcd-0:2379, http://etcd-1:2379',
    KAFSCALE_MCP_ETCD_USERNAME: 'root',
    KAFSCALE_MCP_ETCD_PASSWORD: 'pw',
    // New here (the reference sends the password over http:// silently): an explicit opt-in.
    KAFSCALE_MCP_ETCD_ALLOW_INSECURE_PASSWORD: 'true',
    KAFSCALE_MCP_BROKER_METRICS_URL: 'http://broker:9093/metrics',
    KAFSCALE_MCP_SESSION_TIMEOUT: '30m',
    KAFSCALE_ENV: 'staging'
  })
  t.match(c, {
    host: '0.0.0.0',
    port: 9000,
    authToken: 'tok',
    etcdEndpoints: ['http://etcd-0:2379', 'http://etcd-1:2379'],
    etcdUsername: 'root',
    etcdPassword: 'pw',
    brokerMetricsUrl: 'http://broker:9093/metrics',
    sessionTimeoutMs: 1_800_000,
    environment: 'staging',
    authMode: 'static'
  })
  t.equal(c.allowedHosts, undefined, 'no Host allowlist by default on all interfaces')
})

t.test('flags win over the environment', async (t) => {
  const c = loadConfig(['--http-addr', '127.0.0.1:7000', '--etcd-endpoints', 'http://a:1'], { KAFSCALE_MCP_HTTP_ADDR: ':9000' })
  t.equal(c.port, 7000)
  t.same(c.allowedHosts, ['localhost', '127.0.0.1', '[::1]'], 'loopback listeners accept localhost names only')
  t.same(c.etcdEndpoints, ['http://a:1'])
})

t.test('defaults', async (t) => {
  const c = loadConfig(['--insecure-no-auth'], {})
  t.match(c, { host: '0.0.0.0', port: 8090, etcdEndpoints: [], etcdTimeoutMs: 2000, metricsTimeoutMs: 3000, metricsCacheTtlMs: 2000, demo: false })
  t.match(loadConfig(['--demo'], {}), { host: '127.0.0.1', port: 8090, demo: true })
})

t.test('every problem is reported at once, in words', async (t) => {
  t.throws(() => loadConfig(['--http-addr', 'nope', '--etcd-timeout', 'soon'], { KAFSCALE_MCP_ETCD_ENDPOINTS: 'etcd:2379' }), {
    code: 'KSMCP_ERR_CONFIG',
    message: /KAFSCALE_MCP_HTTP_ADDR \(--http-addr\): "nope" is not host:port.*KAFSCALE_MCP_ETCD_ENDPOINTS \(--etcd-endpoints\): "etcd:2379" is not an http\(s\):\/\/host:port URL.*KAFSCALE_MCP_ETCD_TIMEOUT \(--etcd-timeout\): "soon" is not a duration/
  })
  t.throws(() => loadConfig([], { KAFSCALE_MCP_SESSION_TIMEOUT: 'forever' }), /KAFSCALE_MCP_SESSION_TIMEOUT.*not a duration/)
  t.throws(() => loadConfig(['--no-such-flag'], {}), /Unknown option '--no-such-flag'/)
  t.throws(() => loadConfig(['--demo', '--etcd-endpoints', 'http://a:1'], {}), /cannot be combined/)
})

t.test('secure by default: refusals at start', async (t) => {
  t.throws(() => loadConfig([], {}), /refusing to serve without authentication on 0\.0\.0\.0: configure OIDC \(KAFSCALE_MCP_OIDC_ISSUER\) or a token, listen on 127\.0\.0\.1, or pass --insecure-no-auth/)
  t.equal(loadConfig(['--http-addr', '127.0.0.1:8090'], {}).authMode, 'none', 'no auth is fine on loopback')
  t.equal(loadConfig([], { KAFSCALE_MCP_INSECURE_NO_AUTH: 'true' }).insecureNoAuth, true)
  t.throws(() => loadConfig([], { KAFSCALE_MCP_AUTH_TOKEN: 't', KAFSCALE_ENV: 'prod' }), /a static shared token is refused when KAFSCALE_ENV=prod: use OIDC, or set KAFSCALE_MCP_ALLOW_STATIC_TOKEN_IN_PROD/)
  t.equal(loadConfig(['--allow-static-token-in-prod'], { KAFSCALE_MCP_AUTH_TOKEN: 't', KAFSCALE_ENV: 'prod' }).authMode, 'static')
  t.throws(() => loadConfig(['--auth-mode', 'oidc'], {}), /oidc auth needs KAFSCALE_MCP_OIDC_ISSUER.*oidc auth needs KAFSCALE_MCP_RESOURCE_URL/)
  t.throws(() => loadConfig(['--oidc-issuer', 'https://idp', '--resource-url', 'https://mcp/mcp', '--oidc-algorithms', 'RS256,HS256,none'], {}), /HS256 is not an asymmetric JWS algorithm.*none is not an asymmetric/)
  const oidc = loadConfig(['--oidc-issuer', 'https://idp.example.com', '--resource-url', 'https://mcp.example.com/mcp'], {})
  t.match(oidc, { authMode: 'oidc', oidc: { issuer: 'https://idp.example.com', audience: 'https://mcp.example.com/mcp', maxTokenLifetimeSec: 3600, clockToleranceSec: 30, groupsClaim: 'groups' } })
})

t.test('Go durations', async (t) => {
  t.equal(parseGoDuration('0'), 0)
  t.equal(parseGoDuration('1h30m'), 5_400_000)
  t.equal(parseGoDuration('1.5s'), 1500)
  t.equal(parseGoDuration('250ms'), 250)
  t.equal(parseGoDuration('10'), undefined)
  t.equal(parseGoDuration(''), undefined)
})

t.test('--help names every environment variable', async (t) => {
  const text = usage()
  for (const name of ['KAFSCALE_MCP_HTTP_ADDR', 'KAFSCALE_MCP_AUTH_TOKEN', 'KAFSCALE_MCP_ETCD_ENDPOINTS', 'KAFSCALE_MCP_ETCD_USERNAME', 'KAFSCALE_MCP_ETCD_PASSWORD', 'KAFSCALE_MCP_BROKER_METRICS_URL', 'KAFSCALE_MCP_SESSION_TIMEOUT', 'KAFSCALE_ENV', 'KAFSCALE_MCP_PLUGINS']) {
    t.match(text, name)
  }
})

t.test('every setting in the schema has a flag, an environment variable, help, and a default or is optional', async (t) => {
  const required = new Set<string>(SETTINGS.required)
  const envs = new Set<string>()
  for (const name of SETTING_NAMES) {
    const schema = settingSchema(name)
    t.match(name, /^[a-z][a-z0-9-]*$/, `${name} is a flag name`)
    t.match(schema.env, /^KAFSCALE_(MCP_)?[A-Z0-9_]+$/, `${name} has an environment variable`)
    t.notOk(envs.has(schema.env), `${schema.env} names one setting only`)
    envs.add(schema.env)
    t.match(schema.description, /\w+ \w+/, `${name} has help`)
    t.ok(schema.default !== undefined || !required.has(name), `${name} has a default or is optional`)
  }
})

t.test('--help lists every setting, with its flag, environment variable and default', async (t) => {
  const text = usage()
  for (const name of SETTING_NAMES) {
    const schema = settingSchema(name)
    const line = text.split('\n').find((l) => l.startsWith(`  --${name} `) || l === `  --${name}`)
    t.ok(line, `--${name} is listed`)
    t.match(line, `[${schema.env}]`, `--${name} names ${schema.env}`)
    if (typeof schema.default === 'number' && schema.default > 0) {
      t.match(line, `(default ${schema.goDuration === true ? formatGoDuration(schema.default) : schema.default})`, `--${name} shows its default`)
    }
  }
  t.match(text, /--rate-limit-window VALUE {2,}rate limit window, Go duration \(default 1m\) {2}\[KAFSCALE_MCP_RATE_LIMIT_WINDOW\]/)
  t.equal(formatGoDuration(90_500), '1m30s500ms')
})

t.test('values the schema bounds are refused in words naming the setting', async (t) => {
  t.throws(() => loadConfig(['--insecure-no-auth', '--max-response-chars', '500', '--body-limit', 'big', '--rate-limit=-1', '--rate-limit-window', '0', '--log-level', 'loud', '--audit-reads', 'sometimes'], {}), {
    code: 'KSMCP_ERR_CONFIG',
    message: 'invalid configuration: KAFSCALE_MCP_AUDIT_READS (--audit-reads): "sometimes" is not open or closed; ' +
      'KAFSCALE_MCP_RATE_LIMIT (--rate-limit): "-1" must be a whole number, 0 or more; ' +
      'KAFSCALE_MCP_RATE_LIMIT_WINDOW (--rate-limit-window): must be more than 0; ' +
      'KAFSCALE_MCP_MAX_RESPONSE_CHARS (--max-response-chars): "500" must be a whole number, at least 1000; ' +
      'KAFSCALE_MCP_BODY_LIMIT (--body-limit): "big" must be a whole number, at least 1024; ' +
      'KAFSCALE_MCP_LOG_LEVEL (--log-level): "loud" is not fatal, error, warn, info, debug, trace or silent'
  })
  t.throws(() => loadConfig(['--insecure-no-auth', '--broker-metrics-urls', '1=http://b1:9093/metrics,2=ftp://b2', '--operator-metrics-url', 'operator:8080'], {}),
    /KAFSCALE_MCP_BROKER_METRICS_URLS \(--broker-metrics-urls\): "2=ftp:\/\/b2" is not NODEID=http\(s\):\/\/….*KAFSCALE_MCP_OPERATOR_METRICS_URL \(--operator-metrics-url\): "operator:8080" is not an http\(s\) URL/)
  t.same(loadConfig(['--insecure-no-auth', '--broker-metrics-urls', '1=http://b1:9093/metrics'], {}).brokerMetricsUrls, { 1: 'http://b1:9093/metrics' })
})

t.test('a plugin registered with bad options fails with KSMCP_ERR_PLUGIN_OPTIONS, in the loader\'s words', async (t) => {
  const rejects = async (register: (app: ReturnType<typeof Fastify>) => void, message: string): Promise<void> => {
    const app = Fastify({ logger: false })
    register(app)
    await t.rejects(async () => { await app.ready() }, { code: 'KSMCP_ERR_PLUGIN_OPTIONS', message })
    await app.close()
  }
  await rejects((app) => app.register(metricsPlugin, { brokerMetricsUrl: 'ftp://broker/metrics', brokerMetricsUrls: { 2: 'http://b2:9093/metrics' }, metricsTimeoutMs: 0, metricsCacheTtlMs: 2000 }),
    'invalid options for kafscale-metrics: brokerMetricsUrl: "ftp://broker/metrics" is not an http(s) URL; metricsTimeoutMs: must be more than 0')
  await rejects((app) => app.register(storePlugin, { etcd: { endpoints: ['etcd:2379'], timeoutMs: 2000 } }),
    'invalid options for kafscale-store: etcd.endpoints: "etcd:2379" is not an http(s)://host:port URL')
  await rejects((app) => app.register(storePlugin, { etcd: { endpoints: [], timeoutMs: 0 } }),
    'invalid options for kafscale-store: etcd.endpoints: give at least one endpoint; etcd.timeoutMs: must be more than 0')
  await rejects((app) => app.register(authPlugin, { mode: 'oidc' }),
    'invalid options for kafscale-auth: oidc mode needs the oidc options; oidc mode needs resource, the public URL of /mcp')
  await rejects((app) => app.register(authPlugin, { mode: 'static' }), 'invalid options for kafscale-auth: static mode needs staticToken (a value or a file)')
  await rejects((app) => {
    app.register(authPlugin, { mode: 'none' })
    app.register(abuseLimitsPlugin, { rateLimitMax: 10, rateLimitWindowMs: 0, maxConcurrent: 1.5, maxStreams: 0, maxStreamsTotal: 0 })
  }, 'invalid options for kafscale-abuse-limits: maxConcurrent: 1.5 must be a whole number, 0 or more; rateLimitWindowMs: must be more than 0')
  t.throws(() => new OidcVerifier({ issuer: 'https://idp', audience: 'a', algorithms: ['RS256', 'HS256'], clockToleranceSec: 30, maxTokenLifetimeSec: 3600, groupsClaim: 'groups', jwksCacheMaxAgeMs: 600_000, timeoutMs: 5000 }), {
    code: 'KSMCP_ERR_PLUGIN_OPTIONS',
    message: 'invalid options for the OIDC verifier: algorithms: HS256 is not an asymmetric JWS algorithm (HMAC and none are never accepted)'
  })
})
