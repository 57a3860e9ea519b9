import t from 'tap'
import { loadConfig, parseGoDuration, usage } from '../lib/config.ts'

t.test('reference environment variables keep their meaning', async (t) => {
  const c = loadConfig([], {
    KAFSCALE_MCP_HTTP_ADDR: ':9000',
    KAFSCALE_MCP_AUTH_TOKEN: 'tok',
    KAFSCALE_MCP_ETCD_ENDPOINTS: 'http://etcd-0:2379, http://etcd-1:2379',
    KAFSCALE_MCP_ETCD_USERNAME: 'root',
    KAFSCALE_MCP_ETCD_PASSWORD: 'pw',
    KAFSCALE_MCP_BROKER_METRICS_URL: 'http://broker:9093/metrics',
    KAFSCALE_MCP_SESSION_TIMEOUT: '30m',
    KAFSCALE_ENV: 'prod'
  })
  t.match(c, {
    host: '0.0.0.0', port: 9000, authToken: 'tok', etcdEndpoints: ['http://etcd-0:2379', 'http://etcd-1:2379'],
    etcdUsername: 'root', etcdPassword: 'pw', brokerMetricsUrl: 'http://broker:9093/metrics', sessionTimeoutMs: 1_800_000, environment: 'prod'
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
  const c = loadConfig([], {})
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
