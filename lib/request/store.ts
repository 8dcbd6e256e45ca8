import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { FAILED, type Guarded } from '../guard.ts'
import { cacheHeaders, headersToStore, storableHeaders } from '../http/headers.ts'
import { etagOf, parseVary, pathTag, sameList, variantOf } from '../http/key.ts'
import type { Body, ResolvedOptions } from '../options.ts'
import type { CacheEntry, Store } from '../stores/store.ts'
import type { Flights } from './flights.ts'
import { HIT_DETAIL, OUTCOMES, report, type Outcome } from './outcomes.ts'
import { processAlways, replayHeaders, toBody } from './replay.ts'
import type { CachedRoute } from './route.ts'
import type { State } from './state.ts'

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
function unstorable (reply: FastifyReply, state: State, payload: unknown, maxBodyBytes: number): string | undefined {
  const ttl = state.ttl ?? state.route.ttl
  if (state.noStore || ttl === 0) return 'not-stored'
  if (!state.route.statusCodes.has(reply.statusCode)) return 'status'
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return 'stream'
  if (Buffer.byteLength(payload) > maxBodyBytes) return 'too-big'
  if (!storableHeaders(reply.getHeaders())) return 'headers'
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
async function sendable (route: CachedRoute, payload: unknown, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
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
  if (state.mode === 'pass' || unstorable(reply, state, payload, ctx.options.maxBodyBytes) !== undefined) {
    setStatus(request, reply, state, state.epoch === undefined && state.mode === 'miss' ? 'storeError' : 'miss')
    release(ctx, state, 'uncacheable')
    return sendable(route, payload, request, reply)
  }
  let body: Body = payload as string | Buffer
  if (route.postProcessResponse !== undefined) {
    body = await route.postProcessResponse(toBody(Buffer.from(body), reply.getHeader('content-type')), request, reply)
  }
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  const entry = buildEntry(ctx, request, reply, state, bytes)
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
    watchLateHeaders(ctx, reply, state)
  }
  return sendable(route, bytes, request, reply)
}

function buildEntry (ctx: MissContext, request: FastifyRequest, reply: FastifyReply, state: State, bytes: Buffer): CacheEntry {
  const route = state.route
  const ttl = state.ttl ?? route.ttl
  const now = Date.now()
  if (ctx.options.cacheHeaders) cacheHeaders(reply, ttl, now, route.keyPrefix !== undefined)
  if (!reply.hasHeader('etag')) reply.header('etag', etagOf(bytes))
  const userTags = state.tags
  if (ctx.options.tagsHeader !== false && userTags !== undefined && userTags.length > 0) {
    reply.header(ctx.options.tagsHeader, userTags.join(ctx.options.tagsHeader.toLowerCase() === 'cache-tag' ? ',' : ' '))
  }
  return {
    status: reply.statusCode,
    headers: headersToStore(reply, state.own),
    body: bytes,
    etag: String(reply.getHeader('etag')),
    storedAt: now,
    expiresAt: now + ttl * 1000,
    staleUntil: now + (ttl + Math.max(route.staleWhileRevalidate, route.staleIfError)) * 1000
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
