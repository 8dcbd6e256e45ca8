import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, onSendHookHandler } from 'fastify'
import { FAILED, type Guarded, type StoreGuard } from '../guard.ts'
import { namesMatcher } from '../patterns.ts'
import { parseVary, sameList, variantOf } from '../http/key.ts'
import type { ResolvedOptions } from '../options.ts'
import type { CacheEntry, Lookup, Store } from '../stores/store.ts'
import { Flights, lockOrWait, type Produced } from './flights.ts'
import { checkTags } from './handle.ts'
import { bypasses, freshnessOf, isEntry, keyOf, prefixOf, REFRESH_HEADER } from './lookup.ts'
import { HIT_DETAIL, OUTCOMES, report, type Outcome } from './outcomes.ts'
import { Refresher } from './refresh.ts'
import { wantsPartial } from './partial.ts'
import { sendHit, writeHit } from './replay.ts'
import { askConditionally, clientAccepts, clientDirectives } from './revalidate.ts'
import { dropHooks, isCachedRoute, learnHooks, nameHooks, routeOf, type CachedRoute } from './route.ts'
import { kState, newState, stateOf, type State, type StatefulRequest } from './state.ts'
import { finishMiss, sendable, type MissContext } from './store.ts'
import { purgeOnWrite } from './write.ts'

/** The store as the request path reaches it: through the fail-open guard, except for stores that cannot fail. */
export interface StoreAccess {
  store: Store
  /** `undefined` for the built-in memory store: it neither fails nor hangs, so its calls skip the guard's timer. */
  guard: StoreGuard | undefined
}

/**
 * The request path. `onRequest` answers hits before any handler runs (straight to the socket when nothing else
 * would touch the reply), sends bypasses on their way and makes concurrent misses wait for one regeneration;
 * `onSend`, moved to the end of each cached route's onSend hooks, stores what the handler made.
 */
export function createHooks (app: FastifyInstance, options: ResolvedOptions, access: StoreAccess, pathTags: { on: boolean }) {
  const { store, guard } = access
  const call = <T>(op: () => Promise<T>, write = false): Promise<Guarded<T>> =>
    guard === undefined ? op() : guard.call(op, { write })
  const flights = new Flights(options.coalesceTimeout)
  const refresher = new Refresher(app, flights)
  const cookies = { bypass: namesMatcher(options.bypassCookies), ignore: namesMatcher(options.ignoreCookies) }
  const miss: MissContext = { options, store, call, flights, pathTags, log: app.log }
  // Only stores the plugin built itself are trusted with an unguarded, synchronous peek.
  const peek = typeof options.store === 'object' || store.peek === undefined ? undefined : store.peek.bind(store)
  const crossProcess = store.lock !== undefined && store.unlock !== undefined
  const honorRequest = options.honorRequestCacheControl

  function count (route: CachedRoute, key: string) {
    if (route.rememberStats) call(() => store.count(key, 'hits'), true).catch(() => {})
  }

  /**
   * Answer a hit: straight to the socket when the route allows it, else through `reply.send`. Resolves `true`
   * (the request is answered) once the reply is under way.
   */
  function hit (request: FastifyRequest, reply: FastifyReply, route: CachedRoute, key: string, entry: CacheEntry,
    outcome: Outcome, state: State | undefined): true | Promise<true> {
    count(route, key)
    report(outcome, request, key)
    const hooks = route.hooks!
    if (outcome === 'hit' && hooks.soleOnSend && route.postProcessResponseAlways === undefined &&
      request.headers['if-none-match'] === undefined && !wantsPartial(request)) {
      if (writeHit(request, reply, entry, !hooks.firstOnRequest)) return true
    }
    const hitState = state ?? newState(route, key, '', route.varyHint)
    hitState.mode = 'hit'
    ;(request as StatefulRequest)[kState] = hitState
    return sendHit(request, reply, entry, route, HIT_DETAIL[outcome] ?? '').then(() => true as const)
  }

  /** A fresh hit from process memory, for routes whose key needs no function of the user's: no promise at all. */
  function quickHit (request: FastifyRequest, reply: FastifyReply, route: CachedRoute): boolean {
    if (route.keyPrefix !== undefined || bypasses(request, route, cookies)) return false
    if (honorRequest && route.freshness === 'headers' && request.headers['cache-control'] !== undefined) return false
    const key = keyOf(request, route, '')
    const vary = route.varyHint
    const found = peek!(key, variantOf(request, vary))
    const entry = found?.entry
    if (entry === undefined || freshnessOf(entry, route, Date.now()) !== 'fresh' || !sameList(found!.vary, vary)) return false
    const sent = hit(request, reply, route, key, entry, 'hit', undefined)
    if (sent instanceof Promise) sent.catch((err: Error) => reply.send(err))
    return true
  }

  const onRequest: onRequestHookHandler = function (request, reply, done) {
    const route = routeOf(request, options)
    if (route === null) {
      dropHooks(reply, hooks)
      return done()
    }
    const method = request.method
    if (method !== 'GET' && method !== 'HEAD') return done()
    if (!isCachedRoute(route)) return done()
    let early = false
    if (route.hooks === undefined) {
      const learnt = learnHooks(reply, onRequest, onSend)
      route.hooks = learnt
      // This request still runs the hooks in their old order, some of them after this one: it must not be answered
      // from the cache before they ran, so it renders (and stores) as a miss.
      early = learnt.reordered
    }
    if (!early && peek !== undefined && request.headers[REFRESH_HEADER] === undefined && quickHit(request, reply, route)) return
    lookup(request, reply, route, early).then((answered) => { if (answered !== true) done() }, done)
  }

  /**
   * The asynchronous path: bypass, key prefix, store lookup, stale serving, coalescing. Resolves `true` when it
   * answered. An `early` request may fill the cache but never be answered from it.
   */
  async function lookup (request: FastifyRequest, reply: FastifyReply, route: CachedRoute, early: boolean): Promise<boolean | undefined> {
    const refresh = refresher.take(request)
    if (refresh === undefined && bypasses(request, route, cookies)) return bypass(request, reply, route)
    const prefix = await prefixOf(request, route, request.log)
    if (prefix === undefined) return bypass(request, reply, route)
    const key = keyOf(request, route, prefix)
    let vary = route.varyHint
    let variant = variantOf(request, vary)
    let found: Guarded<Lookup | undefined> = await call(() => store.get(key, variant))
    if (found !== FAILED && found !== undefined && Array.isArray(found.vary) && !sameList(found.vary, vary)) {
      vary = route.varyHint = found.vary
      const other = variantOf(request, vary)
      if (other !== variant) {
        variant = other
        found = await call(() => store.get(key, variant))
      }
    }
    const state = newState(route, key, variant, vary)
    ;(request as StatefulRequest)[kState] = state
    const failed = found === FAILED
    const candidate = found === FAILED ? undefined : found?.entry
    const entry = isEntry(candidate) ? candidate : undefined
    // In 'headers' mode a stale entry is revalidated: the handler is asked whether it changed.
    const standards = route.freshness === 'headers'
    if (refresh !== undefined) {
      if (standards) state.validating = entry
      return regenerate(request, reply, state, refresh.key === key && refresh.variant === variant ? refresh.flight : undefined)
    }
    const client = standards && honorRequest ? clientDirectives(request) : undefined
    if (early) return request.method === 'HEAD' ? pass(state) : prepare(request, state, failed)
    if (entry !== undefined) {
      const now = Date.now()
      const freshness = freshnessOf(entry, route, now)
      if (client === undefined ? freshness === 'fresh' : entry.softPurged !== true && clientAccepts(entry, route, client, now)) {
        return hit(request, reply, route, key, entry, 'hit', state)
      }
      if (freshness === 'revalidate' && client === undefined) {
        refresher.start(request, key, variant, `${key}\0${variant}`)
        return hit(request, reply, route, key, entry, 'staleWhileRevalidate', state)
      }
      if (freshness === 'if-error') state.stale = entry
      if (standards) state.validating = entry
    }
    if (client?.onlyIfCached === true) {
      // RFC 9111 §5.2.1.7: nothing stored satisfies the request, and the client does not want the handler to run.
      state.mode = 'pass'
      reply.code(504).send()
      return true
    }
    // A HEAD never leads or stores: its response has no body to keep.
    if (request.method === 'HEAD' || client?.noStore === true) return pass(state)
    return coalesce(request, reply, state, failed)
  }

  function pass (state: State): undefined {
    state.mode = 'pass'
    return undefined
  }

  function bypass (request: FastifyRequest, reply: FastifyReply, route: CachedRoute): undefined {
    reply.header('cache-status', OUTCOMES.bypass.status)
    report('bypass', request, undefined)
    const state = newState(route, '', '', [])
    state.mode = 'bypass'
    ;(request as StatefulRequest)[kState] = state
    return undefined
  }

  /** Wait for the regeneration in progress, or lead one; a store that failed still coalesces in process. */
  async function coalesce (request: FastifyRequest, reply: FastifyReply, state: State, failed: boolean): Promise<boolean | undefined> {
    const id = `${state.key}\0${state.variant}`
    const waiting = flights.wait(id, reply.raw)
    if (waiting !== undefined) {
      const waited = await waiting
      // The client left: nothing to answer, and the handler need not run for nobody.
      if (waited === 'gone') return true
      if (waited === 'own') return prepare(request, state, failed)
      if (waited === 'lead') {
        adopt(reply, state, id)
        return prepare(request, state, failed)
      }
      if (matches(request, waited)) return hit(request, reply, state.route, state.key, waited.entry, 'hit', state)
      return prepare(request, state, failed)
    }
    lead(reply, state, flights.lead(id, reply.raw))
    let epoch: Promise<Guarded<string>> | undefined
    if (!failed && crossProcess) {
      // The purge generation is read beside the lock, so a miss waits for the store at most twice before its
      // handler runs (the lookup, then these two together). Read before any wait, it is only more cautious.
      epoch = call(() => store.epoch())
      const elsewhere = await lockOrWait(guard, store, state.key, state.variant, options.coalesceTimeout)
      state.locked = elsewhere.locked
      if (elsewhere.entry !== undefined) {
        const flight = state.flight!
        state.flight = undefined
        flights.produced(flight, { entry: elsewhere.entry, variant: state.variant })
        return hit(request, reply, state.route, state.key, elsewhere.entry, 'hit', state)
      }
    }
    return prepare(request, state, failed, epoch)
  }

  function matches (request: FastifyRequest, produced: Produced): boolean {
    return variantOf(request, parseVary(produced.entry.headers.vary)) === produced.variant
  }

  function lead (reply: FastifyReply, state: State, flight: NonNullable<State['flight']>) {
    state.flight = flight
    state.token = flight.leader
  }

  function adopt (reply: FastifyReply, state: State, id: string) {
    const flight = flights.get(id)
    if (flight === undefined) return
    flights.takeOver(flight, reply.raw)
    lead(reply, state, flight)
  }

  /** A background regeneration: lead its flight, and across processes only when no other process is at it. */
  async function regenerate (request: FastifyRequest, reply: FastifyReply, state: State, flight: State['flight']) {
    // Its key is not the original's (another host or protocol after all): render, but store nothing.
    if (flight === undefined) return pass(state)
    state.refreshOf = state.key
    lead(reply, state, flight)
    if (crossProcess) {
      const locked = await call(() => store.lock!(state.key, state.variant, options.coalesceTimeout), true)
      if (locked !== true) {
        // Another process is regenerating the page: this one has nothing to add.
        state.mode = 'hit'
        reply.code(204).send()
        return true
      }
      state.locked = true
    }
    return prepare(request, state, false)
  }

  /** Before the handler: the purge generation the entry will be checked against, and the route's tags. */
  async function prepare (request: FastifyRequest, state: State, failed: boolean,
    pending?: Promise<Guarded<string>>): Promise<undefined> {
    state.mode = 'miss'
    if (state.validating !== undefined && !askConditionally(request, state.validating)) state.validating = undefined
    if (!failed) {
      const epoch = await (pending ?? call(() => store.epoch()))
      state.epoch = epoch === FAILED ? undefined : String(epoch)
    }
    if (state.route.tags !== undefined) state.tags = checkTags(await state.route.tags(request), 'fancyCache.tags()')
    return undefined
  }

  const onSend: onSendHookHandler = function (request, reply, payload, done) {
    const state = stateOf(request)
    if (state === null) {
      if (request.method === 'GET' || request.method === 'HEAD') return done(null, payload)
      const route = routeOf(request, options)
      if (route === null || !route.invalidateOnWrite) return done(null, payload)
      purgeOnWrite(request, reply, store, call).then(() => done(null, payload), () => done(null, payload))
      return
    }
    if (state.mode === 'hit') return done(null, payload)
    if (state.mode === 'bypass') {
      if (state.route.postProcessResponseAlways === undefined) return done(null, payload)
      sendable(state.route, payload, request, reply).then((sent) => done(null, sent), done)
      return
    }
    finishMiss(miss, request, reply, state, payload).then((sent) => done(null, sent as string), done)
  }

  const hooks = { onRequest, onSend }
  nameHooks(hooks)
  return { onRequest, onSend }
}
