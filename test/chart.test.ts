import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { parseAllDocuments } from 'yaml'
import { Namespace, Secret, ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import { loadConfig } from '../lib/config.ts'
import { parsePolicy } from '../lib/auth/policy.ts'

// The chart rendered by the real Helm 3 binary (scripts/ensure-helm.sh builds it once).
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const HELM = process.env.HELM_BINARY ?? join(ROOT, '.cache/bin/helm')
const CHART = join(ROOT, 'chart')
const fixture = (name: string): string => join(ROOT, 'test/fixtures/chart', name)

async function helm (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(HELM, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : 1), stdout, stderr }))
  })
}

type Manifest = { kind: string, metadata: { name: string, namespace?: string, annotations?: Record<string, string> }, [k: string]: any }

async function render (args: string[]): Promise<Manifest[]> {
  const { code, stdout, stderr } = await helm(['template', 'kafscale', CHART, '--kube-version', '1.31.0', ...args])
  if (code !== 0) throw new Error(stderr)
  return parseAllDocuments(stdout).map((d) => d.toJS() as Manifest).filter((m) => m !== null)
}

const MODELS: Record<string, new (data: any) => { validate: () => void }> = {
  Namespace, Secret, ConfigMap, Service, ServiceAccount, Deployment, Ingress, NetworkPolicy, PodDisruptionBudget, ServiceMonitor
}

function validateAll (t: Test, manifests: Manifest[]): void {
  for (const m of manifests) {
    const Model = MODELS[m.kind]
    t.ok(Model, `${m.kind} has a schema`)
    t.doesNotThrow(() => new Model!(m).validate(), `${m.kind}/${m.metadata.name} is valid against the Kubernetes schema`)
  }
}

function checkRestricted (t: Test, deployment: Manifest): void {
  const pod = deployment.spec.template.spec
  t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } }, 'pod: PSA restricted')
  t.notOk(pod.hostNetwork ?? pod.hostPID ?? pod.hostIPC, 'no host namespaces')
  t.equal(pod.automountServiceAccountToken, false)
  for (const c of pod.containers) {
    t.match(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } }, `container ${c.name}: PSA restricted`)
    t.notOk(c.securityContext.capabilities.add, 'no added capabilities')
  }
  t.notOk(pod.volumes.some((v: any) => v.hostPath !== undefined), 'no hostPath volumes')
  t.same(pod.containers[0].readinessProbe.httpGet, { path: '/readyz', port: 'http' })
  t.same(pod.containers[0].livenessProbe.httpGet, { path: '/healthz', port: 'http' })
}

const envOf = (deployment: Manifest): Array<{ name: string, value?: string, valueFrom?: any }> => deployment.spec.template.spec.containers[0].env

t.test('helm lint passes', async (t) => {
  for (const values of [[], ['-f', fixture('kafscale-docs-values.yaml')], ['-f', fixture('full-values.yaml')]]) {
    const { code, stdout, stderr } = await helm(['lint', CHART, '--strict', ...values])
    t.equal(code, 0, `lint ${values.join(' ') || '(defaults)'}: ${stdout}${stderr}`)
  }
})

t.test('default values render nothing', async (t) => {
  t.same(await render([]), [])
  t.same(await render(['--set', 'mcp.ingress.enabled=true']), [], 'not even the ingress (KafScale\'s chart renders it)')
})

t.test('KafScale\'s documented mcp block renders a working, safer set', async (t) => {
  const manifests = await render(['-f', fixture('kafscale-docs-values.yaml')])
  t.same(manifests.map((m) => m.kind).sort(), ['Deployment', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount'])
  validateAll(t, manifests)
  t.ok(manifests.every((m) => m.kind === 'Namespace' || m.metadata.namespace === 'kafscale-mcp'), 'everything in the dedicated namespace')
  const deployment = manifests.find((m) => m.kind === 'Deployment')!
  checkRestricted(t, deployment)
  const secret = manifests.find((m) => m.kind === 'Secret')!
  t.equal(Buffer.from(secret.data.token, 'base64').toString(), '<bearer-token>', 'the token lives in a Secret')
  const rendered = JSON.stringify(deployment)
  t.notOk(rendered.includes('<bearer-token>'), 'and nowhere in the Deployment')
  t.match(deployment.spec.template.metadata.annotations, { 'checksum/secret': /^[0-9a-f]{64}$/, 'checksum/policy': /^[0-9a-f]{64}$/ })
  t.same(deployment.spec.template.spec.volumes.find((v: any) => v.name === 'token'), { name: 'token', secret: { secretName: 'kafscale-mcp-secrets', items: [{ key: 'token', path: 'token' }] } })

  // The env is a working configuration: the service's own loader accepts it.
  const dir = mkdtempSync(join(tmpdir(), 'chart-env-'))
  writeFileSync(join(dir, 'token'), '<bearer-token>')
  const env = Object.fromEntries(envOf(deployment).map((e) => [e.name, e.name === 'KAFSCALE_MCP_AUTH_TOKEN_FILE' ? join(dir, 'token') : e.value]))
  const config = loadConfig([], env)
  t.match(config, {
    host: '0.0.0.0',
    port: 8090,
    authMode: 'static',
    etcdEndpoints: ['http://etcd.kafscale.svc:2379'],
    brokerMetricsUrl: 'http://kafscale-broker.kafscale.svc:9093/metrics',
    sessionTimeoutMs: 1_800_000,
    auditStdout: true,
    lagWindowCommits: 10,
    lagWindowSpanMs: 900_000,
    lagSampleIntervalMs: 30_000
  })
  t.notOk(env.KAFSCALE_MCP_LAG_WINDOW_SPAN ?? env.KAFSCALE_MCP_LAG_SAMPLE_INTERVAL, 'an unset duration is left to the service')
})

t.test('a full OIDC + RBAC + audit values file renders what it says', async (t) => {
  const manifests = await render(['-f', fixture('full-values.yaml')])
  t.same(manifests.map((m) => m.kind).sort(), ['ConfigMap', 'Deployment', 'Ingress', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount', 'ServiceMonitor'])
  validateAll(t, manifests)
  const deployment = manifests.find((m) => m.kind === 'Deployment')!
  checkRestricted(t, deployment)
  t.equal(deployment.spec.replicas, 2)
  t.equal(deployment.spec.template.spec.containers[0].image, 'ghcr.io/kafscale/kafscale-mcp:1.2.3')
  const env = Object.fromEntries(envOf(deployment).map((e) => [e.name, e.value ?? e.valueFrom]))
  t.match(env, {
    KAFSCALE_MCP_AUTH_MODE: 'oidc',
    KAFSCALE_MCP_OIDC_ISSUER: 'https://login.example.com/realms/ops',
    KAFSCALE_MCP_RESOURCE_URL: 'https://mcp.example.com/mcp',
    KAFSCALE_MCP_OIDC_GROUPS_CLAIM: 'roles',
    KAFSCALE_MCP_OIDC_ALGORITHMS: 'RS256,ES256',
    KAFSCALE_MCP_OIDC_MAX_TOKEN_LIFETIME: '30m',
    KAFSCALE_MCP_ETCD_ENDPOINTS: 'https://etcd-0.etcd:2379,https://etcd-1.etcd:2379',
    KAFSCALE_MCP_ETCD_USERNAME: 'mcp-reader',
    KAFSCALE_MCP_ETCD_PASSWORD: { secretKeyRef: { name: 'etcd-credentials', key: 'password' } },
    KAFSCALE_MCP_ETCD_CA_FILE: '/var/run/secrets/kafscale-mcp/etcd-tls/ca.crt',
    KAFSCALE_MCP_ETCD_CERT_FILE: '/var/run/secrets/kafscale-mcp/etcd-tls/tls.crt',
    KAFSCALE_MCP_ETCD_KEY_FILE: '/var/run/secrets/kafscale-mcp/etcd-tls/tls.key',
    KAFSCALE_MCP_BROKER_METRICS_URLS: '0=http://broker-0.kafscale:9093/metrics',
    KAFSCALE_MCP_OPERATOR_METRICS_URL: 'http://kafscale-operator.kafscale.svc:8080/metrics',
    KAFSCALE_ENV: 'prod',
    KAFSCALE_MCP_POLICY_FILE: '/etc/kafscale-mcp/policy/policy.yaml',
    KAFSCALE_MCP_AUDIT_FILE: '/var/log/kafscale-mcp/audit.jsonl',
    KAFSCALE_MCP_AUDIT_READS: 'closed',
    KAFSCALE_MCP_RATE_LIMIT: '120',
    KAFSCALE_MCP_MAX_CONCURRENT: '8',
    KAFSCALE_MCP_MAX_STREAMS: '4',
    KAFSCALE_MCP_MAX_STREAMS_TOTAL: '200',
    KAFSCALE_MCP_ALLOWED_ORIGINS: 'console.example.com',
    KAFSCALE_MCP_PLUGINS: '/plugins/partition-leaders/index.ts',
    KAFSCALE_MCP_LAG_WINDOW_COMMITS: '20',
    KAFSCALE_MCP_LAG_WINDOW_SPAN: '30m',
    KAFSCALE_MCP_LAG_SAMPLE_INTERVAL: '10s'
  })
  const lagEnv = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('KAFSCALE_MCP_LAG_')))
  t.match(loadConfig(['--http-addr', '127.0.0.1:0'], lagEnv), { lagWindowCommits: 20, lagWindowSpanMs: 1_800_000, lagSampleIntervalMs: 10_000 }, 'the lag settings as the service reads them')
  t.notOk('KAFSCALE_MCP_AUTH_TOKEN_FILE' in env, 'no static token in OIDC mode')
  const configMap = manifests.find((m) => m.kind === 'ConfigMap')!
  const policy = parsePolicy(configMap.data['policy.yaml'], 'policy.yaml')
  t.same(Object.keys(policy.roles).sort(), ['lag-reader', 'observer'], 'the policy ConfigMap is a policy the service accepts')
  const mounts = deployment.spec.template.spec.containers[0].volumeMounts.map((m: any) => m.mountPath)
  t.same(mounts, ['/tmp', '/etc/kafscale-mcp/policy', '/var/run/secrets/kafscale-mcp/etcd-tls', '/var/log/kafscale-mcp'])
  t.same(deployment.spec.template.spec.volumes.find((v: any) => v.name === 'etcd-tls'), {
    name: 'etcd-tls',
    secret: { secretName: 'etcd-client-tls', items: [{ key: 'ca.crt', path: 'ca.crt' }, { key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] }
  }, 'the etcd TLS files come from the Secret, mounted read-only')
  const np = manifests.find((m) => m.kind === 'NetworkPolicy')!
  t.same(np.spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values, ['ingress-nginx', 'ai-agents'])
  t.ok(np.spec.egress[1].ports.some((p: any) => p.port === 443), 'egress to the identity provider')
  t.equal(manifests.find((m) => m.kind === 'ServiceMonitor')!.spec.endpoints[0].path, '/metrics')
  t.equal(manifests.find((m) => m.kind === 'Ingress')!.spec.rules[0].host, 'mcp.example.com')
})

t.test('values.schema.json rejects a misspelled key and a wrong type', async (t) => {
  const typo = await helm(['template', 'kafscale', CHART, '-f', fixture('kafscale-docs-values.yaml'), '--set', 'mcp.etcdEndpoint[0]=http://etcd:2379'])
  t.not(typo.code, 0)
  t.match(typo.stderr, /additional properties 'etcdEndpoint' not allowed|etcdEndpoint/)
  const wrongType = await helm(['template', 'kafscale', CHART, '-f', fixture('kafscale-docs-values.yaml'), '--set-string', 'mcp.replicaCount=two'])
  t.not(wrongType.code, 0)
  t.match(wrongType.stderr, /replicaCount/)
  const tooShort = await helm(['template', 'kafscale', CHART, '-f', fixture('kafscale-docs-values.yaml'), '--set', 'mcp.lag.windowCommits=1'])
  t.not(tooShort.code, 0)
  t.match(tooShort.stderr, /windowCommits/)
})

t.test('no authentication configured: the install fails with the fix in words', async (t) => {
  const { code, stderr } = await helm(['template', 'kafscale', CHART, '--set', 'mcp.enabled=true', '--kube-version', '1.31.0'])
  t.not(code, 0)
  t.match(stderr, 'the service refuses to serve without authentication')
})

t.test('the etcd password over plain http:// fails the install unless allowed', async (t) => {
  const withPassword = ['-f', fixture('kafscale-docs-values.yaml'), '--set', 'mcp.etcd.username=mcp', '--set', 'mcp.etcd.password=s3cret']
  const refused = await helm(['template', 'kafscale', CHART, '--kube-version', '1.31.0', ...withPassword])
  t.not(refused.code, 0)
  t.match(refused.stderr, 'mcp.etcd: the service refuses to send the etcd password in clear text over http://etcd.kafscale.svc:2379. Use https:// endpoints')
  t.notMatch(refused.stderr, 's3cret')
  const allowed = await render([...withPassword, '--set', 'mcp.etcd.allowInsecurePassword=true'])
  const env = Object.fromEntries(envOf(allowed.find((m) => m.kind === 'Deployment')!).map((e) => [e.name, e.value ?? e.valueFrom]))
  t.equal(env.KAFSCALE_MCP_ETCD_ALLOW_INSECURE_PASSWORD, 'true')
  const tls = await render(['-f', fixture('kafscale-docs-values.yaml'), '--set', 'mcp.etcdEndpoints[0]=https://etcd.kafscale.svc:2379', '--set', 'mcp.etcd.tls.existingSecret=etcd-ca', '--set', 'mcp.etcd.tls.certKey=', '--set', 'mcp.etcd.tls.keyKey='])
  const tlsDeployment = tls.find((m) => m.kind === 'Deployment')!
  const tlsEnv = envOf(tlsDeployment).map((e) => e.name)
  t.ok(tlsEnv.includes('KAFSCALE_MCP_ETCD_CA_FILE'), 'a CA alone')
  t.notOk(tlsEnv.includes('KAFSCALE_MCP_ETCD_CERT_FILE') || tlsEnv.includes('KAFSCALE_MCP_ETCD_KEY_FILE'), 'no client certificate when its keys are ""')
  t.same(tlsDeployment.spec.template.spec.volumes.find((v: any) => v.name === 'etcd-tls').secret.items, [{ key: 'ca.crt', path: 'ca.crt' }])
})

// ---- mutations ----

const MUTATION_ENV = ['KAFSCALE_MCP_MUTATIONS', 'KAFSCALE_MCP_PLAN_KEY_FILE', 'KAFSCALE_MCP_KAFKA_BOOTSTRAP', 'KAFSCALE_MCP_KAFKA_CLIENT_ID', 'KAFSCALE_MCP_CONFIRM_TOOLS', 'KAFSCALE_MCP_APPROVAL_TOOLS']
const egressPorts = (manifests: Manifest[]): number[] => manifests.find((m) => m.kind === 'NetworkPolicy')!.spec.egress.flatMap((rule: any) => rule.ports.map((p: any) => p.port))

t.test('by default no mutation setting reaches the pod', async (t) => {
  for (const values of ['kafscale-docs-values.yaml', 'full-values.yaml']) {
    const manifests = await render(['-f', fixture(values)])
    const deployment = manifests.find((m) => m.kind === 'Deployment')!
    const names = envOf(deployment).map((e) => e.name)
    t.same(names.filter((name) => MUTATION_ENV.includes(name)), [], `${values}: no mutation env`)
    t.ok(names.includes('KAFSCALE_MCP_BROKER_CONTROL_PORT'), `${values}: the control-plane port, which the read tool broker_status uses too`)
    t.notOk(deployment.spec.template.spec.volumes.some((v: any) => v.name === 'plan-key'), `${values}: no plan key volume`)
    t.notOk(egressPorts(manifests).includes(9092), `${values}: no egress to the brokers' Kafka port`)
  }
  const ignored = await render(['-f', fixture('full-values.yaml'), '--set', 'mcp.mutations.planKey.existingSecret=plan-key', '--set', 'mcp.mutations.kafkaClientId=mcp-admin'])
  t.same(envOf(ignored.find((m) => m.kind === 'Deployment')!).map((e) => e.name).filter((name) => MUTATION_ENV.includes(name)), [], 'mutation values without enabled: still nothing')
})

t.test('mutations enabled with OIDC and a plan key Secret: the env and the volume the service needs', async (t) => {
  const manifests = await render(['-f', fixture('full-values.yaml'),
    '--set', 'mcp.mutations.enabled=true', '--set', 'mcp.mutations.planKey.existingSecret=mcp-plan-key', '--set', 'mcp.mutations.planKey.key=seal',
    '--set', 'mcp.mutations.kafkaBootstrap={broker-0.kafscale:9092,broker-1.kafscale:9092}', '--set', 'mcp.mutations.kafkaClientId=kafscale-mcp-admin',
    '--set', 'mcp.mutations.confirmTools={delete_topic,delete_group}', '--set', 'mcp.mutations.approvalTools={delete_topic}', '--set', 'mcp.brokerControl.port=19095'])
  validateAll(t, manifests)
  const deployment = manifests.find((m) => m.kind === 'Deployment')!
  checkRestricted(t, deployment)
  const env = Object.fromEntries(envOf(deployment).map((e) => [e.name, e.value ?? e.valueFrom]))
  t.match(env, {
    KAFSCALE_MCP_MUTATIONS: 'true',
    KAFSCALE_MCP_PLAN_KEY_FILE: '/var/run/secrets/kafscale-mcp/plan-key/seal',
    KAFSCALE_MCP_KAFKA_BOOTSTRAP: 'broker-0.kafscale:9092,broker-1.kafscale:9092',
    KAFSCALE_MCP_KAFKA_CLIENT_ID: 'kafscale-mcp-admin',
    KAFSCALE_MCP_CONFIRM_TOOLS: 'delete_topic,delete_group',
    KAFSCALE_MCP_APPROVAL_TOOLS: 'delete_topic',
    KAFSCALE_MCP_BROKER_CONTROL_PORT: '19095',
    KAFSCALE_ENV: 'prod'
  })
  const pod = deployment.spec.template.spec
  t.same(pod.volumes.find((v: any) => v.name === 'plan-key'), { name: 'plan-key', secret: { secretName: 'mcp-plan-key', items: [{ key: 'seal', path: 'seal' }] } })
  t.same(pod.containers[0].volumeMounts.find((m: any) => m.name === 'plan-key'), { name: 'plan-key', mountPath: '/var/run/secrets/kafscale-mcp/plan-key', readOnly: true })
  t.ok(egressPorts(manifests).includes(9092) && egressPorts(manifests).includes(19095), 'egress to the Kafka port and the control plane')

  // The service's own loader accepts this env and turns mutations on with it (the mounted files stand in a directory here).
  const dir = mkdtempSync(join(tmpdir(), 'chart-env-'))
  const mounted = (value: string): string => {
    if (!value.startsWith('/var/run/secrets/kafscale-mcp/')) return value
    const file = join(dir, value.split('/').at(-1)!)
    writeFileSync(file, 'k'.repeat(48))
    return file
  }
  const plain = Object.fromEntries(envOf(deployment).filter((e) => e.value !== undefined).map((e) => [e.name, mounted(e.value!)]))
  t.match(loadConfig([], plain), {
    authMode: 'oidc',
    mutations: { kafkaBootstrap: ['broker-0.kafscale:9092', 'broker-1.kafscale:9092'], kafkaClientId: 'kafscale-mcp-admin', planKeyFile: join(dir, 'seal'), confirmTools: ['delete_topic', 'delete_group'], approvalTools: ['delete_topic'] }
  })
})

t.test('mutations enabled without what they need: the install fails saying what to set', async (t) => {
  const fails = async (args: string[], message: string, why: string): Promise<void> => {
    const { code, stderr } = await helm(['template', 'kafscale', CHART, '--kube-version', '1.31.0', ...args])
    t.not(code, 0, why)
    t.match(stderr, message, why)
  }
  await fails(['-f', fixture('kafscale-docs-values.yaml'), '--set', 'mcp.mutations.enabled=true'],
    'mcp.mutations: the mutation tools need OIDC authentication, and auth is "static": the service refuses to start with mutations on a static token or no authentication. Set mcp.auth.oidc.issuer', 'a static token')
  await fails(['--set', 'mcp.enabled=true', '--set', 'mcp.auth.insecureNoAuth=true', '--set', 'mcp.mutations.enabled=true'], 'the mutation tools need OIDC authentication, and auth is "none"', 'no authentication')
  const oidc = ['--set', 'mcp.enabled=true', '--set', 'mcp.auth.oidc.issuer=https://idp.example.com', '--set', 'mcp.auth.oidc.resourceUrl=https://mcp.example.com/mcp', '--set', 'mcp.mutations.enabled=true']
  await fails([...oidc, '--set', 'mcp.audit.stdout=false'], 'mcp.mutations: the mutation tools need an audit sink (every apply writes its intent record before the change is sent): set mcp.audit.stdout=true or mcp.audit.file.', 'no audit sink')
  await fails([...oidc, '--set', 'mcp.replicaCount=3'], 'mcp.mutations.planKey.existingSecret: with 3 replicas every replica must verify the plans the others seal', 'replicas without a shared plan key')
  const single = await render([...oidc, '--set', 'mcp.audit.stdout=false', '--set', 'mcp.audit.file=/var/log/kafscale-mcp/audit.jsonl', '--set', 'mcp.audit.persistentVolumeClaim=mcp-audit'])
  const env = envOf(single.find((m) => m.kind === 'Deployment')!).map((e) => e.name)
  t.ok(env.includes('KAFSCALE_MCP_MUTATIONS') && !env.includes('KAFSCALE_MCP_PLAN_KEY_FILE'), 'one replica, the audit file as the only sink, no plan key: renders (the pod draws its own key)')
})
