// Standards mode (`freshness: 'headers'`): the response's own headers decide how long it is fresh and how stale it
// may be served, and a stale entry with a validator is revalidated: the handler gets a conditional request, and
// a 304 from it refreshes the stored headers (RFC 9111 §4.3) instead of replacing the body.
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  cacheDirectives, hasValidator, initialAge, mustRevalidate, responseFreshness, type FreshnessResult, type Headers
} from '../http/freshness.ts'
import { etagMatches } from '../http/headers.ts'
import { etagOf } from '../http/key.ts'
import { requestAccepts, requestDirectives, type RequestDirectives } from '../http/request-directives.ts'
import { conditionalHeaders, freshenHeaders, notModifiedSince } from '../http/validation.ts'
import type { CacheEntry } from '../stores/store.ts'
import type { Freshness } from './lookup.ts'
import type { State } from './state.ts'

/** How long a stale entry with a validator is kept for revalidation when no stale window keeps it longer. */
const KEEP_FOR_REVALIDATION_MS = 3600_000

/** The field of our own that only this cache reads: it is never sent on. */
export const OWN_FIELD = 'fancy-cache-control'

/** How a response is kept in `'headers'` mode, decided on its final headers. */
export function headersPolicy (request: FastifyRequest, reply: FastifyReply, state: State, now: number): FreshnessResult {
  const route = state.route
  return responseFreshness({
    status: reply.statusCode,
    headers: reply.getHeaders() as Headers,
    now,
    requestHadAuthorization: request.headers.authorization !== undefined,
    route: { ttl: state.ttl ?? route.ttl, staleWhileRevalidate: route.staleWhileRevalidate, staleIfError: route.staleIfError }
  })
}

/**
 * In `'headers'` mode the Cache-Control family is the policy's; what is left to refuse is what makes a response
 * someone's own (Set-Cookie) or unmatchable (`Vary: *`).
 */
export function storableInHeadersMode (headers: Record<string, unknown>): boolean {
  if (headers['set-cookie'] !== undefined) return false
  const vary = headers.vary
  return vary === undefined || !/(?:^|,)\s*\*\s*(?:,|$)/.test(String(vary))
}

/**
 * The entry's times from its policy. `storedAt` is the moment its age was 0 (now minus the age it arrived with),
 * so `Age` on a hit is the RFC's current age (§4.2.3); it is kept while a stale window or a validator can use it.
 */
export function entryTimes (policy: FreshnessResult, now: number, validator: boolean) {
  const expiresAt = now + policy.freshMs
  const keep = Math.max(policy.staleWhileRevalidateMs, policy.staleIfErrorMs, validator ? KEEP_FOR_REVALIDATION_MS : 0)
  return { storedAt: now - policy.initialAgeSeconds * 1000, expiresAt, staleUntil: Math.max(expiresAt, now) + keep }
}

/**
 * In `'route'` mode the age a response arrived with (its own `Age`, an old `Date`) still counts for the `Age` a
 * hit sends: the entry's age-0 moment.
 */
export function storedAtOf (headers: Record<string, unknown>, now: number): number {
  return now - initialAge(headers as Headers, now) * 1000
}

/** The stale windows of a stored entry, read back from its own headers (only when it is stale). */
function staleWindows (entry: CacheEntry, route: State['route']) {
  const { directives } = cacheDirectives(entry.headers)
  const revalidate = mustRevalidate(directives)
  const window = (name: string, routeSeconds: number) => {
    if (revalidate) return 0
    const value = directives.get(name)
    return (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value === undefined ? routeSeconds : 0) * 1000
  }
  return { revalidate, swr: window('stale-while-revalidate', route.staleWhileRevalidate), sie: window('stale-if-error', route.staleIfError) }
}

/** How a stale entry may serve in `'headers'` mode: its own stale-while-revalidate / stale-if-error windows. */
export function staleFreshness (entry: CacheEntry, route: State['route'], now: number): Freshness {
  const { swr, sie } = staleWindows(entry, route)
  if (entry.expiresAt + swr > now) return 'revalidate'
  if (entry.expiresAt + sie > now) return 'if-error'
  return 'expired'
}

/** The request's own Cache-Control, when the plugin honours it (`honorRequestCacheControl`, `'headers'` mode). */
export function clientDirectives (request: FastifyRequest): RequestDirectives | undefined {
  return requestDirectives(request.headers['cache-control'])
}

/** Whether the client's directives accept a stored entry as it is now, without revalidation. */
export function clientAccepts (entry: CacheEntry, route: State['route'], directives: RequestDirectives, now: number): boolean {
  return requestAccepts({
    ageSeconds: Math.max(0, Math.floor((now - entry.storedAt) / 1000)),
    lifetimeSeconds: Math.floor((entry.expiresAt - entry.storedAt) / 1000),
    mustRevalidate: staleWindows(entry, route).revalidate
  }, directives)
}

/**
 * Make the handler's request conditional on the stored entry (RFC 9111 §4.3.1), when the entry has a validator
 * its origin made: an ETag of its own (not one the cache computed from the body) or a Last-Modified. Returns
 * whether it did.
 */
export function askConditionally (request: FastifyRequest, entry: CacheEntry): boolean {
  const own = entry.etag !== etagOf(entry.body) ? entry.etag : undefined
  const conditional = conditionalHeaders(entry.headers, own)
  if (conditional['if-none-match'] === undefined && conditional['if-modified-since'] === undefined) return false
  const { 'if-none-match': ifNoneMatch, 'if-modified-since': ifModifiedSince } = request.headers
  if (ifNoneMatch !== undefined || ifModifiedSince !== undefined) clientConditions.set(request, { ifNoneMatch, ifModifiedSince })
  delete request.headers['if-none-match']
  delete request.headers['if-modified-since']
  Object.assign(request.headers, conditional)
  return true
}

// The client's own conditions, set aside while the handler is asked the cache's.
const clientConditions = new WeakMap<FastifyRequest, { ifNoneMatch: string | undefined, ifModifiedSince: string | undefined }>()

/**
 * After a revalidation: whether the client's own conditional request is satisfied by the refreshed response
 * (If-None-Match first, else If-Modified-Since, RFC 9110 §13.2.2), so that it gets a 304.
 */
export function clientNotModified (request: FastifyRequest, reply: FastifyReply): boolean {
  const conditions = clientConditions.get(request)
  if (conditions === undefined) return false
  const etag = reply.getHeader('etag')
  if (conditions.ifNoneMatch !== undefined) return etag !== undefined && etagMatches(conditions.ifNoneMatch, String(etag))
  return notModifiedSince(conditions.ifModifiedSince!, reply.getHeader('last-modified') as string | undefined)
}

/**
 * A 304 from the handler for the entry being revalidated: the reply becomes the stored response with its headers
 * freshened by the 304's (RFC 9111 §4.3.4); the stored body is what to send and store again.
 */
export function applyNotModified (reply: FastifyReply, state: State, entry: CacheEntry): Buffer {
  const headers = freshenHeaders(entry.headers, reply.getHeaders() as Headers)
  for (const name of Object.keys(reply.getHeaders())) if (state.own?.includes(name) !== true) reply.removeHeader(name)
  reply.code(entry.status)
  for (const name in headers) if (!reply.hasHeader(name)) reply.header(name, headers[name])
  return entry.body
}

/** Whether a response's headers carry a validator its origin made (before the cache adds an ETag of its own). */
export function originValidator (headers: Record<string, unknown>): boolean {
  return hasValidator(headers as Headers)
}
