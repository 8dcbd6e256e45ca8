import fp from 'fastify-plugin'
import type {
  ContextConfigDefault, FastifyBaseLogger, FastifyInstance, FastifySchema, FastifyTypeProvider, FastifyTypeProviderDefault,
  RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerBase, RawServerDefault, RouteGenericInterface,
  RouteHandlerMethod, RouteOptions, RouteShorthandOptions, RouteShorthandOptionsWithHandler
} from 'fastify'
import { missingRedis, storeTimeout } from './lib/errors.ts'
import { StoreGuard } from './lib/guard.ts'
import { decorateReply } from './lib/request/handle.ts'
import { createHooks } from './lib/request/hooks.ts'
import { resolveAtRoute } from './lib/request/route.ts'
import { kState } from './lib/request/state.ts'
import { resolveOptions, type FancyCacheOptions, type ResolvedOptions, type RouteCacheOption, type WithRouteCache } from './lib/options.ts'
import { MemoryStore } from './lib/stores/memory.ts'
import type { Store } from './lib/stores/store.ts'
import type { ReplyCacheControl } from './lib/request/handle.ts'
import { createApi, type FancyCacheApi } from './lib/api.ts'

export type { AdminOptions, Body, FancyCacheOptions, RouteCacheConfig, RouteCacheOption } from './lib/options.ts'
export type { CacheEntry, EntryMeta, Lookup, RememberedEntry, ScanPage, Stats, Store, StoreSummary } from './lib/stores/store.ts'
export type { MemoryStoreOptions } from './lib/stores/memory.ts'
export type { L1Options, RedisStoreOptions } from './lib/stores/redis/store.ts'
export { RedisStore } from './lib/stores/redis/store.ts'
export type { ApiOptions, CacheHealth, FancyCacheApi, FindUrlsOptions, FoundUrl, PurgeCallOptions, ScanTagsOptions, ScanUrlsOptions, TagPage, UrlPage, UrlRow } from './lib/api.ts'
export type { ReplyCacheControl } from './lib/request/handle.ts'
export { errorCodes, FancyCacheError } from './lib/errors.ts'
export type { CacheEvent, CacheOutcome, PurgeEvent, PurgeKind } from './lib/events.ts'
export { cacheChannel, purgeChannel } from './lib/events.ts'
export { MemoryStore }

declare module 'fastify' {
  interface FastifyInstance {
    /** Find, count and purge cached pages (fastify-fancy-cache). */
    fancyCache: FancyCacheApi
  }
  interface FastifyReply {
    /** Decide about the response being made: tags, ttl, or not storing it (fastify-fancy-cache). */
    fancyCache: ReplyCacheControl
  }
  interface FastifyContextConfig {
    /** Cache this route's responses: `true`, a ttl in seconds, or settings (fastify-fancy-cache). */
    fancyCache?: RouteCacheOption
  }
  // One more signature per route method, whose `config.fancyCache` is typed with the route's own generics: with
  // `app.get<{ Params: { id: string } }>(...)` its functions see `request.params.id` as a string, and a misspelt
  // setting fails to compile (Fastify's own signatures infer the config's type from the literal instead).
  interface RouteShorthandMethod<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
    Logger extends FastifyBaseLogger = FastifyBaseLogger
  > {
    <RouteGeneric extends RouteGenericInterface = RouteGenericInterface, ContextConfig = ContextConfigDefault,
      const SchemaCompiler extends FastifySchema = FastifySchema>(
      path: string,
      opts: WithRouteCache<RouteShorthandOptions<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig,
        SchemaCompiler, TypeProvider, Logger>, RouteGeneric, ContextConfig>,
      handler: RouteHandlerMethod<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, SchemaCompiler,
        TypeProvider, Logger>
    ): FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>
    <RouteGeneric extends RouteGenericInterface = RouteGenericInterface, ContextConfig = ContextConfigDefault,
      const SchemaCompiler extends FastifySchema = FastifySchema>(
      path: string,
      opts: WithRouteCache<RouteShorthandOptionsWithHandler<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig,
        SchemaCompiler, TypeProvider, Logger>, RouteGeneric, ContextConfig>
    ): FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>
  }
  interface FastifyInstance<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    Logger extends FastifyBaseLogger = FastifyBaseLogger,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault
  > {
    route<RouteGeneric extends RouteGenericInterface = RouteGenericInterface, ContextConfig = ContextConfigDefault,
      const SchemaCompiler extends FastifySchema = FastifySchema>(
      opts: WithRouteCache<RouteOptions<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, SchemaCompiler,
        TypeProvider, Logger>, RouteGeneric, ContextConfig>
    ): FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>
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
  const store = new RedisStore({
    client,
    namespace: options.namespace,
    l1: options.l1,
    log: app.log,
    allowEvictingPolicy: options.allowEvictingPolicy
  })
  return { store, owned: true }
}

/** Calls the API makes (purges, listings) may take longer than a request's lookup, but never hang. */
function bounded (ms: number) {
  return <T>(op: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined
    return Promise.race([
      op(),
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(storeTimeout(ms)), ms) })
    ]).finally(() => clearTimeout(timer))
  }
}

async function fancyCachePlugin (app: FastifyInstance, opts: FancyCacheOptions) {
  const options = resolveOptions(opts)
  const { store, owned } = await makeStore(app, options)
  // A store's start-up checks (the Redis store's eviction policy, say) fail ready() with their coded error; a store
  // the app made itself is checked too.
  const init = (store as Store & { init?: () => Promise<void> }).init
  if (init !== undefined) await init.call(store)
  // The memory store the plugin made itself can neither fail nor hang: its calls skip the guard's timer.
  const guard = options.store === 'memory' ? undefined : new StoreGuard(options.storeTimeout, app.log)

  // Entries carry the tag of their path only when some route purges on writes (it costs one tag per entry).
  const pathTags = { on: options.invalidateOnWrite }
  app.addHook('onRoute', (route) => {
    if (resolveAtRoute(route, options)?.invalidateOnWrite === true) pathTags.on = true
  })
  app.decorateRequest(kState, null)
  decorateReply(app)
  const { onRequest, onSend } = createHooks(app, options, { store, guard }, pathTags)
  app.addHook('onRequest', onRequest)
  app.addHook('onSend', onSend)
  app.decorate('fancyCache', createApi(store, {
    softPurgeGrace: options.softPurgeGrace,
    bounded: bounded(Math.max(options.storeTimeout * 10, 1000)),
    health: () => guard?.health ?? { up: true, circuitOpen: false }
  }))
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
