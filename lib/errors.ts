import createError, { type FastifyErrorConstructor } from '@fastify/error'

/**
 * Every error the package throws: a `@fastify/error` error with a stable `code` to branch on and the
 * `statusCode` Fastify answers with if one reaches a reply. `err instanceof FancyCacheError` is true for all of
 * them; `err instanceof errorCodes.FANCY_CACHE_ERR_...` for one code.
 */
export class FancyCacheError extends Error {
  declare code: string
  declare statusCode?: number
  constructor (code: string, message: string, statusCode?: number) {
    super(message)
    this.name = 'FastifyError'
    this.code = code
    if (statusCode !== undefined) this.statusCode = statusCode
  }
}

/** A constructor for one code; instances also pass `instanceof FancyCacheError`. */
function coded<C extends string, S extends number> (code: C, statusCode: S) {
  // The message is built by each factory below, so the template only adds the package name in front.
  return createError(code, 'fastify-fancy-cache: %s', statusCode, FancyCacheError as unknown as ErrorConstructor) as
    FastifyErrorConstructor<{ code: C, statusCode: S }, [message: string]>
}

/** The error constructor of every code, keyed by code (as `fastify.errorCodes`). */
export const errorCodes = {
  FANCY_CACHE_ERR_INVALID_OPTION: coded('FANCY_CACHE_ERR_INVALID_OPTION', 500),
  FANCY_CACHE_ERR_INVALID_ROUTE_CONFIG: coded('FANCY_CACHE_ERR_INVALID_ROUTE_CONFIG', 500),
  FANCY_CACHE_ERR_NO_REDIS: coded('FANCY_CACHE_ERR_NO_REDIS', 500),
  FANCY_CACHE_ERR_STORE_TIMEOUT: coded('FANCY_CACHE_ERR_STORE_TIMEOUT', 503),
  FANCY_CACHE_ERR_INVALID_ARGUMENT: coded('FANCY_CACHE_ERR_INVALID_ARGUMENT', 400),
  FANCY_CACHE_ERR_STORE_UNAVAILABLE: coded('FANCY_CACHE_ERR_STORE_UNAVAILABLE', 503),
  FANCY_CACHE_ERR_ADMIN_FORBIDDEN: coded('FANCY_CACHE_ERR_ADMIN_FORBIDDEN', 403),
  FANCY_CACHE_ERR_ADMIN_BAD_REQUEST: coded('FANCY_CACHE_ERR_ADMIN_BAD_REQUEST', 400),
  FANCY_CACHE_ERR_ADMIN_TOO_MANY_PATTERNS: coded('FANCY_CACHE_ERR_ADMIN_TOO_MANY_PATTERNS', 400),
  FANCY_CACHE_ERR_ADMIN_NOT_FOUND: coded('FANCY_CACHE_ERR_ADMIN_NOT_FOUND', 404),
  FANCY_CACHE_ERR_ADMIN_METHOD_NOT_ALLOWED: coded('FANCY_CACHE_ERR_ADMIN_METHOD_NOT_ALLOWED', 405),
  FANCY_CACHE_ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE: coded('FANCY_CACHE_ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE', 415),
  FANCY_CACHE_ERR_EVICTING_REDIS: coded('FANCY_CACHE_ERR_EVICTING_REDIS', 500)
}

/** A plugin option failed validation at register time. */
export const invalidOption = (message: string) =>
  new errorCodes.FANCY_CACHE_ERR_INVALID_OPTION(message)

/** A route's `config.fancyCache` is not valid; the message names the route. */
export const invalidRouteConfig = (route: string, message: string) =>
  new errorCodes.FANCY_CACHE_ERR_INVALID_ROUTE_CONFIG(`${message} (route ${route})`)

/** `store: 'redis'` without a client: neither `redis` nor `fastify.redis` is set. */
export const missingRedis = () =>
  new errorCodes.FANCY_CACHE_ERR_NO_REDIS(
    'store \'redis\' needs an ioredis client: register @fastify/redis first or pass the `redis` option')

/** A store call failed or took longer than `storeTimeout`; the request was served by its handler. */
export const storeTimeout = (ms: number) =>
  new errorCodes.FANCY_CACHE_ERR_STORE_TIMEOUT(`store call took longer than ${ms} ms`)

/** An invalid argument to a `fastify.fancyCache` method (findUrls, purgeUrls, purgeTags, purgeKey). */
export const invalidArgument = (message: string) =>
  new errorCodes.FANCY_CACHE_ERR_INVALID_ARGUMENT(message)

/** The Redis client is not connected: the store call fails at once, so the request is served uncached. */
export const storeUnavailable = (status: string) =>
  new errorCodes.FANCY_CACHE_ERR_STORE_UNAVAILABLE(
    `the Redis client is not ready (status ${status}); serving uncached until it reconnects`)

/** The admin page, its API or the metrics refused the client: not authorized, not local, or cross-site. */
export const adminForbidden = (message: string) => new errorCodes.FANCY_CACHE_ERR_ADMIN_FORBIDDEN(message)

/** An admin request with a bad field (limit, action, body shape). */
export const adminBadRequest = (message: string) => new errorCodes.FANCY_CACHE_ERR_ADMIN_BAD_REQUEST(message)

/** An admin search or purge with more patterns or tags than one request may carry. */
export const adminTooManyPatterns = (message: string) => new errorCodes.FANCY_CACHE_ERR_ADMIN_TOO_MANY_PATTERNS(message)

/** An admin page about something no longer cached (an entry's detail view). */
export const adminNotFound = (message: string) => new errorCodes.FANCY_CACHE_ERR_ADMIN_NOT_FOUND(message)

/** An admin URL asked with a method it does not answer (a GET to a purge URL). */
export const adminMethodNotAllowed = (message: string) => new errorCodes.FANCY_CACHE_ERR_ADMIN_METHOD_NOT_ALLOWED(message)

/** An admin POST whose body is not of the type the route takes. */
export const adminUnsupportedMediaType = (message: string) =>
  new errorCodes.FANCY_CACHE_ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE(message)

/** The Redis store was given a Redis whose `maxmemory-policy` may evict any key (`allkeys-*`). */
export const evictingRedis = (policy: string) =>
  new errorCodes.FANCY_CACHE_ERR_EVICTING_REDIS(
    `Redis has maxmemory-policy ${policy}: it may evict the index and tag sets that purges walk, so a purged page ` +
    'could be served again; use noeviction or a volatile-* policy, or pass allowEvictingPolicy: true to accept this')
