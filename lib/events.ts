import { channel } from 'node:diagnostics_channel'
import type { FastifyRequest } from 'fastify'
import type { Store } from './stores/store.ts'

/** How the cache handled a request. */
export type CacheOutcome = 'hit' | 'stale' | 'miss' | 'stored' | 'bypass' | 'store-error'

/** What the `fastify-fancy-cache` diagnostics channel publishes for each cacheable request. */
export interface CacheEvent {
  outcome: CacheOutcome
  request: FastifyRequest
  /** The cache key, when one was computed. */
  key: string | undefined
}

/**
 * Metrics and tracing without patching the plugin: `diagnostics_channel.subscribe('fastify-fancy-cache', fn)`.
 * Publishing costs nothing while nobody subscribes.
 */
export const cacheChannel = channel('fastify-fancy-cache')

export function publish (outcome: CacheOutcome, request: FastifyRequest, key: string | undefined): void {
  if (cacheChannel.hasSubscribers) cacheChannel.publish({ outcome, request, key } satisfies CacheEvent)
}

/** What a purge removed: remembered URLs by pattern, tags, one key, everything, or a write's URLs. */
export type PurgeKind = 'urls' | 'tags' | 'key' | 'clear' | 'write'

/** What the `fastify-fancy-cache:purge` diagnostics channel publishes once a purge is done. */
export interface PurgeEvent {
  kind: PurgeKind
  /** Whether the entries were marked stale (soft) rather than deleted. */
  soft: boolean
  /** The patterns (`urls`) or exact URLs (`write`) purged. */
  urls?: string[]
  /** The tags purged (`tags`). */
  tags?: string[]
  /** The key purged (`key`). */
  key?: string
  /** Keys purged (for `clear`, the entries the store held; 0 when nobody listened at the time). */
  count: number
  /** The store purged: tells apart the caches of several apps in one process. */
  store: Store
}

/**
 * Every purge, soft or hard, for forwarding to a CDN or counting:
 * `diagnostics_channel.subscribe('fastify-fancy-cache:purge', fn)`. Costs nothing while nobody subscribes.
 */
export const purgeChannel = channel('fastify-fancy-cache:purge')

/** Announce a finished purge (a no-op while nobody subscribes). */
export function publishPurge (event: PurgeEvent): void {
  if (purgeChannel.hasSubscribers) purgeChannel.publish(event)
}
