import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { invalidRouteConfig, missingRedis } from './lib/errors.ts'
import { StoreGuard } from './lib/guard.ts'
import { createHooks, kState, routeOf, type GuardedStore } from './lib/hooks.ts'
import { resolveOptions, type FancyCacheOptions, type ResolvedOptions, type RouteCacheConfig } from './lib/options.ts'
import { MemoryStore } from './lib/stores/memory.ts'
import type { Store } from './lib/stores/store.ts'
import { createApi, type FancyCacheApi } from './lib/urls.ts'

export type { AdminOptions, Body, FancyCacheOptions, RouteCacheConfig } from './lib/options.ts'
export type { CacheEntry, EntryMeta, Lookup, RememberedEntry, ScanPage, Stats, Store, StoreSummary } from './lib/stores/store.ts'
export type { MemoryStoreOptions } from './lib/stores/memory.ts'
export type { L1Options, RedisStoreOptions } from './lib/stores/redis/store.ts'
export { RedisStore } from './lib/stores/redis/store.ts'
export type { FancyCacheApi, FoundUrl, UrlPage } from './lib/urls.ts'
export { errorCodes, FancyCacheError } from './lib/errors.ts'
export type { CacheEvent, CacheOutcome } from './lib/events.ts'
export { MemoryStore }

declare module 'fastify' {
  interface FastifyInstance {
    /** Find, count and purge cached pages (fastify-fancy-cache). */
    fancyCache: FancyCacheApi
  }
  interface FastifyContextConfig {
    /** Cache this route's responses: `true`, a ttl in seconds, or settings (fastify-fancy-cache). */
    fancyCache?: RouteCacheConfig | number | boolean
  }
}

async function makeStore (app: FastifyInstance, options: ResolvedOptions): Promise<{ store: Store, owned: boolean }> {
  if (typeof options.store === 'object') return { store: options.store, owned: false }
  if (options.store === 'memory') {
    return { store: new MemoryStore({ maxEntries: options.maxEntries, maxBytes: options.maxBytes }), owned: true }
  }
  const client = options.redis ?? (app as FastifyInstance & { redis?: FancyCacheOptions['redis'] }).redis
  if (client === undefined) throw missingRedis()
  const { RedisStore } = await import('./lib/stores/redis/store.ts')
  return { store: new RedisStore({ client, namespace: options.namespace, l1: options.l1 }), owned: true }
}

async function fancyCachePlugin (app: FastifyInstance, opts: FancyCacheOptions) {
  const options = resolveOptions(opts)
  const { store, owned } = await makeStore(app, options)
  // The memory store the plugin made itself can neither fail nor hang: its calls skip the guard's timer.
  const guard = new StoreGuard(options.storeTimeout, app.log)
  const guarded: GuardedStore = options.store === 'memory'
    ? { store, call: (op) => op(store) }
    : { store, call: (op) => guard.call(() => op(store)) }

  app.addHook('onRoute', (route) => {
    const config = (route.config ?? {}) as Record<string | symbol, unknown>
    const label = `${Array.isArray(route.method) ? route.method.join(',') : route.method} ${route.url}`
    const resolved = routeOf(config, options, label)
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (resolved !== null && !methods.some((m) => m === 'GET' || m === 'HEAD')) {
      throw invalidRouteConfig(label, 'config.fancyCache is set but only GET and HEAD responses are cached')
    }
    route.config = config as typeof route.config
  })
  app.decorateRequest(kState, null)
  const { onRequest, onSend } = createHooks(app, options, guarded)
  app.addHook('onRequest', onRequest)
  app.addHook('onSend', onSend)
  app.decorate('fancyCache', createApi(store))
  if (owned && store.close !== undefined) app.addHook('onClose', async () => { await store.close!() })
  if (options.admin !== false || (options.metrics ?? false) !== false) {
    // The admin page and the metrics share one collector of the cache's events (lib/admin/).
    const { registerAdmin } = await import('./lib/admin/index.ts')
    await registerAdmin(app, {
      admin: options.admin,
      metrics: options.metrics,
      api: app.fancyCache,
      rememberAllUrls: options.rememberAllUrls,
      rememberStatsAllUrls: options.rememberStatsAllUrls,
      namespace: options.namespace
    })
  }
}

/** The plugin: `app.register(fancyCache, options)`. */
export const fancyCache = fp(fancyCachePlugin, { fastify: '5.x', name: 'fastify-fancy-cache' })
export default fancyCache
