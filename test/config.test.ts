import t from 'tap'
import { loadConfig, parseGoDuration, usage } from '../lib/config.ts'

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
    host: '0.0.0.0', port: 9000, authToken: 'tok', etcdEndpoints: ['http://etcd-0:2379', 'http://etcd-1:2379'],
    etcdUsername: 'root', etcdPassword: 'pw', brokerMetricsUrl: 'http://broker:9093/metrics', sessionTimeoutMs: 1_800_000, environment: 'staging', authMode: 'static'
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
