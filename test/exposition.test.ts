import { readFileSync } from 'node:fs'
import t from 'tap'
import { parseExposition } from '../lib/metrics/exposition.ts'
import { summarizeBroker } from '../lib/metrics/broker-summary.ts'

const text = readFileSync(new URL('./fixtures/broker-metrics.txt', import.meta.url), 'utf8')

t.test('the broker fixture parses exactly', async (t) => {
  const { samples, types } = parseExposition(text)
  t.equal(samples.length, text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length, 'every sample line is a sample')
  t.equal(types.get('kafscale_produce_latency_ms'), 'histogram')
  t.equal(types.get('kafscale_admin_requests_total'), 'counter')
  t.same(samples.filter((s) => s.name === 'kafscale_s3_health_state').map((s) => [s.labels.state, s.value]), [['healthy', 1], ['degraded', 0], ['unavailable', 0]])
  t.same(samples.find((s) => s.name === 'kafscale_consumer_lag_bucket' && s.labels.le === '1e+06'), { name: 'kafscale_consumer_lag_bucket', labels: { le: '1e+06' }, value: 5 })
  t.same(samples.find((s) => s.name === 'kafscale_produce_latency_ms_bucket' && s.labels.le === '+Inf')?.value, 40)
  t.same(samples.filter((s) => s.name === 'kafscale_admin_request_latency_ms_avg').map((s) => [s.labels.api, s.value]),
    [['DescribeConfigs', 1.25], ['ListGroups', 0.667], ['api_37', 4]], 'interleaved admin families keep their own samples')
  t.same(samples.filter((s) => s.name === 'kafscale_authz_denied_total'), [
    { name: 'kafscale_authz_denied_total', labels: {}, value: 2 },
    { name: 'kafscale_authz_denied_total', labels: { action: 'produce', resource: 'topic' }, value: 2 }
  ], 'labelled and unlabelled series of one family')
})

t.test('the broker summary follows the console rules', async (t) => {
  t.same(summarizeBroker(parseExposition(text)), {
    s3State: 'healthy',
    s3LatencyMs: 37,
    s3ErrorRate: 0,
    produceRps: 1520.5,
    fetchRps: 980.25,
    adminRequestsTotal: 16,
    adminRequestErrorsTotal: 1,
    adminRequestLatencyMs: (1.25 + 0.667 + 4) / 3,
    cpuPercent: 4.213,
    memBytes: 27541504
  })
})

t.test('edge cases of the text format', async (t) => {
  const { samples } = parseExposition('a{x="q\\"u\\\\o\\nte",y="2"} NaN 1700000000000\nb +Inf\nc -Inf\nd 1e3')
  t.same(samples[0], { name: 'a', labels: { x: 'q"u\\o\nte', y: '2' }, value: NaN, timestampMs: 1700000000000 })
  t.same(samples.slice(1).map((s) => s.value), [Infinity, -Infinity, 1000], 'the last sample counts without a trailing newline')
  t.equal(parseExposition('x 1\r\ny 2\r\n').samples.length, 2)
})

t.test('garbage is an error naming the line', async (t) => {
  t.throws(() => parseExposition('# HELP ok\nok 1\n<html>oops</html>\n'), /line 3: expected a metric name/)
  t.throws(() => parseExposition('m{a="1"'), /line 1/)
  t.throws(() => parseExposition('m 12abc'), /invalid value 12abc/)
})
