import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, onSendHookHandler } from 'fastify'
import { publish } from './events.ts'
import { FAILED, type Guarded } from './guard.ts'
import { baseKey, etagOf, parseVary, variantOf } from './key.ts'
import { resolveRoute, type Body, type ResolvedOptions, type ResolvedRoute } from './options.ts'
import { cacheHeaders, etagMatches, headersToStore, isTextual, requestBypass, storableHeaders } from './policy.ts'
import type { CacheEntry, Lookup, Store } from './stores/store.ts'

/** The store as the hooks reach it: every call fails open (SPEC §9). */
export interface GuardedStore {
  store: Store
  call<T>(op: (store: Store) => Promise<T>): Promise<Guarded<T>>
}

/** What a regeneration produced: the stored entry and its variant, or `null` when it stored nothing. */
type Outcome = { entry: CacheEntry, variant: string } | null

/** A regeneration in progress for one key variant; requests for the same variant wait for its outcome. */
interface Flight {
  id: string
  promise: Promise<Outcome>
  resolve: (outcome: Outcome) => void
}

/** Per-request state, on the request under a symbol. */
interface State {
  route: ResolvedRoute
  /** 'hit' and 'bypass' replies are complete; 'miss' may store in onSend, 'pass' never stores. */
  mode: 'hit' | 'bypass' | 'miss' | 'pass'
  key: string
  variant: string
  vary: string[]
  epoch: number
  tags: string[] | undefined
  /** An expired entry that stale-if-error may serve instead of a 5xx. */
  stale: CacheEntry | undefined
  flight: Flight | undefined
  locked: boolean
}

export const kState = Symbol('fancy-cache state')
const kRoute = Symbol('fancy-cache route')
const REVALIDATE_HEADER = 'x-fancy-cache-revalidate'
const CROSS_PROCESS_LOCK_MS = 5000
const BYPASS = 'fancy-cache; fwd=bypass'
const STORE_ERROR = 'fancy-cache; fwd=bypass; detail=store-error'
const MISS = 'fancy-cache; fwd=miss'
const STORED = 'fancy-cache; fwd=miss; stored'

type Config = Record<string | symbol, unknown>
type StatefulRequest = FastifyRequest & { [kState]: State | null }

/** Resolve `config.fancyCache` once per route and keep the result on the route's config. */
export function routeOf (config: Config, options: ResolvedOptions, label?: string): ResolvedRoute | null {
  let route = config[kRoute] as ResolvedRoute | null | undefined
  if (route === undefined) {
    route = config[kRoute] = resolveRoute(config.fancyCache, label ?? `${String(config.method)} ${String(config.url)}`, options)
  }
  return route
}

/** Whether two sorted header-name lists are the same. */
function sameList (a: string[], b: string[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function markBypass (request: FastifyRequest, reply: FastifyReply, status: string): undefined {
  reply.header('cache-status', status)
  publish(status === STORE_ERROR ? 'store-error' : 'bypass', request, undefined)
  return undefined
}

/** A custom store may hand back anything: what is not a usable entry is a miss, never a crash (SPEC §9). */
function isEntry (entry: CacheEntry): boolean {
  return Buffer.isBuffer(entry.body) && typeof entry.status === 'number' && typeof entry.expiresAt === 'number' &&
    typeof entry.storedAt === 'number' && typeof entry.etag === 'string' && typeof entry.headers === 'object' && entry.headers !== null
}

/** The stored status and headers, with Age and Cache-Status for this moment. */
function replayHeaders (reply: FastifyReply, entry: CacheEntry, detail: string) {
  const now = Date.now()
  reply.code(entry.status)
  reply.headers(entry.headers)
  reply.header('age', String(Math.max(0, secondsBetween(entry.storedAt, now))))
  reply.header('cache-status', `fancy-cache; hit; ttl=${secondsBetween(now, entry.expiresAt)}${detail}`)
}

/** A response that went to the handler: say how it went, tell subscribers. */
function missed<T> (request: FastifyRequest, reply: FastifyReply, state: State, status: string, payload: T): T {
  reply.header('cache-status', status)
  publish(status === STORED ? 'stored' : status === STORE_ERROR ? 'store-error' : 'miss', request, state.key)
  return payload
}

function toBody (body: Buffer, contentType: unknown): Body {
  return isTextual(contentType) ? body.toString('utf8') : body
}

function secondsBetween (from: number, to: number): number {
  return Math.floor((to - from) / 1000)
}

/**
 * The request path of the cache: `onRequest` answers hits before any handler runs and coalesces concurrent misses,
 * `onSend` stores cacheable responses and hands them to the requests that waited.
 */
export function createHooks (app: FastifyInstance, options: ResolvedOptions, guarded: GuardedStore) {
  const flights = new Map<string, Flight>()
  const revalidations = new Map<string, { key: string, variant: string }>()
  const { store } = guarded

  function get (key: string, variant: string): Promise<Guarded<Lookup | undefined>> {
    return guarded.call((s) => s.get(key, variant))
  }

  function send (request: FastifyRequest, reply: FastifyReply, entry: CacheEntry, route: ResolvedRoute, detail: string) {
    replayHeaders(reply, entry, detail)
    const always = route.postProcessResponseAlways
    return always === undefined ? sendBody(request, reply, entry, entry.body) : sendProcessed(request, reply, entry, always)
  }

  async function sendProcessed (request: FastifyRequest, reply: FastifyReply, entry: CacheEntry,
    always: NonNullable<ResolvedRoute['postProcessResponseAlways']>) {
    const processed = await always(toBody(entry.body, entry.headers['content-type']), request, reply)
    if (!(typeof processed === 'string' ? entry.body.equals(Buffer.from(processed)) : entry.body.equals(processed))) {
      reply.removeHeader('etag')
      return reply.send(processed)
    }
    return sendBody(request, reply, entry, processed)
  }

  function sendBody (request: FastifyRequest, reply: FastifyReply, entry: CacheEntry, body: Body) {
    const ifNoneMatch = request.headers['if-none-match']
    if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, entry.etag)) {
      reply.code(304)
      reply.removeHeader('content-type')
      return reply.send()
    }
    return reply.send(body)
  }

  function count (route: ResolvedRoute, key: string, field: 'hits' | 'misses') {
    if (route.rememberStats) guarded.call((s) => s.count(key, field)).catch(() => {})
  }

  /** Answer from the cache: count the hit, tell subscribers, send. */
  function hit (request: FastifyRequest, reply: FastifyReply, state: State, entry: CacheEntry, detail = '') {
    state.mode = 'hit'
    ;(request as StatefulRequest)[kState] = state
    count(state.route, state.key, 'hits')
    publish(detail === '' ? 'hit' : 'stale', request, state.key)
    return send(request, reply, entry, state.route, detail)
  }

  function startFlight (id: string): Flight {
    let resolve!: Flight['resolve']
    const promise = new Promise<Outcome>((_resolve) => { resolve = _resolve })
    const flight = { id, promise, resolve }
    flights.set(id, flight)
    return flight
  }

  function endFlight (flight: Flight, outcome: Outcome) {
    if (flights.get(flight.id) === flight) flights.delete(flight.id)
    flight.resolve(outcome)
  }

  function settle (state: State, outcome: Outcome) {
    const flight = state.flight
    if (flight === undefined) return
    state.flight = undefined
    endFlight(flight, outcome)
    if (state.locked) {
      state.locked = false
      guarded.call((s) => s.unlock!(state.key)).catch(() => {})
    }
  }

  function lead (reply: FastifyReply, state: State, id: string) {
    state.flight = startFlight(id)
    // Whatever happens to the leader (error, abort), its waiters must not wait forever.
    reply.raw.once('close', () => settle(state, null))
  }

  /**
   * Across processes (stores with locks): take the store's lock for the key, or wait for whoever holds it and
   * resolve the entry it stored. Resolves `undefined` when this request should run its handler: it got the lock,
   * the holder vanished without storing (its lock expired), or the store failed.
   */
  async function awaitOtherProcess (state: State): Promise<CacheEntry | undefined> {
    const deadline = Date.now() + CROSS_PROCESS_LOCK_MS
    for (let pause = 10; Date.now() < deadline; pause = Math.min(pause * 2, 100)) {
      const locked = await guarded.call((s) => s.lock!(state.key, CROSS_PROCESS_LOCK_MS))
      if (locked === FAILED) return undefined
      if (locked) {
        state.locked = true
        return undefined
      }
      await sleep(pause)
      const found = await get(state.key, state.variant)
      if (found === FAILED) return undefined
      if (found?.entry !== undefined && isEntry(found.entry) && found.entry.expiresAt > Date.now()) return found.entry
    }
    return undefined
  }

  /** Stale-while-revalidate: regenerate in the background through the app itself, as a request only it can make. */
  function revalidate (request: FastifyRequest, state: State, id: string) {
    const flight = startFlight(id)
    const token = randomUUID()
    revalidations.set(token, { key: state.key, variant: state.variant })
    const headers = { ...request.headers, [REVALIDATE_HEADER]: token }
    delete headers['if-none-match']
    delete headers['if-modified-since']
    app.inject({ method: 'GET', url: request.url, headers })
      .catch((err) => request.log.warn({ err }, 'fastify-fancy-cache: background revalidation failed'))
      .finally(() => {
        revalidations.delete(token)
        endFlight(flight, null)
      })
  }

  // Only stores the plugin built itself are trusted with an unguarded, synchronous peek.
  const peek = typeof options.store === 'object' || store.peek === undefined ? undefined : store.peek.bind(store)

  /**
   * The synchronous path: a fresh hit that process memory can answer, for routes whose key needs no function of the
   * user's, sent with no promise at all. Anything else (miss, stale, Vary change, keyPrefix) takes `lookup`.
   */
  function quickHit (request: FastifyRequest, reply: FastifyReply, route: ResolvedRoute): boolean {
    if (route.keyPrefix !== undefined || route.postProcessResponseAlways !== undefined) return false
    const headers = request.headers
    if (headers.authorization !== undefined || headers[REVALIDATE_HEADER] !== undefined) return false
    if (requestBypass(request, options.bypassCookies) !== undefined) return false
    const key = baseKey(request, route, '')
    const vary = route.varyHint
    const variant = variantOf(request, vary)
    const found = peek!(key, variant)
    const entry = found?.entry
    if (entry === undefined || entry.expiresAt <= Date.now() || !sameList(found!.vary, vary)) return false
    hit(request, reply, newState(route, key, variant, vary), entry)
    return true
  }

  const onRequest: onRequestHookHandler = function (request, reply, done) {
    const method = request.method
    if (method !== 'GET' && method !== 'HEAD') return done()
    let route: ResolvedRoute | null
    try {
      route = routeOf(request.routeOptions.config as unknown as Config, options)
    } catch (err) {
      return done(err as Error)
    }
    if (route === null) return done()
    if (peek !== undefined && quickHit(request, reply, route)) return
    lookup(request, reply, route).then(() => { if (!reply.sent) done() }, done)
  }

  async function lookup (request: FastifyRequest, reply: FastifyReply, route: ResolvedRoute) {
    const method = request.method
    const req = request as StatefulRequest

    const token = request.headers[REVALIDATE_HEADER]
    const revalidation = typeof token === 'string' ? revalidations.get(token) : undefined
    if (revalidation !== undefined) {
      delete request.headers[REVALIDATE_HEADER]
      const state = newState(route, revalidation.key, revalidation.variant, route.varyHint)
      state.flight = flights.get(`${state.key}\0${state.variant}`)
      return prepareMiss(req, state)
    }

    const bypass = requestBypass(request, options.bypassCookies)
    if (bypass !== undefined) return markBypass(request, reply, BYPASS)
    let prefix = ''
    if (route.keyPrefix !== undefined) {
      const value = await route.keyPrefix(request)
      if (value === null || value === undefined) return markBypass(request, reply, BYPASS)
      prefix = String(value)
    } else if (request.headers.authorization !== undefined) {
      return markBypass(request, reply, BYPASS)
    }

    const key = baseKey(request, route, prefix)
    let vary = route.varyHint
    let variant = variantOf(request, vary)
    let found = await get(key, variant)
    if (found !== FAILED && found !== undefined && Array.isArray(found.vary) && !sameList(found.vary, vary)) {
      vary = route.varyHint = found.vary
      const other = variantOf(request, vary)
      if (other !== variant) {
        variant = other
        found = await get(key, variant)
      }
    }
    if (found === FAILED) return markBypass(request, reply, STORE_ERROR)

    const state = newState(route, key, variant, vary)
    const entry = found?.entry !== undefined && isEntry(found.entry) ? found.entry : undefined
    const now = Date.now()
    if (entry !== undefined) {
      if (entry.expiresAt > now) return hit(request, reply, state, entry)
      if (entry.expiresAt + route.staleWhileRevalidate * 1000 > now) {
        if (!flights.has(`${key}\0${variant}`)) revalidate(request, state, `${key}\0${variant}`)
        return hit(request, reply, state, entry, '; detail=stale-while-revalidate')
      }
      if (entry.expiresAt + route.staleIfError * 1000 > now) state.stale = entry
    }

    req[kState] = state
    if (method === 'HEAD') {
      // A HEAD never leads or stores: its response has no body to keep.
      state.mode = 'pass'
      return
    }
    const flightKey = `${key}\0${variant}`
    const running = flights.get(flightKey)
    if (running !== undefined) {
      const outcome = await running.promise
      if (outcome !== null && variantOf(request, parseVary(outcome.entry.headers.vary)) === outcome.variant) {
        return hit(request, reply, state, outcome.entry)
      }
      // The leader's response was not cacheable: run this request's own handler at once.
      return prepareMiss(req, state)
    }
    lead(reply, state, flightKey)
    const elsewhere = store.lock === undefined ? undefined : await awaitOtherProcess(state)
    if (elsewhere !== undefined) {
      settle(state, { entry: elsewhere, variant })
      return hit(request, reply, state, elsewhere)
    }
    return prepareMiss(req, state)
  }

  function newState (route: ResolvedRoute, key: string, variant: string, vary: string[]): State {
    return { route, mode: 'miss', key, variant, vary, epoch: 0, tags: undefined, stale: undefined, flight: undefined, locked: false }
  }

  async function prepareMiss (request: StatefulRequest, state: State) {
    request[kState] = state
    state.mode = 'miss'
    const epoch = await guarded.call((s) => s.epoch())
    if (epoch === FAILED) {
      state.mode = 'pass'
      settle(state, null)
      return
    }
    state.epoch = epoch
    if (state.route.tags !== undefined) state.tags = await state.route.tags(request)
  }

  const onSend: onSendHookHandler = function (request, reply, payload, done) {
    const state = (request as StatefulRequest)[kState]
    if (state === null || state.mode === 'hit' || state.mode === 'bypass') return done(null, payload)
    finish(request, reply, state, payload).then((sent) => done(null, sent), done)
  }

  /** After the handler: serve stale on error, or store what is cacheable, then release the waiters. */
  async function finish (request: FastifyRequest, reply: FastifyReply, state: State, payload: unknown) {
    try {
      if (state.stale !== undefined && reply.statusCode >= 500) return serveStaleOnError(request, reply, state, state.stale)
      if (state.mode === 'pass') return missed(request, reply, state, MISS, payload)
      return await storeMiss(request, reply, state, payload)
    } finally {
      settle(state, null)
    }
  }

  function serveStaleOnError (request: FastifyRequest, reply: FastifyReply, state: State, entry: CacheEntry) {
    for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
    replayHeaders(reply, entry, '; detail=stale-if-error')
    count(state.route, state.key, 'hits')
    publish('stale', request, state.key)
    const always = state.route.postProcessResponseAlways
    if (always === undefined) return entry.body
    reply.removeHeader('etag')
    return always(toBody(entry.body, entry.headers['content-type']), request, reply)
  }

  function storable (reply: FastifyReply, route: ResolvedRoute, payload: unknown): payload is string | Buffer {
    if (!route.statusCodes.has(reply.statusCode) || route.ttl === 0) return false
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return false
    if (Buffer.byteLength(payload) > options.maxBodyBytes) return false
    return storableHeaders(reply)
  }

  async function storeMiss (request: FastifyRequest, reply: FastifyReply, state: State, payload: unknown) {
    const route = state.route
    const vary = parseVary(reply.getHeader('vary'))
    if (!storable(reply, route, payload) || vary[0] === '*') return missed(request, reply, state, MISS, payload)
    let body: Body = payload
    if (route.postProcessResponse !== undefined) {
      body = await route.postProcessResponse(toBody(Buffer.from(payload), reply.getHeader('content-type')), request, reply)
    }
    const bytes = typeof body === 'string' ? Buffer.from(body) : body
    const now = Date.now()
    if (options.cacheHeaders) cacheHeaders(reply, route.ttl, now)
    if (!reply.hasHeader('etag')) reply.header('etag', etagOf(bytes))
    const entry: CacheEntry = {
      status: reply.statusCode,
      headers: headersToStore(reply),
      body: bytes,
      etag: String(reply.getHeader('etag')),
      storedAt: now,
      expiresAt: now + route.ttl * 1000,
      staleUntil: now + (route.ttl + Math.max(route.staleWhileRevalidate, route.staleIfError)) * 1000
    }
    if (!sameList(vary, state.vary)) {
      route.varyHint = vary
      state.variant = variantOf(request, vary)
    }
    const meta = {
      vary,
      epoch: state.epoch,
      url: route.rememberUrl ? request.url : undefined,
      tags: state.tags
    }
    const stored = await guarded.call((s) => s.set(state.key, state.variant, entry, meta))
    if (stored === true) {
      missed(request, reply, state, STORED, undefined)
      count(route, state.key, 'misses')
      settle(state, { entry, variant: state.variant })
    } else {
      missed(request, reply, state, stored === FAILED ? STORE_ERROR : MISS, undefined)
    }
    if (route.postProcessResponseAlways === undefined) return body
    const sent = await route.postProcessResponseAlways(toBody(bytes, entry.headers['content-type']), request, reply)
    if (sent !== body) reply.removeHeader('etag')
    return sent
  }

  return { onRequest, onSend }
}
