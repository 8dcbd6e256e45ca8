import Type, { type TSchema } from 'typebox'
import Value from 'typebox/value'
import type { FastifyContextConfig, FastifyReply, FastifyRequest, RouteGenericInterface } from 'fastify'
import type { Redis, Cluster } from 'ioredis'
import { invalidOption, invalidRouteConfig } from './errors.ts'
import type { Store } from './stores/store.ts'
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, DEFAULT_NAMESPACE } from './defaults.ts'

/** A body as the post-processing functions see it: text for textual content types, bytes otherwise. */
export type Body = string | Buffer

/**
 * Per-route cache settings: `config: { fancyCache: ... }`. `RouteGeneric` is the route's own (`app.get<RouteGeneric>`),
 * so the functions see its typed `request.params`, `request.query` and headers.
 */
export interface RouteCacheConfig<RouteGeneric extends RouteGenericInterface = RouteGenericInterface> {
  // The functions are methods (checked bivariantly), so a config typed for one route is still a RouteCacheConfig.
  /** Seconds an entry stays fresh (Django's cache_page timeout); defaults to the plugin's `ttl`. */
  ttl?: number
  /** Extra key part (key_prefix); `null`/`undefined` bypasses the cache for this request. May be async. */
  keyPrefix? (request: FastifyRequest<RouteGeneric>): string | null | undefined | Promise<string | null | undefined>
  /** Only these query parameters make up the key; `[]` ignores the query string (only_get_keys). */
  onlyGetKeys?: string[]
  /** These query parameters are left out of the key (forget_get_keys). */
  forgetGetKeys?: string[]
  /** Runs once on a miss before storing; its result is stored and sent (post_process_response). */
  postProcessResponse? (body: Body, request: FastifyRequest<RouteGeneric>, reply: FastifyReply<RouteGeneric>): Body | Promise<Body>
  /** Runs on every cached or cacheable response after the store; its result is sent, never stored. */
  postProcessResponseAlways? (body: Body, request: FastifyRequest<RouteGeneric>, reply: FastifyReply<RouteGeneric>): Body | Promise<Body>
  /** Remember URL → key for this route (overrides `rememberAllUrls`). */
  rememberUrl?: boolean
  /** Count hits and misses for this route (overrides `rememberStatsAllUrls`). */
  rememberStats?: boolean
  /** Labels to purge groups of entries with `purgeTags`. May be async. */
  tags? (request: FastifyRequest<RouteGeneric>): string[] | Promise<string[]>
  /** Seconds an expired entry may be served while one request regenerates it (overrides the plugin's). */
  staleWhileRevalidate?: number
  /** Seconds an expired entry may be served when the handler fails (overrides the plugin's). */
  staleIfError?: number
  /** Cacheable status codes (overrides the plugin's). */
  statusCodes?: number[]
  /** Most Vary variants kept for one URL (overrides the plugin's `maxVariants`). */
  maxVariants?: number
  /** Whether unsafe requests to this route purge its URL's cached GET (overrides the plugin's `invalidateOnWrite`). */
  invalidateOnWrite?: boolean
  /** Where this route's freshness comes from (overrides the plugin's `freshness`). */
  freshness?: Freshness
}

/**
 * `'route'`: the route's ttl decides how long an entry is fresh. `'headers'`: the response's own Cache-Control,
 * CDN-Cache-Control and Expires decide, as a shared HTTP cache (RFC 9111) computes it; the ttl only applies to
 * responses that carry no freshness of their own.
 */
export type Freshness = 'route' | 'headers'

/**
 * What `config.fancyCache` takes: `true` (the plugin's settings), a ttl in seconds, `false` (not cached) or settings.
 * The `& object` turns a string such as `'60'` into a compile error even where Fastify infers the config's type.
 */
export type RouteCacheOption<RouteGeneric extends RouteGenericInterface = RouteGenericInterface> =
  (RouteCacheConfig<RouteGeneric> & object) | number | boolean

/** Fastify's route options with `config.fancyCache` typed for the route's generics; the rest as Fastify has them. */
export type WithRouteCache<Options, RouteGeneric extends RouteGenericInterface, ContextConfig> = Omit<Options, 'config'> & {
  config?: Omit<FastifyContextConfig, 'fancyCache'> & { fancyCache?: RouteCacheOption<RouteGeneric> } & ContextConfig
}

/** The admin page's options (`admin: true` takes all defaults). */
export interface AdminOptions {
  /** Where the page and its JSON API live. Default `/fancy-cache`. */
  prefix?: string
  /** Who may use the page; without it only loopback clients get in. */
  authorize?: (request: FastifyRequest) => boolean | Promise<boolean>
  /** Page title. Default `fancy-cache`. */
  title?: string
  /** Secret that signs CSRF tokens (16+ characters); give every instance the same one. Default: random per process. */
  secret?: string
  /**
   * Host names (`name` for any port, or `name:port`) the page answers to. Default: `localhost`, `127.0.0.1` and
   * `[::1]` without `authorize`; any host with it.
   */
  hosts?: string[]
}

/** Where a prom-client `Registry` (duck-typed) receives the cache's metrics. */
export interface MetricsRegistry {
  /** prom-client's `Registry.registerMetric`; what it receives has the shape of prom-client's `Metric`. */
  registerMetric (metric: never): void
  /** prom-client's `Registry.removeSingleMetric`, called when the app closes. */
  removeSingleMetric? (name: string): void
}

/** The Prometheus metrics endpoint's options (`metrics: true` takes all defaults). */
export interface MetricsOptions {
  /** `<prefix>/metrics` answers the Prometheus text format. Default `/fancy-cache`. */
  prefix?: string
  /** Who may scrape; defaults to `admin.authorize`, and without either only loopback clients get in. */
  authorize?: (request: FastifyRequest) => boolean | Promise<boolean>
  /** Also register the metrics in this prom-client `Registry` (the app's own `/metrics` then shows them). */
  registry?: MetricsRegistry
}

/** The plugin's options; every one is optional. */
export interface FancyCacheOptions {
  /** `'memory'` (default), `'redis'`, or any object implementing `Store`. */
  store?: 'memory' | 'redis' | Store
  /** ioredis client (or Cluster) for `store: 'redis'`; defaults to `fastify.redis`. Never closed by the plugin. */
  redis?: Redis | Cluster
  /**
   * With `store: 'redis'`: an in-process memory tier in front of Redis, kept coherent across instances through
   * Redis pub/sub. `true` uses the memory store's bounds. Default false.
   */
  l1?: boolean | { maxEntries?: number, maxBytes?: number }
  /**
   * With `store: 'redis'`: accept a Redis whose `maxmemory-policy` may evict any key (`allkeys-*`), although it may
   * evict what purges rely on. Default false: such a Redis is refused at start-up.
   */
  allowEvictingPolicy?: boolean
  /** Prefix of every key the plugin writes. Default `fancy-cache`. */
  namespace?: string
  /** Default seconds an entry stays fresh. Default 600. */
  ttl?: number
  /** Remember URL → key for every cached route (FANCY_REMEMBER_ALL_URLS). Default false. */
  rememberAllUrls?: boolean
  /** Count hits and misses per remembered URL (FANCY_REMEMBER_STATS_ALL_URLS). Default false. */
  rememberStatsAllUrls?: boolean
  /** Most entries the memory store keeps. Default 10000. */
  maxEntries?: number
  /** Most bytes the memory store keeps. Default 64 MiB. */
  maxBytes?: number
  /** Larger responses are sent but not stored. Default 1 MiB. */
  maxBodyBytes?: number
  /** Seconds an expired entry may be served while one request regenerates it. Default 0. */
  staleWhileRevalidate?: number
  /** Seconds an expired entry may be served when the handler fails (5xx or throws). Default 0. */
  staleIfError?: number
  /** Set Cache-Control max-age and Expires on stored responses, as Django does. Default true. */
  cacheHeaders?: boolean
  /** Cacheable status codes. Default [200]. */
  statusCodes?: number[]
  /** Milliseconds after which a store call counts as failed (fail open). Default 100. */
  storeTimeout?: number
  /**
   * Cookie names (`*` wildcards): a request carrying a matching cookie that `ignoreCookies` does not list neither
   * reads nor fills the cache. Default `['*']`: any cookie bypasses; `[]`: cookies never bypass.
   */
  bypassCookies?: string[]
  /** Cookie names (`*` wildcards) that never count for `bypassCookies`, e.g. `['_ga*', '_gid', '_fbp']`. Default []. */
  ignoreCookies?: string[]
  /**
   * Longest wait, in milliseconds, for another request's regeneration of the same page; then one waiter runs the
   * handler. Default 5000.
   */
  coalesceTimeout?: number
  /** Most Vary variants kept per URL; the least recently used goes first. Default 64. */
  maxVariants?: number
  /**
   * After a POST, PUT, PATCH or DELETE answered 2xx/3xx, purge the cached GET of its URL and of same-host
   * `Location` / `Content-Location` URLs. Default false (overridable per route).
   */
  invalidateOnWrite?: boolean
  /** Seconds a soft-purged entry may still be served stale while it is regenerated. Default 60. */
  softPurgeGrace?: number
  /** Send each response's tags in this header for a CDN (`'surrogate-key'`: space-separated, `'cache-tag'`: commas). Default false. */
  tagsHeader?: string | false
  /**
   * Query parameter names (`*` wildcards) dropped from every key, so tracking parameters never split the cache.
   * Default: `utm_*`, `gclid`, `dclid`, `gbraid`, `wbraid`, `fbclid`, `msclkid`, `mc_cid`, `mc_eid`, `_ga`, `_gl`,
   * `yclid`; `[]` keeps every parameter.
   */
  ignoreQueryParams?: string[]
  /** Where freshness comes from: the route's ttl (`'route'`, default) or the response's headers (`'headers'`). */
  freshness?: Freshness
  /**
   * In `'headers'` mode, honour the request's own Cache-Control (`max-age`, `min-fresh`, `max-stale`, `no-cache`,
   * `no-store`, `only-if-cached`). Default false: no client can bust or bypass a shared cache.
   */
  honorRequestCacheControl?: boolean
  /** Mount the admin page and JSON API. Default false. */
  admin?: boolean | AdminOptions
  /** Serve Prometheus metrics at `<prefix>/metrics` (also under the admin prefix when `admin` is on). Default false. */
  metrics?: boolean | MetricsOptions
}

const seconds = (what: string) => Type.Integer({ minimum: 0, description: `${what}: a whole number of seconds >= 0` })
const count = (what: string) => Type.Integer({ minimum: 1, description: `${what}: a whole number >= 1` })
const fn = (what: string) => Type.Function([], Type.Any(), { description: `${what}: a function` })
const bool = (what: string) => Type.Boolean({ description: `${what}: true or false` })
const statusCodes = Type.Array(Type.Integer({ minimum: 100, maximum: 599 }),
  { minItems: 1, description: 'statusCodes: a non-empty array of HTTP status codes (100-599)' })
const names = (what: string) => Type.Array(Type.String(), { description: `${what}: an array of strings` })
const freshness = Type.Union([Type.Literal('route'), Type.Literal('headers')],
  { description: "freshness: 'route' or 'headers'" })

const storeMethods = ['get', 'set', 'epoch', 'notePurge', 'delete', 'deleteTags', 'count', 'statsOf', 'scan', 'clear', 'summary']

const PluginSchema = Type.Object({
  store: Type.Union([
    Type.Literal('memory'),
    Type.Literal('redis'),
    Type.Object(Object.fromEntries(storeMethods.map((m) => [m, fn(m)])))
  ], { description: `store: 'memory', 'redis' or an object implementing Store (${storeMethods.join(', ')})` }),
  redis: Type.Object({}, { description: 'redis: an ioredis client' }),
  l1: Type.Union([
    Type.Boolean(),
    Type.Object({ maxEntries: Type.Integer({ minimum: 1 }), maxBytes: Type.Integer({ minimum: 1 }) },
      { additionalProperties: false, required: [] })
  ], { description: 'l1: true, false or { maxEntries: whole number >= 1, maxBytes: whole number >= 1 }' }),
  namespace: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^{}\\s]+$', description: 'namespace: 1-100 characters, no braces or spaces' }),
  ttl: seconds('ttl'),
  rememberAllUrls: bool('rememberAllUrls'),
  rememberStatsAllUrls: bool('rememberStatsAllUrls'),
  maxEntries: count('maxEntries'),
  maxBytes: count('maxBytes'),
  maxBodyBytes: count('maxBodyBytes'),
  staleWhileRevalidate: seconds('staleWhileRevalidate'),
  staleIfError: seconds('staleIfError'),
  cacheHeaders: bool('cacheHeaders'),
  statusCodes,
  storeTimeout: count('storeTimeout (milliseconds)'),
  bypassCookies: names('bypassCookies'),
  ignoreCookies: names('ignoreCookies'),
  allowEvictingPolicy: bool('allowEvictingPolicy'),
  coalesceTimeout: count('coalesceTimeout (milliseconds)'),
  maxVariants: count('maxVariants'),
  invalidateOnWrite: bool('invalidateOnWrite'),
  softPurgeGrace: seconds('softPurgeGrace'),
  tagsHeader: Type.Union([Type.Literal(false), Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' })],
    { description: 'tagsHeader: false or a header name such as "surrogate-key"' }),
  ignoreQueryParams: names('ignoreQueryParams'),
  freshness,
  honorRequestCacheControl: bool('honorRequestCacheControl'),
  // Each field is checked where it is used (lib/admin/options.ts), so that a message names the field.
  admin: Type.Union([Type.Boolean(), Type.Object({})], { description: 'admin: true, false or an object of admin options' }),
  metrics: Type.Union([Type.Boolean(), Type.Object({})], { description: 'metrics: true, false or { prefix, authorize, registry }' })
}, { additionalProperties: false, required: [] })

const RouteSchema = Type.Object({
  ttl: seconds('ttl'),
  keyPrefix: fn('keyPrefix'),
  onlyGetKeys: names('onlyGetKeys'),
  forgetGetKeys: names('forgetGetKeys'),
  postProcessResponse: fn('postProcessResponse'),
  postProcessResponseAlways: fn('postProcessResponseAlways'),
  rememberUrl: bool('rememberUrl'),
  rememberStats: bool('rememberStats'),
  tags: fn('tags'),
  staleWhileRevalidate: seconds('staleWhileRevalidate'),
  staleIfError: seconds('staleIfError'),
  statusCodes,
  freshness,
  maxVariants: count('maxVariants'),
  invalidateOnWrite: bool('invalidateOnWrite')
}, { additionalProperties: false, required: [] })

/** The first validation problem as "name: what was expected, got value". */
function describe (schema: TSchema & { properties: Record<string, TSchema> }, value: unknown): string | undefined {
  for (const error of Value.Errors(schema, value)) {
    const name = error.instancePath.split('/')[1]
    if (name === undefined || name === '') continue
    const property = schema.properties[name]
    if (property === undefined) return `unknown option ${JSON.stringify(name)}`
    const got = (value as Record<string, unknown>)[name]
    return `${(property as { description?: string }).description ?? name} (got ${typeof got === 'function' ? 'a function' : JSON.stringify(got)})`
  }
  return undefined
}

/** Plugin options with every default filled in. */
export type ResolvedOptions = Required<Omit<FancyCacheOptions, 'redis' | 'admin' | 'l1' | 'metrics'>> &
  Pick<FancyCacheOptions, 'redis' | 'metrics'> & { admin: AdminOptions | false, l1: { maxEntries?: number, maxBytes?: number } | false }

/** Query parameters that only say where a visitor came from. */
export const TRACKING_PARAMS = ['utm_*', 'gclid', 'dclid', 'gbraid', 'wbraid', 'fbclid', 'msclkid', 'mc_cid', 'mc_eid', '_ga', '_gl', 'yclid']

export function resolveOptions (options: FancyCacheOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw invalidOption('options must be an object')
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))
  const problem = describe(PluginSchema, defined)
  if (problem !== undefined) throw invalidOption(problem)
  // Only the Redis store puts an L1 in front of itself: anywhere else the option would be silently ignored.
  if (defined.l1 !== undefined && defined.l1 !== false && defined.store !== 'redis') {
    const got = typeof defined.store === 'object' ? 'a custom store' : `store: '${String(defined.store ?? 'memory')}'`
    throw invalidOption(`l1 is an in-process tier in front of Redis, so it needs store: 'redis' (got ${got})`)
  }
  return {
    store: 'memory',
    namespace: DEFAULT_NAMESPACE,
    ttl: 600,
    rememberAllUrls: false,
    rememberStatsAllUrls: false,
    maxEntries: DEFAULT_MAX_ENTRIES,
    maxBytes: DEFAULT_MAX_BYTES,
    maxBodyBytes: 1024 * 1024,
    staleWhileRevalidate: 0,
    staleIfError: 0,
    cacheHeaders: true,
    statusCodes: [200],
    storeTimeout: 100,
    bypassCookies: ['*'],
    ignoreCookies: [],
    allowEvictingPolicy: false,
    coalesceTimeout: 5000,
    maxVariants: 64,
    invalidateOnWrite: false,
    softPurgeGrace: 60,
    tagsHeader: false,
    ignoreQueryParams: TRACKING_PARAMS,
    freshness: 'route',
    honorRequestCacheControl: false,
    ...defined,
    admin: options.admin === true ? {} : (options.admin || false),
    l1: options.l1 === true ? {} : (options.l1 || false)
  }
}

/** A route's settings with the plugin's defaults filled in and query filters precomputed. */
export interface ResolvedRoute {
  ttl: number
  keyPrefix: RouteCacheConfig['keyPrefix']
  /** `null`: every parameter counts; an empty Set with `only`: the query string is ignored. */
  queryFilter: { only: boolean, names: Set<string> } | null
  postProcessResponse: RouteCacheConfig['postProcessResponse']
  postProcessResponseAlways: RouteCacheConfig['postProcessResponseAlways']
  rememberUrl: boolean
  rememberStats: boolean
  tags: RouteCacheConfig['tags']
  staleWhileRevalidate: number
  staleIfError: number
  statusCodes: Set<number>
  /** Where this route's freshness comes from. */
  freshness: Freshness
  /** Most Vary variants kept per key. */
  maxVariants: number
  /** Unsafe requests answered 2xx/3xx on this route purge the cached GET of their URL. */
  invalidateOnWrite: boolean
  /** Header names this route's responses were last seen to vary on: lets a hit take one store round trip. */
  varyHint: string[]
}

/**
 * Turn `config.fancyCache` into a resolved route, `null` when the route is not cached, or throw naming the route.
 */
export function resolveRoute (value: unknown, route: string, options: ResolvedOptions): ResolvedRoute | null {
  if (value === undefined || value === false) return null
  let config: RouteCacheConfig
  if (value === true) {
    config = {}
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) {
      throw invalidRouteConfig(route, `config.fancyCache as a number is the ttl: a whole number of seconds >= 0 (got ${value})`)
    }
    config = { ttl: value }
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    config = value as RouteCacheConfig
    const defined = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined))
    const problem = describe(RouteSchema, defined)
    if (problem !== undefined) throw invalidRouteConfig(route, `config.fancyCache.${problem}`)
    if (config.onlyGetKeys !== undefined && config.forgetGetKeys !== undefined) {
      throw invalidRouteConfig(route, 'fancyCache.onlyGetKeys and forgetGetKeys cannot both be set')
    }
  } else {
    throw invalidRouteConfig(route,
      `config.fancyCache must be true, false, a ttl in seconds or an object (got ${JSON.stringify(value) ?? typeof value})`)
  }
  const filterNames = config.onlyGetKeys ?? config.forgetGetKeys
  return {
    ttl: config.ttl ?? options.ttl,
    keyPrefix: config.keyPrefix,
    queryFilter: filterNames === undefined ? null : { only: config.onlyGetKeys !== undefined, names: new Set(filterNames) },
    postProcessResponse: config.postProcessResponse,
    postProcessResponseAlways: config.postProcessResponseAlways,
    rememberUrl: config.rememberUrl ?? options.rememberAllUrls,
    rememberStats: config.rememberStats ?? options.rememberStatsAllUrls,
    tags: config.tags,
    staleWhileRevalidate: config.staleWhileRevalidate ?? options.staleWhileRevalidate,
    staleIfError: config.staleIfError ?? options.staleIfError,
    statusCodes: new Set(config.statusCodes ?? options.statusCodes),
    freshness: config.freshness ?? options.freshness,
    maxVariants: config.maxVariants ?? options.maxVariants,
    invalidateOnWrite: config.invalidateOnWrite ?? options.invalidateOnWrite,
    varyHint: []
  }
}
