import { channel } from 'node:diagnostics_channel'
import type { FastifyRequest } from 'fastify'

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
