import { AsyncLocalStorage } from 'node:async_hooks'
import type { FastifyInstance } from 'fastify'
import { ResourceNotFoundError, type McpServer, type ServerCapabilities, type ServerEvent, type ServerEventBus, type SubscriptionFilter } from '@modelcontextprotocol/server'
import type { ChangeFeed, ClusterChange, FeedInterest } from '../lib/store/change-feed.ts'
import type { ToolRegistry } from '../core/registry.ts'
import type { Caller } from '../core/tool.ts'
import { CLUSTER_URI, groupUri, parseResourceUri, RESOURCE_TOOLS, servesKind, topicConfigUri, topicUri, type ResourceKind } from './resource-uris.ts'

// Cluster changes as MCP notifications, in the two ways the protocol eras deliver them:
// - 2026-07-28: `subscriptions/listen` streams, served by the SDK's listen router over the bus
//   below. The router asks the bus for one listener per stream; the stream's caller and filter
//   ride in an AsyncLocalStorage scope around the request (`withListenScope`), so each stream
//   hears only of what its caller may see, and starts only the watches its filter needs.
// - 2025 era, on a connection that outlives a request (HTTP+SSE, stdio): `resources/subscribe`
//   and `unsubscribe`, `notifications/resources/updated` for subscribed URIs and
//   `notifications/resources/list_changed` when topics or groups appear or go away.
// A stateless 2025-era POST has no way to carry a notification: nothing is advertised there.
// The tool list does not follow the cluster, so tools (and prompts) never announce list changes.

/** Kinds of resources a caller sees, decided by the policy at the moment a change is told. */
type Visible = ReadonlySet<ResourceKind>

interface ListenScope {
  caller: Caller
  filter: SubscriptionFilter | undefined
}

/** What to tell one caller of a batch of changes. */
export interface Notifications {
  listChanged: boolean
  updated: string[]
}

export class LiveUpdates {
  private readonly feed: ChangeFeed
  private readonly registry: ToolRegistry
  private readonly scopes = new AsyncLocalStorage<ListenScope>()
  private readonly onError: (err: Error) => void

  /**
   * The bus for createMcpHandler. Its events come from the feed, per stream: an event published
   * by anyone else would reach callers without their policy applied, so publish drops it.
   */
  readonly bus: ServerEventBus = {
    publish: () => {},
    subscribe: (listener) => this.subscribeStream(listener)
  }

  constructor (feed: ChangeFeed, registry: ToolRegistry, onError: (err: Error) => void = () => {}) {
    this.feed = feed
    this.registry = registry
    this.onError = onError
  }

  /** Runs a subscriptions/listen request with its caller and filter known to the bus. */
  async withListenScope<T> (caller: Caller, body: unknown, serve: () => Promise<T>): Promise<T> {
    return await this.scopes.run({ caller, filter: listenFilterOf(body) }, serve)
  }

  private subscribeStream (listener: (event: ServerEvent) => void): () => void {
    const scope = this.scopes.getStore()
    // A stream opened outside a scope has no known caller: it hears nothing.
    if (scope === undefined) return () => {}
    const { caller, filter } = scope
    const feedListener = this.feed.listen((changes) => {
      const { listChanged, updated } = notificationsFor(changes, this.visibleTo(caller))
      if (listChanged) listener({ kind: 'resources_list_changed' })
      for (const uri of updated) listener({ kind: 'resource_updated', uri })
    }, interestOf(filter?.resourceSubscriptions ?? [], filter?.resourcesListChanged === true))
    return () => { feedListener.close() }
  }

  /**
   * Makes a 2025-era session's server deliver changes: resources/subscribe and unsubscribe, and
   * a feed listener for the session's life (until the server closes). Call before connecting.
   */
  attachSession (server: McpServer, caller: Caller): void {
    const subscribed = new Set<string>()
    const visibleNow = (): Visible => this.visibleTo(caller)
    const interest = (): FeedInterest => interestOf(subscribed, visibleNow().has('group'))
    const feedListener = this.feed.listen((changes) => {
      const { listChanged, updated } = notificationsFor(changes, visibleNow())
      if (listChanged) server.sendResourceListChanged()
      for (const uri of updated) {
        if (subscribed.has(uri)) server.server.sendResourceUpdated({ uri }).catch((err: Error) => { this.onError(err) })
      }
    }, interest())
    const { server: protocol } = server
    protocol.setRequestHandler('resources/subscribe', async (request) => {
      const { uri } = request.params
      const ref = parseResourceUri(uri)
      if (ref === undefined || !visibleNow().has(ref.kind)) throw new ResourceNotFoundError(uri, `no resource ${uri} to subscribe to`)
      subscribed.add(uri)
      feedListener.update(interest())
      return {}
    })
    protocol.setRequestHandler('resources/unsubscribe', async (request) => {
      subscribed.delete(request.params.uri)
      feedListener.update(interest())
      return {}
    })
    const previous = protocol.onclose
    protocol.onclose = () => {
      feedListener.close()
      previous?.()
    }
  }

  private visibleTo (caller: Caller): Visible {
    const callable = new Set<string>()
    for (const name of new Set(Object.values(RESOURCE_TOOLS).flat())) {
      const tool = this.registry.get(name)
      if (tool !== undefined && this.registry.decide(caller.principal, tool).allowed) callable.add(name)
    }
    return new Set((Object.keys(RESOURCE_TOOLS) as ResourceKind[]).filter((kind) => servesKind(kind, callable)))
  }
}

/** The transports' live updates over the service's change feed; undefined without a store. */
export function liveUpdatesOf (app: FastifyInstance): LiveUpdates | undefined {
  return app.changeFeed === undefined ? undefined : new LiveUpdates(app.changeFeed, app.tools, (err) => { app.log.warn({ err: err.message }, 'live updates') })
}

/**
 * What a server advertises of live updates: subscriptions and resource list changes where its
 * connection can carry them (a listen stream, or a session) and the service has a change feed;
 * never tool or prompt list changes (those lists do not follow the cluster). Applied over the
 * SDK's defaults, which claim listChanged for every list.
 */
export function liveCapabilities (deliverable: boolean, current: ServerCapabilities): ServerCapabilities {
  return {
    ...(current.tools !== undefined ? { tools: { listChanged: false } } : {}),
    ...(current.prompts !== undefined ? { prompts: { listChanged: false } } : {}),
    ...(current.resources !== undefined ? { resources: { listChanged: deliverable, subscribe: deliverable } } : {})
  }
}

/** The feed interest of subscribed URIs: the groups and configs they name, and groups appearing or going when lists are followed. */
function interestOf (uris: Iterable<string>, lists: boolean): FeedInterest {
  const topicConfigs: string[] = []
  const groupIds: string[] = []
  for (const uri of uris) {
    const ref = parseResourceUri(uri)
    if (ref?.kind === 'topicConfig') topicConfigs.push(ref.name)
    else if (ref?.kind === 'group') groupIds.push(ref.groupId)
  }
  return { groups: lists, groupIds, topicConfigs }
}

/** A batch of changes as one caller may hear of it: only kinds of resources it sees. */
export function notificationsFor (changes: readonly ClusterChange[], visible: Visible): Notifications {
  let listChanged = false
  const updated: string[] = []
  for (const change of changes) {
    switch (change.kind) {
      case 'cluster':
        if (visible.has('cluster')) updated.push(CLUSTER_URI)
        break
      case 'topic':
        if (!visible.has('topic')) break
        if (change.change !== 'changed') listChanged = true
        updated.push(topicUri(change.name))
        break
      case 'topic-config':
        if (visible.has('topicConfig')) updated.push(topicConfigUri(change.name))
        break
      case 'group':
        if (!visible.has('group')) break
        if (change.change !== 'changed') listChanged = true
        updated.push(groupUri(change.groupId))
        break
    }
  }
  return { listChanged, updated }
}

/** The filter of a subscriptions/listen request body; the SDK validates it again before it serves. */
function listenFilterOf (body: unknown): SubscriptionFilter | undefined {
  const notifications = (body as { params?: { notifications?: unknown } } | null)?.params?.notifications
  if (notifications === null || typeof notifications !== 'object') return undefined
  const { resourceSubscriptions, resourcesListChanged } = notifications as Record<string, unknown>
  return {
    ...(Array.isArray(resourceSubscriptions) ? { resourceSubscriptions: resourceSubscriptions.filter((u): u is string => typeof u === 'string') } : {}),
    ...(resourcesListChanged === true ? { resourcesListChanged: true } : {})
  }
}
