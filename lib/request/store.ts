import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { FAILED, type Guarded } from '../guard.ts'
import type { FreshnessResult } from '../http/freshness.ts'
import { cacheHeaders, headersToStore, httpDate, storableHeaders } from '../http/headers.ts'
import { etagOf, parseVary, pathTag, sameList, variantOf } from '../http/key.ts'
import type { Body, ResolvedOptions } from '../options.ts'
import type { CacheEntry, Store } from '../stores/store.ts'
import type { Flights } from './flights.ts'
import { HIT_DETAIL, OUTCOMES, report, type Outcome } from './outcomes.ts'
import { processAlways, replayHeaders, toBody } from './replay.ts'
import { partOfMiss } from './partial.ts'
import type { CachedRoute } from './route.ts'
import type { State } from './state.ts'
import {
  applyNotModified, clientNotModified, entryTimes, headersPolicy, originValidator, OWN_FIELD, storableInHeadersMode,
  storedAtOf
} from './revalidate.ts'

/** What the miss stage needs from the plugin. */
export interface MissContext {
  options: ResolvedOptions
  store: Store
  call: <T>(op: () => Promise<T>, write?: boolean) => Promise<Guarded<T>>
  flights: Flights
  /** Whether entries carry the tag of their path, for purge-on-write (known once every route is added). */
  pathTags: { on: boolean }
  log: FastifyBaseLogger
}

function setStatus (request: FastifyRequest, reply: FastifyReply, state: State, outcome: Outcome): void {
  reply.header('cache-status', OUTCOMES[outcome].status)
  report(outcome, request, state.key)
}

/** Why a response is not stored, or `undefined` when it may be. Decided on the headers as they are now. */
function unstorable (reply: FastifyReply, state: State, payload: unknown, maxBodyBytes: number,
  policy: FreshnessResult | undefined): string | undefined {
  const ttl = state.ttl ?? state.route.ttl
  if (state.noStore || (policy === undefined ? ttl === 0 : !policy.store)) return 'not-stored'
  // A part of a response is never stored: ranges are answered from full ones.
  if (!state.route.statusCodes.has(reply.statusCode) || reply.statusCode === 206) return 'status'
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return 'stream'
  if (Buffer.byteLength(payload) > maxBodyBytes) return 'too-big'
  if (!(policy === undefined ? storableHeaders : storableInHeadersMode)(reply.getHeaders())) return 'headers'
  return undefined
}

/** Release what the request holds for its key when it stores nothing: waiters run their own handlers. */
function release (ctx: MissContext, state: State, how: 'uncacheable' | 'failed'): void {
  const flight = state.flight
  if (flight !== undefined) {
    state.flight = undefined
    if (how === 'uncacheable') ctx.flights.uncacheable(flight, state.token)
    else ctx.flights.failed(flight, state.token)
  }
  unlock(ctx, state)
}

function unlock (ctx: MissContext, state: State): void {
  if (!state.locked) return
  state.locked = false
  ctx.call(() => ctx.store.unlock!(state.key, state.variant), true).catch(() => {})
}

/** The body as sent: `postProcessResponseAlways` over it when the route has one. */
export async function sendable (route: CachedRoute, payload: unknown, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  if (route.postProcessResponseAlways === undefined || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) return payload
  return processAlways(route, Buffer.from(payload), request, reply)
}

/**
 * After the handler, in the last onSend hook of the route (so every header is final): serve stale on error, or
 * store what is cacheable and hand it to the requests that waited. Resolves the payload to send.
 */
export async function finishMiss (ctx: MissContext, request: FastifyRequest, reply: FastifyReply, state: State, payload: unknown): Promise<unknown> {
  const route = state.route
  if (state.stale !== undefined && reply.statusCode >= 500) {
    release(ctx, state, 'failed')
    return serveStaleOnError(request, reply, state, state.stale)
  }
  const validated = state.validating !== undefined && reply.statusCode === 304
  if (validated) payload = applyNotModified(reply, state, state.validating!)
  const now = Date.now()
  const policy = route.freshness === 'headers' && state.mode !== 'pass' ? headersPolicy(request, reply, state, now) : undefined
  if (state.mode === 'pass' || unstorable(reply, state, payload, ctx.options.maxBodyBytes, policy) !== undefined) {
    reply.removeHeader(OWN_FIELD)
    setStatus(request, reply, state, state.epoch === undefined && state.mode === 'miss' ? 'storeError' : 'miss')
    release(ctx, state, 'uncacheable')
    return sendable(route, payload, request, reply)
  }
  let body: Body = payload as string | Buffer
  // A revalidated body is the stored one, already post-processed.
  if (route.postProcessResponse !== undefined && !validated) {
    body = await route.postProcessResponse(toBody(Buffer.from(body), reply.getHeader('content-type')), request, reply)
  }
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  const entry = buildEntry(ctx, request, reply, state, bytes, now, policy)
  reply.removeHeader(OWN_FIELD)
  const vary = parseVary(reply.getHeader('vary'))
  if (!sameList(vary, state.vary)) {
    route.varyHint = vary
    state.variant = variantOf(request, vary)
  }
  const tags = tagsOf(ctx, request, state)
  const meta = { vary, url: route.rememberUrl ? request.url : undefined, tags, maxVariants: route.maxVariants }
  const epoch = state.epoch
  const stored = epoch === undefined ? FAILED : await ctx.call(() => ctx.store.set(state.key, state.variant, entry, { ...meta, epoch }), true)
  const flight = state.flight
  state.flight = undefined
  if (stored === true || stored === FAILED) {
    // When the store failed, the waiters still get this entry: they would otherwise all run the handler at once.
    if (flight !== undefined) ctx.flights.produced(flight, { entry, variant: state.variant })
  } else if (flight !== undefined) {
    ctx.flights.failed(flight, state.token)
  }
  unlock(ctx, state)
  setStatus(request, reply, state, stored === true ? 'stored' : stored === FAILED ? 'storeError' : 'miss')
  if (stored === true) {
    if (route.rememberStats) ctx.call(() => ctx.store.count(state.key, 'misses'), true).catch(() => {})
    // When the cache's onSend could be moved last, nothing can change the headers after it.
    if (route.hooks?.lastOnSend !== true) watchLateHeaders(ctx, reply, state)
  }
  if (validated && clientNotModified(request, reply)) {
    reply.code(304)
    reply.removeHeader('content-type')
    return ''
  }
  // Sent as the handler made it when it is the same: Node writes a string body and its head in one piece.
  return partOfMiss(request, reply, await sendable(route, typeof body === 'string' ? body : bytes, request, reply))
}

function buildEntry (ctx: MissContext, request: FastifyRequest, reply: FastifyReply, state: State, bytes: Buffer,
  now: number, policy: FreshnessResult | undefined): CacheEntry {
  const route = state.route
  const ttl = state.ttl ?? route.ttl
  // In 'headers' mode the app's Cache-Control is the policy: it is never rewritten.
  if (ctx.options.cacheHeaders && policy === undefined) cacheHeaders(reply, ttl, now, route.keyPrefix !== undefined)
  // The miss and every hit send the same Date: the one of the response as stored (RFC 9110 §6.6.1). A response
  // that brings neither its own Date nor an Age is age 0 now: nothing to parse back.
  const own = reply.hasHeader('date') || reply.hasHeader('age')
  if (!reply.hasHeader('date')) reply.header('date', httpDate(Math.floor(now / 1000)))
  const validator = policy !== undefined && originValidator(reply.getHeaders())
  if (!reply.hasHeader('etag')) reply.header('etag', etagOf(bytes))
  const userTags = state.tags
  if (ctx.options.tagsHeader !== false && userTags !== undefined && userTags.length > 0) {
    reply.header(ctx.options.tagsHeader, userTags.join(ctx.options.tagsHeader.toLowerCase() === 'cache-tag' ? ',' : ' '))
  }
  const headers = headersToStore(reply, state.own)
  if (policy !== undefined) for (const name of policy.omit) delete headers[name]
  return {
    status: reply.statusCode,
    headers,
    body: bytes,
    etag: String(reply.getHeader('etag')),
    ...(policy === undefined
      ? {
          storedAt: own ? storedAtOf(reply.getHeaders(), now) : now,
          expiresAt: now + ttl * 1000,
          staleUntil: now + (ttl + Math.max(route.staleWhileRevalidate, route.staleIfError)) * 1000
        }
      : entryTimes(policy, now, validator))
  }
}

function tagsOf (ctx: MissContext, request: FastifyRequest, state: State): string[] | undefined {
  if (!ctx.pathTags.on) return state.tags
  const q = request.url.indexOf('?')
  const tag = pathTag(request.host, q === -1 ? request.url : request.url.slice(0, q))
  return state.tags === undefined ? [tag] : [...state.tags, tag]
}

/**
 * The cache's onSend runs last, so the headers it stored on are final; a hook that still adds Set-Cookie or
 * `Cache-Control: private` afterwards (writing to the raw response, say) gets the entry deleted at once.
 */
function watchLateHeaders (ctx: MissContext, reply: FastifyReply, state: State): void {
  const seen = reply.getHeader('cache-control')
  reply.raw.once('finish', () => {
    const headers = reply.getHeaders()
    const cacheControl = headers['cache-control']
    if (headers['set-cookie'] === undefined && (cacheControl === seen || storableHeaders({ 'cache-control': cacheControl }))) return
    ctx.call(() => ctx.store.delete(state.key), true).catch(() => {})
    ctx.log.warn({ route: state.route.id }, 'fastify-fancy-cache: a hook made a stored response uncacheable after the cache saw it; entry deleted')
  })
}

function serveStaleOnError (request: FastifyRequest, reply: FastifyReply, state: State, entry: CacheEntry): Promise<unknown> {
  for (const name of Object.keys(reply.getHeaders())) if (state.own?.includes(name) !== true) reply.removeHeader(name)
  replayHeaders(reply, entry, HIT_DETAIL.staleIfError!)
  report('staleIfError', request, state.key)
  return sendable(state.route, entry.body, request, reply)
}
