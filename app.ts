import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify'
import { slice, type Config } from './lib/config.ts'
import { PluginLoadError } from './lib/errors.ts'
import { LOG_REDACTION } from './plugins/log-redaction.ts'
import type { KvBackend } from './lib/store/kv.ts'
import { VERSION } from './lib/version.ts'
import abuseLimitsPlugin, { ABUSE_LIMITS_SETTINGS } from './plugins/abuse-limits.ts'
import auditPlugin, { AUDIT_SETTINGS } from './plugins/audit.ts'
import authPlugin from './plugins/auth.ts'
import brokerControlPlugin, { BROKER_CONTROL_SETTINGS } from './plugins/broker-control.ts'
import gatePlugin from './plugins/gate.ts'
import healthPlugin from './plugins/health.ts'
import legacySsePlugin from './transports/legacy-sse.ts'
import mcpPlugin from './transports/mcp.ts'
import metricsPlugin, { METRICS_SETTINGS } from './plugins/metrics.ts'
import openapiPlugin from './transports/openapi.ts'
import restPlugin from './transports/rest.ts'
import storePlugin from './plugins/store.ts'
import telemetryPlugin from './plugins/telemetry.ts'
import toolRegistryPlugin from './plugins/tool-registry.ts'
import brokerStatus from './tools/broker-status.ts'
import clusterMetrics from './tools/cluster-metrics.ts'
import clusterHealth from './tools/cluster-health.ts'
import clusterStatus from './tools/cluster-status.ts'
import consumerLag from './tools/consumer-lag.ts'
import describeConfigs from './tools/describe-configs.ts'
import describeGroup from './tools/describe-group.ts'
import describeTopics from './tools/describe-topics.ts'
import fetchOffsets from './tools/fetch-offsets.ts'
import listGroups from './tools/list-groups.ts'
import listTopics from './tools/list-topics.ts'

export const BUILTIN_TOOLS = [clusterStatus, clusterMetrics, listTopics, describeTopics, listGroups, describeGroup, fetchOffsets, describeConfigs, consumerLag, clusterHealth, brokerStatus]

export interface BuildOptions {
  /** Serve this key space instead of connecting to etcd (the demo cluster). */
  backend?: KvBackend
  /** Logger options over the defaults; credential redaction always applies. */
  logger?: Exclude<FastifyServerOptions['logger'], boolean>
  version?: string
  /** The time the lag history is stamped and judged with (tests inject one). */
  clock?: () => number
}

/** The one Fastify instance: services, the tool registry over them, then the gated scope: tools (built-in and extra) and transports. */
export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const version = options.version ?? VERSION
  const app = Fastify({
    logger: {
      level: config.logLevel,
      // Application logs go to stderr: stdout is left for machine-readable streams.
      stream: process.stderr,
      ...options.logger,
      ...LOG_REDACTION
    },
    bodyLimit: config.bodyLimit,
    requestTimeout: 120_000
  })

  await app.register(storePlugin, {
    groupMirrorMaxKeys: config.groupMirrorMaxKeys,
    lagWindowCommits: config.lagWindowCommits,
    lagWindowSpanMs: config.lagWindowSpanMs,
    lagSampleIntervalMs: config.lagSampleIntervalMs,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.backend !== undefined
      ? { backend: options.backend }
      : config.etcdEndpoints.length > 0
        ? { etcd: { endpoints: config.etcdEndpoints, username: config.etcdUsername, password: config.etcdPassword, timeoutMs: config.etcdTimeoutMs, ...(config.etcdTls !== undefined ? { tls: config.etcdTls } : {}) } }
        : {})
  })
  await app.register(metricsPlugin, slice(config, METRICS_SETTINGS))
  await app.register(brokerControlPlugin, slice(config, BROKER_CONTROL_SETTINGS))
  await app.register(authPlugin, {
    mode: config.authMode,
    ...(config.authMode === 'static' ? { staticToken: { value: config.authToken, file: config.authTokenFile } } : {}),
    ...(config.oidc !== undefined ? { oidc: { ...config.oidc, timeoutMs: 5000 } } : {}),
    resource: config.resourceUrl,
    policyFile: config.policyFile
  })
  await app.register(auditPlugin, slice(config, AUDIT_SETTINGS))
  await app.register(abuseLimitsPlugin, slice(config, ABUSE_LIMITS_SETTINGS))
  warnAboutWeakAuth(app, config)
  await app.register(healthPlugin, { version })
  await app.register(telemetryPlugin)
  await app.register(toolRegistryPlugin, { maxResponseChars: config.maxResponseChars })

  const allowedOrigins = ['localhost', '127.0.0.1', '[::1]', ...config.allowedOrigins]
  // Every data route sits in this one gated scope; /healthz, /readyz, /metrics and
  // /.well-known stay outside it. Tool plugins register here too, so a route a plugin adds is
  // gated like /mcp; the tools themselves land in the root's app.tools.
  await app.register(async function dataRoutes (scope) {
    await scope.register(gatePlugin, { allowedHosts: config.allowedHosts, allowedOrigins })
    for (const tool of BUILTIN_TOOLS) await scope.register(tool)
    if (config.mutations !== undefined) {
      // The mutation path brings the Kafka admin client (about 10 MB of heap): a read-only
      // service does not load it, and its GC does not walk it.
      const { default: mutationsPlugin } = await import('./plugins/mutations.ts')
      await scope.register(mutationsPlugin, { ...config.mutations, environment: config.environment, authMode: config.authMode })
    }
    for (const spec of config.plugins) await scope.register(await loadToolPlugin(spec))
    // /mcp carries any tool's call: its limit is what the largest valid call of any tool needs.
    const largestCall = Math.max(...app.tools.list().map((tool) => tool.bodyLimit))
    await scope.register(mcpPlugin, { version, bodyLimit: Math.min(config.bodyLimit, largestCall) })
    await scope.register(legacySsePlugin, { version })
    await scope.register(openapiPlugin, { version, bearerAuth: config.authMode !== 'none' })
    await scope.register(restPlugin, { bodyLimit: config.bodyLimit })
  })
  return app
}

function warnAboutWeakAuth (app: FastifyInstance, config: Config): void {
  if (config.authMode === 'static') {
    app.log.warn('static shared-token auth: no per-user identity, read-only tools only; prefer OIDC (KAFSCALE_MCP_OIDC_ISSUER)')
  }
  if (config.authMode === 'none' && config.insecureNoAuth) {
    app.log.warn(`INSECURE: serving KafScale cluster data WITHOUT AUTHENTICATION on ${config.host}:${config.port} (--insecure-no-auth)`)
  }
}

/** A tool plugin is a module whose default export is a Fastify plugin that adds tools (`toolPlugin`), registered in the gated scope. */
export async function loadToolPlugin (spec: string): Promise<FastifyPluginAsync> {
  const target = spec.startsWith('.') || isAbsolute(spec) ? pathToFileURL(resolve(spec)).href : spec
  let mod: { default?: unknown }
  try {
    mod = await import(target) as { default?: unknown }
  } catch (err) {
    throw new PluginLoadError(JSON.stringify(spec), (err as Error).message)
  }
  if (typeof mod.default !== 'function') throw new PluginLoadError(JSON.stringify(spec), 'its default export is not a Fastify plugin function')
  return mod.default as FastifyPluginAsync
}
