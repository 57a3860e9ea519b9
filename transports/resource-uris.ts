// The MCP resources' URIs and which tools a caller needs to see each kind: the resources are
// views of those tools, so the policy that grants the tools grants the resources, their
// listings and their change notifications alike.

export type ResourceKind = 'cluster' | 'topic' | 'topicConfig' | 'group'

export const RESOURCE_TOOLS: Readonly<Record<ResourceKind, readonly string[]>> = {
  cluster: ['cluster_status'],
  topic: ['describe_topics', 'list_topics'],
  topicConfig: ['describe_configs'],
  group: ['describe_group', 'list_groups', 'consumer_lag']
}

/** Whether a caller who may call these tools sees resources of this kind. */
export function servesKind (kind: ResourceKind, callable: ReadonlySet<string>): boolean {
  return RESOURCE_TOOLS[kind].every((tool) => callable.has(tool))
}

export const CLUSTER_URI = 'kafscale://cluster'
const TOPICS = 'kafscale://topics/'
const GROUPS = 'kafscale://groups/'
const CONFIG_SUFFIX = '/config'

export const topicUri = (name: string): string => `${TOPICS}${encodeURIComponent(name)}`
export const topicConfigUri = (name: string): string => `${topicUri(name)}${CONFIG_SUFFIX}`
export const groupUri = (groupId: string): string => `${GROUPS}${encodeURIComponent(groupId)}`

/** What a resource URI names, or undefined for one that is none of ours (or malformed). */
export type ResourceRef =
  | { kind: 'cluster' }
  | { kind: 'topic' | 'topicConfig', name: string }
  | { kind: 'group', groupId: string }

export function parseResourceUri (uri: string): ResourceRef | undefined {
  if (uri === CLUSTER_URI) return { kind: 'cluster' }
  if (uri.startsWith(TOPICS)) {
    const rest = uri.slice(TOPICS.length)
    const config = rest.endsWith(CONFIG_SUFFIX)
    const name = decoded(config ? rest.slice(0, -CONFIG_SUFFIX.length) : rest)
    return name === undefined ? undefined : { kind: config ? 'topicConfig' : 'topic', name }
  }
  if (uri.startsWith(GROUPS)) {
    const groupId = decoded(uri.slice(GROUPS.length))
    return groupId === undefined ? undefined : { kind: 'group', groupId }
  }
  return undefined
}

/** One percent-encoded path segment, as the resource templates' `{name}` matches it. */
function decoded (segment: string): string | undefined {
  if (segment === '' || segment.includes('/')) return undefined
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}
