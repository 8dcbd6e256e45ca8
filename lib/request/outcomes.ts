import type { FastifyRequest } from 'fastify'
import { publish } from '../events.ts'
import type { CacheOutcome } from '../events.ts'

/** How the cache handled a request, with the `Cache-Status` (RFC 9211) it sends for it. */
interface Row {
  outcome: CacheOutcome
  /** The Cache-Status value; hits add `; ttl=<seconds left>` and their detail at send time. */
  status: string
}

/** Every way a request can go, one row each. */
export const OUTCOMES = {
  hit: { outcome: 'hit', status: 'fancy-cache; hit' },
  staleWhileRevalidate: { outcome: 'stale', status: 'fancy-cache; hit' },
  staleIfError: { outcome: 'stale', status: 'fancy-cache; hit' },
  miss: { outcome: 'miss', status: 'fancy-cache; fwd=miss' },
  stored: { outcome: 'stored', status: 'fancy-cache; fwd=miss; stored' },
  bypass: { outcome: 'bypass', status: 'fancy-cache; fwd=bypass' },
  storeError: { outcome: 'store-error', status: 'fancy-cache; fwd=bypass; detail=store-error' }
} as const satisfies Record<string, Row>

export type Outcome = keyof typeof OUTCOMES

/** The detail a hit adds to its Cache-Status. */
export const HIT_DETAIL: Partial<Record<Outcome, string>> = {
  staleWhileRevalidate: '; detail=stale-while-revalidate',
  staleIfError: '; detail=stale-if-error'
}

/** Tell diagnostics subscribers how a request went (costs nothing while nobody listens). */
export function report (outcome: Outcome, request: FastifyRequest, key: string | undefined): void {
  publish(OUTCOMES[outcome].outcome, request, key)
}
