// A request's own Cache-Control (RFC 9111 §5.2.1), for caches that choose to honour it.
import { deltaSeconds, parseCacheControl, type HeaderValue } from './cache-control.ts'

/** The request directives a shared cache acts on; absent ones are `undefined` or false. */
export interface RequestDirectives {
  /** `no-store`: neither serve from nor store into the cache (§5.2.1.5). */
  noStore: boolean
  /** `no-cache`: do not serve a stored response without revalidating it (§5.2.1.4). */
  noCache: boolean
  /** `only-if-cached`: answer from the cache or with 504 (§5.2.1.7). */
  onlyIfCached: boolean
  /** `max-age`: seconds of age the client accepts (§5.2.1.1). */
  maxAge: number | undefined
  /** `min-fresh`: seconds the response must stay fresh for (§5.2.1.3). */
  minFresh: number | undefined
  /** `max-stale`: seconds past its freshness the client accepts; `Infinity` without an argument (§5.2.1.2). */
  maxStale: number | undefined
}

/**
 * The request's Cache-Control directives, or `undefined` when it carries none that matter. A directive with an
 * invalid argument is ignored, except `max-stale`, whose argument is optional.
 */
export function requestDirectives (cacheControl: HeaderValue): RequestDirectives | undefined {
  if (cacheControl === undefined) return undefined
  const directives = parseCacheControl(cacheControl)
  const maxStale = directives.get('max-stale')
  const parsed: RequestDirectives = {
    noStore: directives.has('no-store'),
    noCache: directives.has('no-cache'),
    onlyIfCached: directives.has('only-if-cached'),
    maxAge: deltaSeconds(directives.get('max-age')),
    minFresh: deltaSeconds(directives.get('min-fresh')),
    maxStale: maxStale === undefined ? undefined : maxStale === true ? Infinity : deltaSeconds(maxStale)
  }
  const none = !parsed.noStore && !parsed.noCache && !parsed.onlyIfCached && parsed.maxAge === undefined &&
    parsed.minFresh === undefined && parsed.maxStale === undefined
  return none ? undefined : parsed
}

/** A stored response as the request directives see it, in seconds. */
export interface StoredAge {
  /** Its current age (RFC 9111 §4.2.3). */
  ageSeconds: number
  /** Its freshness lifetime (RFC 9111 §4.2.1). */
  lifetimeSeconds: number
  /** It may never be served stale (must-revalidate and the like). */
  mustRevalidate: boolean
}

/**
 * RFC 9111 §4.2.4 and §5.2.1: whether the request accepts the stored response without revalidation: not with
 * `no-cache`, not older than `max-age`, fresh for at least `min-fresh` more, and when stale only within
 * `max-stale` (never for a response that must be revalidated).
 */
export function requestAccepts (stored: StoredAge, request: RequestDirectives): boolean {
  if (request.noCache) return false
  if (request.maxAge !== undefined && stored.ageSeconds > request.maxAge) return false
  const freshFor = stored.lifetimeSeconds - stored.ageSeconds
  if (request.minFresh !== undefined && freshFor < request.minFresh) return false
  if (freshFor > 0) return true
  if (request.maxStale === undefined || stored.mustRevalidate) return false
  return -freshFor <= request.maxStale
}
