import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { bypassingCookie, requestBypass, type CookieRule } from '../http/headers.ts'
import { baseKey } from '../http/key.ts'
import type { CacheEntry } from '../stores/store.ts'
import { staleFreshness } from './revalidate.ts'
import type { CachedRoute } from './route.ts'

/** The header a background regeneration carries, with a one-time token only this process knows. */
export const REFRESH_HEADER = 'x-fancy-cache-refresh'

/**
 * Whether a request must neither read nor fill the cache, for the reasons that need no function of the user's:
 * a request body, a rewrite header, and, unless the route's keyPrefix decides who shares a page, an Authorization
 * header or a cookie that `bypassCookies` names. In `'headers'` mode an Authorization header does not bypass: the
 * response decides, as RFC 9111 §3.5 says (only `public`, `s-maxage` or `must-revalidate` let it be stored).
 */
export function bypasses (request: FastifyRequest, route: CachedRoute, cookies: CookieRule): boolean {
  if (requestBypass(request) !== undefined) return true
  if (route.keyPrefix !== undefined) return false
  const headers = request.headers
  return (headers.authorization !== undefined && route.freshness !== 'headers') || bypassingCookie(headers.cookie, cookies)
}

const warned = new WeakSet<CachedRoute>()

/**
 * The key prefix a route's keyPrefix gives this request: a non-empty string is a key part; `null` or `undefined`
 * bypasses; anything else (an empty string, a number) bypasses too, with one warning per route, because treating it
 * as a value would put every visitor on one shared page.
 */
export async function prefixOf (request: FastifyRequest, route: CachedRoute, log: FastifyBaseLogger): Promise<string | undefined> {
  if (route.keyPrefix === undefined) return ''
  const value: unknown = await route.keyPrefix(request)
  if (typeof value === 'string' && value !== '') return value
  if (value !== null && value !== undefined && !warned.has(route)) {
    warned.add(route)
    log.warn({ route: route.id, got: typeof value }, 'fastify-fancy-cache: keyPrefix must return a non-empty string, null or undefined; bypassing the cache')
  }
  return undefined
}

/** The key of a request on a route, given its prefix. */
export function keyOf (request: FastifyRequest, route: CachedRoute, prefix: string): string {
  return baseKey(request, { routeId: route.id, prefix, rule: route.rule })
}

/** How an entry may serve a request now. */
export type Freshness = 'fresh' | 'revalidate' | 'if-error' | 'expired'

/**
 * Fresh until `expiresAt`; then servable while one request regenerates it for the route's stale-while-revalidate
 * window (or, once soft-purged, until the store's `staleUntil`); then servable only instead of a 5xx for the
 * stale-if-error window. In `'headers'` mode the windows are the entry's own.
 */
export function freshnessOf (entry: CacheEntry, route: CachedRoute, now: number): Freshness {
  if (entry.softPurged === true) return entry.staleUntil > now ? 'revalidate' : 'expired'
  if (entry.expiresAt > now) return 'fresh'
  if (route.freshness === 'headers') return staleFreshness(entry, route, now)
  if (entry.expiresAt + route.staleWhileRevalidate * 1000 > now) return 'revalidate'
  if (entry.expiresAt + route.staleIfError * 1000 > now) return 'if-error'
  return 'expired'
}

/** A custom store may hand back anything: what is not a usable entry is a miss, never a crash. */
export function isEntry (entry: unknown): entry is CacheEntry {
  if (entry === null || typeof entry !== 'object') return false
  const e = entry as CacheEntry
  return Buffer.isBuffer(e.body) && typeof e.status === 'number' && typeof e.expiresAt === 'number' &&
    typeof e.storedAt === 'number' && typeof e.staleUntil === 'number' && typeof e.etag === 'string' &&
    typeof e.headers === 'object' && e.headers !== null
}
