import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { CacheEvent, CacheOutcome } from '../events.ts'
import { routeContextOf } from '../request/route.ts'
import { stateOf } from '../request/state.ts'
import type { FancyCacheApi } from '../api.ts'

/** Every outcome the request channel publishes, in the order the metrics list them. */
export const OUTCOMES: readonly CacheOutcome[] = ['hit', 'stale', 'miss', 'stored', 'bypass', 'store-error']
/** Every kind of purge the purge channel publishes. */
export const PURGE_KINDS = ['urls', 'tags', 'key', 'clear', 'write'] as const
/** Upper bounds (seconds) of the response time histogram's buckets. */
export const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Minutes of history the admin page's chart shows. */
export const MINUTES = 60
const MAX_ROUTES = 1000
const OTHER_ROUTE = '(other routes)'

type Counts = Record<CacheOutcome, number>

/** What one route did since this process started. */
export class RouteCounters implements Counts {
  readonly route: string
  hit = 0
  stale = 0
  miss = 0
  stored = 0
  bypass = 0
  'store-error' = 0
  /** Milliseconds spent answering misses (the handler ran) and how many were timed. */
  missMs = 0
  missTimed = 0
  /** Milliseconds spent answering hits (fresh or stale) and how many were timed. */
  hitMs = 0
  hitTimed = 0

  constructor (route: string) {
    this.route = route
  }
}

/** One outcome's response times. */
export class Histogram {
  /** Observations per bucket (not cumulative); the last one is over the largest bound. */
  readonly counts = new Float64Array(BUCKETS.length + 1)
  sum = 0
  count = 0

  observe (seconds: number): void {
    let i = 0
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++
    this.counts[i]!++
    this.sum += seconds
    this.count++
  }
}

/** One minute of the chart: requests by outcome. */
export interface Minute {
  /** Start of the minute, ms since the epoch. */
  at: number
  counts: Counts
}

const OUTCOME_INDEX = Object.fromEntries(OUTCOMES.map((o, i) => [o, i])) as Record<CacheOutcome, number>
const kOutcome = Symbol('fancyCache.metrics.outcome')
const kRoute = Symbol('fancyCache.metrics.route')
const REQUESTS = 'fastify-fancy-cache'
const PURGES = 'fastify-fancy-cache:purge'

type Tracked = FastifyRequest & { [kOutcome]: CacheOutcome | null, [kRoute]: RouteCounters | null }

/** What the purge channel publishes (fields beyond these are ignored). */
interface PurgeEvent {
  kind: string
  count: number
  /** When present: which cache purged, so that two apps in one process keep their counts apart. */
  api?: unknown
  store?: unknown
}

function zeroCounts (): Counts {
  return Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Counts
}

/**
 * Counts what the cache did, from its diagnostics channels: per route and outcome, per minute for the last hour, and
 * response times per outcome. One per app: events from other apps in the process (another `fastify.fancyCache`) are
 * ignored. The work per request is a few increments on objects made in advance: no strings, no allocation.
 */
export class MetricsCollector {
  readonly startedAt = Date.now()
  readonly api: FancyCacheApi
  readonly #routes = new Map<string, RouteCounters>()
  /** Counters by a per-route object (Fastify's route context, or the cache's route): no `request.routeOptions`. */
  readonly #byRoute = new WeakMap<object, RouteCounters>()
  readonly #histograms = Object.fromEntries(OUTCOMES.map((o) => [o, new Histogram()])) as Record<CacheOutcome, Histogram>
  readonly purges = Object.fromEntries(PURGE_KINDS.map((k) => [k, 0])) as Record<typeof PURGE_KINDS[number], number>
  purgedEntries = 0
  readonly #minutes: Minute[] = []
  #current: Uint32Array = new Uint32Array(OUTCOMES.length)
  #minute = Math.floor(Date.now() / 60_000)
  #timer: NodeJS.Timeout | undefined

  constructor (api: FancyCacheApi) {
    this.api = api
  }

  /** The symbols the collector keeps per request: the caller decorates requests with them (`null`). */
  static readonly requestFields = [kOutcome, kRoute] as const

  /** Start listening; `stop` undoes it. */
  start (): void {
    subscribe(REQUESTS, this.#onRequest)
    subscribe(PURGES, this.#onPurge)
    // Rolls the per-minute buckets; a coarse timer instead of reading the clock on every request.
    this.#timer = setInterval(() => this.#roll(Date.now()), 5_000)
    this.#timer.unref()
  }

  stop (): void {
    unsubscribe(REQUESTS, this.#onRequest)
    unsubscribe(PURGES, this.#onPurge)
    clearInterval(this.#timer)
  }

  /** Counters of a route pattern, made on first use (routes are few: patterns, never raw URLs). */
  route (url: string): RouteCounters {
    let counters = this.#routes.get(url)
    if (counters === undefined) {
      if (this.#routes.size >= MAX_ROUTES) return this.route(OTHER_ROUTE)
      counters = new RouteCounters(url)
      this.#routes.set(url, counters)
    }
    return counters
  }

  readonly #onRequest = (message: unknown): void => {
    const { outcome, request } = message as CacheEvent
    if ((request.server as { fancyCache?: unknown }).fancyCache !== this.api) return
    const counters = this.#countersOf(request)
    counters[outcome]++
    this.#current[OUTCOME_INDEX[outcome]]!++
    const tracked = request as Tracked
    tracked[kOutcome] = outcome
    tracked[kRoute] = counters
  }

  #countersOf (request: FastifyRequest): RouteCounters {
    const route = routeContextOf(request) ?? stateOf(request)?.route
    let counters = route === undefined ? undefined : this.#byRoute.get(route)
    if (counters === undefined) {
      counters = this.route(request.routeOptions.url ?? OTHER_ROUTE)
      if (route !== undefined) this.#byRoute.set(route, counters)
    }
    return counters
  }

  readonly #onPurge = (message: unknown): void => {
    const event = message as PurgeEvent
    if (event.api !== undefined && event.api !== this.api) return
    if (event.api === undefined && event.store !== undefined && event.store !== this.api.store) return
    if (event.kind in this.purges) this.purges[event.kind as keyof typeof this.purges]++
    if (Number.isFinite(event.count)) this.purgedEntries += event.count
  }

  /** `onResponse` hook: the time from `onRequest` to the reply being sent, by outcome and, for the page, by route. */
  readonly onResponse = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const tracked = request as Tracked
    const outcome = tracked[kOutcome]
    if (outcome !== null) {
      const ms = reply.elapsedTime
      this.#histograms[outcome].observe(ms / 1000)
      const counters = tracked[kRoute]!
      if (outcome === 'miss' || outcome === 'stored') {
        counters.missMs += ms
        counters.missTimed++
      } else if (outcome === 'hit' || outcome === 'stale') {
        counters.hitMs += ms
        counters.hitTimed++
      }
    }
    done()
  }

  #roll (now: number): void {
    const minute = Math.floor(now / 60_000)
    if (minute === this.#minute) return
    const counts = zeroCounts()
    OUTCOMES.forEach((o, i) => { counts[o] = this.#current[i]! })
    this.#minutes.push({ at: this.#minute * 60_000, counts })
    // Minutes with no traffic at all (the timer was late, or the process slept) are left out; the chart shows gaps.
    while (this.#minutes.length > 0 && this.#minutes[0]!.at <= (minute - MINUTES) * 60_000) this.#minutes.shift()
    this.#current = new Uint32Array(OUTCOMES.length)
    this.#minute = minute
  }

  /** The last hour, oldest first, the current minute last (partly counted). */
  minutes (now = Date.now()): Minute[] {
    this.#roll(now)
    const counts = zeroCounts()
    OUTCOMES.forEach((o, i) => { counts[o] = this.#current[i]! })
    return [...this.#minutes, { at: this.#minute * 60_000, counts }]
  }

  /** Every route seen or declared, by pattern. */
  routes (): RouteCounters[] {
    return [...this.#routes.values()]
  }

  histogram (outcome: CacheOutcome): Histogram {
    return this.#histograms[outcome]
  }

  /** Requests by outcome over every route, since start. */
  totals (): Counts {
    const totals = zeroCounts()
    for (const counters of this.#routes.values()) for (const o of OUTCOMES) totals[o] += counters[o]
    return totals
  }
}
