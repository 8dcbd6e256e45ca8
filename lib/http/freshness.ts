// What a shared HTTP cache (RFC 9111) may store, for how long, and how stale it may be served: small pure rules,
// each named after the section it implements, so that each can be tested on its own.
import {
  deltaSeconds, parseAge, parseCacheControl, parseHttpDate, parseTargeted, type Directives, type HeaderValue
} from './cache-control.ts'

/** Response headers by lower-case name, as `reply.getHeaders()` returns them. */
export type Headers = Record<string, HeaderValue>

/** What the store stage knows about a response when it decides whether and how long to keep it. */
export interface FreshnessInput {
  /** The response's status code. */
  status: number
  /** The response's headers, names lower-case. */
  headers: Headers
  /** The moment the response was received, in milliseconds since the epoch. */
  now: number
  /** When the request was sent on to the handler; defaults to `now` (RFC 9111 §4.2.3's request_time). */
  requestTime?: number
  /** Whether the request carried an `Authorization` header (RFC 9111 §3.5). */
  requestHadAuthorization: boolean
  /** The route's settings, in seconds: `ttl` is the freshness of responses that carry none of their own. */
  route: { ttl: number, staleWhileRevalidate: number, staleIfError: number }
}

/** How a shared cache keeps a response. */
export interface FreshnessResult {
  /** Whether the response may be stored at all. */
  store: boolean
  /** Milliseconds from now during which the stored response is fresh (may be 0 or less: stale at once). */
  freshMs: number
  /** Milliseconds after it turns stale during which it may still be served while it is revalidated. */
  staleWhileRevalidateMs: number
  /** Milliseconds after it turns stale during which it may still be served when regenerating fails. */
  staleIfErrorMs: number
  /** Once stale, it must be revalidated: never served stale (must-revalidate, proxy-revalidate, s-maxage, no-cache). */
  mustRevalidate: boolean
  /** The response's age when it was received (RFC 9111 §4.2.3's corrected_initial_age), in whole seconds. */
  initialAgeSeconds: number
  /** Header fields (lower-case) to leave out of what is stored: those `no-cache="..."` and `private="..."` name. */
  omit: string[]
}

/** The field that governs this cache, and whether it was a targeted one (RFC 9213). */
export interface CacheDirectives {
  directives: Directives
  /** From `Fancy-Cache-Control` or `CDN-Cache-Control`: then `Cache-Control` and `Expires` are ignored. */
  targeted: boolean
}

/**
 * RFC 9213 §2.1: the most specific valid targeted field wins (`Fancy-Cache-Control`, meant for this plugin only,
 * then `CDN-Cache-Control`); without one, `Cache-Control`.
 */
export function cacheDirectives (headers: Headers): CacheDirectives {
  const own = parseTargeted(headers['fancy-cache-control'])
  if (own !== undefined) return { directives: own, targeted: true }
  const cdn = parseTargeted(headers['cdn-cache-control'])
  if (cdn !== undefined) return { directives: cdn, targeted: true }
  return { directives: parseCacheControl(headers['cache-control']), targeted: false }
}

/**
 * Whether a targeted field forbids this cache to store the response: `private`, `no-store` or `no-cache` in a
 * valid `Fancy-Cache-Control` or `CDN-Cache-Control`. Applies in both freshness modes.
 */
export function targetedForbidsStoring (headers: Headers): boolean {
  const { directives, targeted } = cacheDirectives(headers)
  return targeted && (directives.has('private') || directives.has('no-store') || directives.has('no-cache'))
}

// RFC 9110 §15: the final status codes it defines, which this cache therefore understands (RFC 9111 §5.2.2.3).
const UNDERSTOOD = new Set([200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401,
  402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 426, 500, 501, 502, 503,
  504, 505])

/**
 * RFC 9111 §3 for a shared cache: no `no-store` (unless `must-understand` with a status this cache understands,
 * §5.2.2.3), no `private` (§5.2.2.7), and a request with `Authorization` only with `public`, `s-maxage` or
 * `must-revalidate` (§3.5). The status list and body size are the caller's.
 */
export function storable (status: number, directives: Directives, requestHadAuthorization: boolean): boolean {
  if (directives.has('must-understand')) {
    if (!UNDERSTOOD.has(status)) return false
  } else if (directives.has('no-store')) {
    return false
  }
  if (directives.get('private') === true) return false
  if (requestHadAuthorization && !directives.has('public') && !directives.has('s-maxage') &&
    !directives.has('must-revalidate')) return false
  return true
}

/**
 * RFC 9111 §4.2.1: the freshness lifetime in seconds from `s-maxage`, then `max-age`, then `Expires` − `Date`
 * (not for targeted fields, which replace both); `undefined` when the response gives none. An invalid `max-age`
 * or `Expires` counts as already stale (0), as §4.2.1 and §5.3 ask. `no-cache` makes it stale at once (§5.2.2.4).
 */
export function freshnessLifetime (headers: Headers, { directives, targeted }: CacheDirectives, now: number): number | undefined {
  if (directives.get('no-cache') === true) return 0
  if (directives.has('s-maxage')) return deltaSeconds(directives.get('s-maxage')) ?? 0
  if (directives.has('max-age')) return deltaSeconds(directives.get('max-age')) ?? 0
  if (targeted || headers.expires === undefined) return undefined
  const expires = parseHttpDate(headers.expires)
  if (expires === undefined) return 0
  const date = parseHttpDate(headers.date) ?? now
  return Math.max(0, Math.floor((expires - date) / 1000))
}

/**
 * RFC 9111 §4.2.3: the response's age when received: the larger of its apparent age (now − `Date`) and its own
 * `Age` plus the time it took to arrive. In whole seconds.
 */
export function initialAge (headers: Headers, now: number, requestTime = now): number {
  const date = parseHttpDate(headers.date)
  const apparentAge = date === undefined ? 0 : Math.max(0, now - date)
  const correctedAge = (parseAge(headers.age) ?? 0) * 1000 + Math.max(0, now - requestTime)
  return Math.floor(Math.max(apparentAge, correctedAge) / 1000)
}

/**
 * Whether a stale response may never be served without revalidation: `must-revalidate`, and for a shared cache
 * `proxy-revalidate` and `s-maxage` too (RFC 9111 §5.2.2.2, §5.2.2.8, §5.2.2.10), and `no-cache` (§5.2.2.4).
 */
export function mustRevalidate (directives: Directives): boolean {
  return directives.has('must-revalidate') || directives.has('proxy-revalidate') || directives.has('s-maxage') ||
    directives.get('no-cache') === true
}

/**
 * RFC 9111 §5.2.2.4 and §5.2.2.7: `no-cache` and `private` with field names only forbid storing (a shared cache)
 * or reusing without revalidation those fields: the response is kept without them.
 */
export function omittedFields (directives: Directives): string[] {
  const omit: string[] = []
  for (const name of ['no-cache', 'private']) {
    const fields = directives.get(name)
    if (typeof fields === 'string') for (const field of fields.split(',')) if (field.trim() !== '') omit.push(field.trim().toLowerCase())
  }
  return omit
}

/** RFC 5861: a stale window from the response's own directive, else the route's; none when revalidation is due. */
function staleWindow (directives: Directives, name: string, routeSeconds: number, revalidate: boolean): number {
  if (revalidate) return 0
  return (directives.has(name) ? deltaSeconds(directives.get(name)) ?? 0 : routeSeconds) * 1000
}

/** Whether the response carries a validator its origin can answer a conditional request for (RFC 9110 §8.8). */
export function hasValidator (headers: Headers): boolean {
  return headers.etag !== undefined || headers['last-modified'] !== undefined
}

/**
 * Everything the store stage needs to keep a response as a shared cache would: whether it may be stored, for
 * how long it is fresh (the route's ttl when the response says nothing; ttl 0 then means not stored), and how
 * stale it may be served. A response that is stale on arrival is only kept when it can be revalidated or
 * served stale.
 */
export function responseFreshness (input: FreshnessInput): FreshnessResult {
  const { status, headers, now, route } = input
  const cache = cacheDirectives(headers)
  const age = initialAge(headers, now, input.requestTime)
  const revalidate = mustRevalidate(cache.directives)
  const result: FreshnessResult = {
    store: false,
    freshMs: 0,
    staleWhileRevalidateMs: staleWindow(cache.directives, 'stale-while-revalidate', route.staleWhileRevalidate, revalidate),
    staleIfErrorMs: staleWindow(cache.directives, 'stale-if-error', route.staleIfError, revalidate),
    mustRevalidate: revalidate,
    initialAgeSeconds: age,
    omit: cache.targeted ? [] : omittedFields(cache.directives)
  }
  if (!storable(status, cache.directives, input.requestHadAuthorization)) return result
  // This cache never stores what its own targeted field keeps from it, with or without field names.
  if (cache.targeted && (cache.directives.has('no-cache') || cache.directives.has('private'))) return result
  const lifetime = freshnessLifetime(headers, cache, now)
  if (lifetime === undefined && route.ttl === 0) return result
  result.freshMs = ((lifetime ?? route.ttl) - age) * 1000
  result.store = result.freshMs > 0 || hasValidator(headers) || result.staleWhileRevalidateMs > 0 ||
    result.staleIfErrorMs > 0
  return result
}
