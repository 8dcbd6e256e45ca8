import type { FastifyRequest } from 'fastify'
import type { CacheEntry } from '../stores/store.ts'
import type { Flight } from './flights.ts'
import type { CachedRoute } from './route.ts'

/** What the cache knows about one request on a cached route, kept on the request under a symbol. */
export interface State {
  route: CachedRoute
  /**
   * `hit`: answered from the cache; `miss`: the handler runs and its response may be stored; `pass`: the handler
   * runs, nothing is stored; `bypass`: the cache stays out of it (but post-processing still runs).
   */
  mode: 'hit' | 'miss' | 'pass' | 'bypass'
  key: string
  variant: string
  vary: string[]
  /** The store's purge generation before the handler ran; `undefined` when the store could not say. */
  epoch: string | undefined
  /** Header names already on the reply when the cache first saw the request: the request's own, never stored. */
  own: string[] | undefined
  /** An expired entry that stale-if-error may serve instead of a 5xx. */
  stale: CacheEntry | undefined
  /** The regeneration this request leads, and its leader token there. */
  flight: Flight | undefined
  token: number
  /** Whether this process holds the store's cross-process lock for the key variant. */
  locked: boolean
  /** Set by `reply.fancyCache` in the handler. */
  tags: string[] | undefined
  ttl: number | undefined
  noStore: boolean
  /** A background regeneration: the key it must store under. */
  refreshOf: string | undefined
  /** The stored entry the handler was asked about conditionally: a 304 refreshes it (`'headers'` mode). */
  validating: CacheEntry | undefined
}

export const kState = Symbol('fancy-cache state')
export type StatefulRequest = FastifyRequest & { [kState]: State | null }

export function stateOf (request: FastifyRequest): State | null {
  return (request as StatefulRequest)[kState]
}

export function newState (route: CachedRoute, key: string, variant: string, vary: string[]): State {
  return {
    route,
    mode: 'miss',
    key,
    variant,
    vary,
    epoch: undefined,
    own: undefined,
    stale: undefined,
    flight: undefined,
    token: 0,
    locked: false,
    tags: undefined,
    ttl: undefined,
    noStore: false,
    refreshOf: undefined,
    validating: undefined
  }
}
