/**
 * Every error the package throws, each with a stable code so callers can branch on `err.code`
 * (the fastify `FST_ERR_*` convention).
 */
export class FancyCacheError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.name = 'FancyCacheError'
    this.code = code
  }
}

/** A plugin option failed validation at register time. */
export const invalidOption = (message: string) =>
  new FancyCacheError('FANCY_CACHE_ERR_INVALID_OPTION', `fastify-fancy-cache: ${message}`)

/** A route's `config.fancyCache` is not valid; the message names the route. */
export const invalidRouteConfig = (route: string, message: string) =>
  new FancyCacheError('FANCY_CACHE_ERR_INVALID_ROUTE_CONFIG', `fastify-fancy-cache: ${message} (route ${route})`)

/** `store: 'redis'` without a client: neither `redis` nor `fastify.redis` is set. */
export const missingRedis = () =>
  new FancyCacheError('FANCY_CACHE_ERR_NO_REDIS',
    'fastify-fancy-cache: store \'redis\' needs an ioredis client: register @fastify/redis first or pass the `redis` option')

/** A store call failed or took longer than `storeTimeout`; the request was served by its handler. */
export const storeTimeout = (ms: number) =>
  new FancyCacheError('FANCY_CACHE_ERR_STORE_TIMEOUT', `fastify-fancy-cache: store call took longer than ${ms} ms`)

/** An invalid argument to a `fastify.fancyCache` method (findUrls, purgeUrls, purgeTags, purgeKey). */
export const invalidArgument = (message: string) =>
  new FancyCacheError('FANCY_CACHE_ERR_INVALID_ARGUMENT', `fastify-fancy-cache: ${message}`)

/** The Redis client is not connected: the store call fails at once, so the request is served uncached. */
export const storeUnavailable = (status: string) =>
  new FancyCacheError('FANCY_CACHE_ERR_STORE_UNAVAILABLE',
    `fastify-fancy-cache: the Redis client is not ready (status ${status}); serving uncached until it reconnects`)
