import fp from 'fastify-plugin'
import { MutationService, type Fences, type MutationSpec } from '../core/mutation.ts'
import type { ToolDefinition } from '../core/tool.ts'
import type { MutationSettings } from '../lib/config.ts'
import { MutationsNotConfiguredError, BrokerUnavailableError } from '../lib/errors.ts'
import { KafkaAdmin } from '../lib/kafscale/admin.ts'
import { loadPlanKey, Sealer } from '../lib/mutations/seal.ts'
import createPartitions from '../tools/mutations/create-partitions.ts'
import createTopic from '../tools/mutations/create-topic.ts'
import deleteGroup from '../tools/mutations/delete-group.ts'
import deleteTopic from '../tools/mutations/delete-topic.ts'
import drainPartitions from '../tools/mutations/drain-partitions.ts'
import type { AdminApi, MutationDeps } from '../tools/mutations/deps.ts'
import triggerFlush from '../tools/mutations/trigger-flush.ts'
import updateTopicConfig from '../tools/mutations/update-topic-config.ts'
import { TOOL_REGISTRY_PLUGIN } from './tool-plugin.ts'

export const MUTATION_SPECS: Array<MutationSpec<any, any, MutationDeps>> = [createTopic, deleteTopic, createPartitions, updateTopicConfig, deleteGroup, drainPartitions, triggerFlush]

export interface MutationsPluginOptions extends MutationSettings {
  environment: string
  authMode: 'oidc' | 'static' | 'none'
}

const PRODUCTION = new Set(['prod', 'production'])

/**
 * The guarded mutation tools (core/mutation.ts) and approve_plan, registered only when the
 * operator asked for them and auth is OIDC. Changes go through the brokers' Kafka admin API
 * with this service's own client.id, or their gRPC control plane; etcd stays read-only.
 */
export default fp<MutationsPluginOptions>(async function mutations (app, options) {
  if (options.authMode !== 'oidc') throw new MutationsNotConfiguredError(`they need OIDC auth, and auth is ${options.authMode}`)
  if (!app.audit.enabled) throw new MutationsNotConfiguredError('they need an audit sink (KAFSCALE_MCP_AUDIT_FILE or KAFSCALE_MCP_AUDIT_STDOUT)')
  const names = new Set([...MUTATION_SPECS.map((s) => s.name)])
  for (const [setting, list] of [['KAFSCALE_MCP_CONFIRM_TOOLS', options.confirmTools], ['KAFSCALE_MCP_APPROVAL_TOOLS', options.approvalTools]] as const) {
    const unknown = list.filter((tool) => !names.has(tool))
    if (unknown.length > 0) throw new MutationsNotConfiguredError(`${setting} names ${unknown.join(', ')}, which is no mutation tool (they are: ${[...names].join(', ')})`)
  }
  const sealer = new Sealer(options.planKeyFile !== undefined ? loadPlanKey(options.planKeyFile) : undefined)
  if (sealer.ephemeral) app.log.warn('no KAFSCALE_MCP_PLAN_KEY_FILE: plan tokens and approvals are sealed with a random key of this process, so they verify only on this replica and not after a restart')

  const { admin, close } = lazyAdmin(options, () => app.kafscaleStore?.snapshotView().snapshot.brokers.map((b) => `${b.host}:${b.port}`) ?? [])
  app.addHook('onClose', close)
  const fences: Fences = {
    environment: options.environment,
    production: PRODUCTION.has(options.environment.toLowerCase()),
    approvalTools: new Set(options.approvalTools),
    confirmTools: new Set(options.confirmTools)
  }
  const service = new MutationService<MutationDeps>({
    deps: { admin, store: app.kafscaleStore, control: app.brokerControl },
    sealer,
    fences,
    audit: app.audit,
    holdsBreakGlass: (principal) => app.policy.holdsBreakGlass(principal),
    breakGlassScope: () => app.policy.breakGlassScope(),
    metrics: app.mutationMetrics,
    log: app.log.child({ component: 'mutations' }),
    planTtlMs: options.planTtlMs
  })
  for (const spec of MUTATION_SPECS) app.tools.add(service.tool(spec) as unknown as ToolDefinition)
  app.tools.add(service.approvalTool() as unknown as ToolDefinition)
  app.log.info({ environment: options.environment, production: fences.production, confirm: options.confirmTools, approval: options.approvalTools }, 'mutation tools enabled')
}, { name: 'kafscale-mutations', fastify: '5.x', dependencies: [TOOL_REGISTRY_PLUGIN, 'kafscale-audit', 'kafscale-auth', 'kafscale-store', 'kafscale-broker-control', 'kafscale-telemetry'] })

/**
 * The admin client, made on first use: its bootstrap brokers are the configured ones, else the
 * snapshot's, which is loaded only after start. The flavour setting overrides detection.
 */
function lazyAdmin (options: MutationsPluginOptions, snapshotBrokers: () => string[]): { admin: AdminApi, close: () => Promise<void> } {
  let client: KafkaAdmin | undefined
  const connect = (): KafkaAdmin => {
    if (client === undefined) {
      const bootstrap = options.kafkaBootstrap.length > 0 ? options.kafkaBootstrap : snapshotBrokers()
      if (bootstrap.length === 0) throw new BrokerUnavailableError('(none)', 'the etcd snapshot lists no broker to send admin requests to; set KAFSCALE_MCP_KAFKA_BOOTSTRAP')
      client = new KafkaAdmin({ bootstrapBrokers: bootstrap, clientId: options.kafkaClientId, timeoutMs: options.kafkaTimeoutMs })
    }
    return client
  }
  const forced = options.kafkaFlavor
  const admin: AdminApi = {
    flavor: async () => forced === 'auto' ? await connect().flavor() : forced,
    listTopics: async () => await connect().listTopics(),
    brokers: async () => await connect().brokers(),
    describeTopicConfig: async (topic) => await connect().describeTopicConfig(topic),
    describeGroup: async (id) => await connect().describeGroup(id),
    groupOffsets: async (id) => await connect().groupOffsets(id),
    createTopic: async (spec) => { await connect().createTopic(spec) },
    deleteTopic: async (topic) => { await connect().deleteTopic(topic) },
    createPartitions: async (topic, count) => { await connect().createPartitions(topic, count) },
    alterTopicConfig: async (topic, entries) => { await connect().alterTopicConfig(topic, entries) },
    deleteGroup: async (id) => { await connect().deleteGroup(id) }
  }
  return { admin, close: async () => { await client?.close() } }
}
