// The rows of the benchmark table and the targets they are held to. Every row serves the same 2 KB HTML page.
import type { ServerSettings } from './server.ts'

export const ROW_IDS = [
  'bare', 'map', 'mem', 'mem-flood', 'mem-stats', 'mem-metrics', 'redis-naive', 'redis', 'redis-l1',
  'bare-unique', 'miss', 'uncached', 'varnish'
] as const
export type RowId = typeof ROW_IDS[number]

export interface Row {
  id: RowId
  title: string
  /** A few words for the chart. */
  short: string
  /** The app under test; for the Varnish row, the origin behind it. */
  server: ServerSettings
  /** Request path; `[<id>]` becomes a fresh id per request. */
  path: string
  /** Prime the cache with one request and serve hits. */
  warm: boolean
  needs?: 'redis' | 'varnish'
  /** Before the warm-up, send this many requests to distinct URLs of the cached route (each a miss that stores). */
  flood?: boolean
  /** A plugin option that may not exist yet: if the app fails to start over it, the row is reported as n/a. */
  optional?: string
}

/**
 * A target, checked within each round and reported as the median over rounds:
 * `ratio`: this row's req/s at least `min` times that of row `of`;
 * `extra-micros`: this row's server CPU per request at most `max` µs above row `of`'s.
 */
export type Target =
  | { kind: 'ratio', of: RowId, min: number, label: string }
  | { kind: 'extra-micros', of: RowId, max: number, label: string }

export const HANDLER_MS = 20
/** Distinct-URL misses sent before the measured hits of the `mem-flood` row (`--flood N`). */
export const FLOOD_MISSES = 60_000

// The cached rows' handler answers at once: on hit rows it never runs, and on the miss row a wait would hide the
// miss path's own CPU behind idle time.
const cached = (plugin: ServerSettings['plugin'] = {}): ServerSettings => ({ kind: 'cached', delayMs: 0, plugin })

export const ROWS: Row[] = [
  { id: 'bare', title: 'bare Fastify route, constant 2 KB HTML', short: 'bare route', server: { kind: 'bare', delayMs: 0 }, path: '/page', warm: false },
  { id: 'map', title: 'naive in-process Map cache in the handler', short: 'naive Map', server: { kind: 'naive-map', delayMs: 0 }, path: '/page', warm: true },
  { id: 'mem', title: 'memory-store hit, fresh process', short: 'memory hit', server: cached(), path: '/page', warm: true },
  {
    id: 'mem-flood',
    title: 'memory-store hit after a miss flood in the same process',
    short: 'hit after flood',
    server: cached(),
    path: '/page',
    warm: true,
    flood: true
  },
  {
    id: 'mem-stats',
    title: 'memory-store hit, rememberAllUrls + rememberStatsAllUrls',
    short: 'hit + stats',
    server: cached({ rememberAllUrls: true, rememberStatsAllUrls: true }),
    path: '/page',
    warm: true
  },
  {
    id: 'mem-metrics',
    title: 'memory-store hit, metrics: true',
    short: 'hit + metrics',
    server: cached({ metrics: true }),
    path: '/page',
    warm: true,
    optional: 'metrics'
  },
  {
    id: 'redis-naive',
    title: 'naive Redis cache (GET + HINCRBY, auto-pipelining)',
    short: 'naive Redis',
    server: { kind: 'naive-redis', delayMs: 0 },
    path: '/page',
    warm: true,
    needs: 'redis'
  },
  {
    id: 'redis',
    title: 'Redis-store hit',
    short: 'Redis hit',
    server: cached({ store: 'redis', namespace: 'bench-redis' }),
    path: '/page',
    warm: true,
    needs: 'redis'
  },
  {
    id: 'redis-l1',
    title: 'Redis + L1 hit',
    short: 'Redis+L1 hit',
    server: cached({ store: 'redis', namespace: 'bench-redis-l1', l1: true }),
    path: '/page',
    warm: true,
    needs: 'redis'
  },
  // The same unique URLs as the miss row, so that miss - bare-unique is the plugin's miss work and nothing else.
  {
    id: 'bare-unique',
    title: 'bare route, a new URL per request',
    short: 'bare, new URLs',
    server: { kind: 'bare', delayMs: 0 },
    path: '/page?id=[<id>]',
    warm: false
  },
  { id: 'miss', title: 'cache miss, 0 ms handler, a new URL per request', short: 'miss', server: cached(), path: '/page?id=[<id>]', warm: false },
  { id: 'uncached', title: 'route in the plugin\'s scope, not cached', short: 'not cached', server: cached(), path: '/plain', warm: false },
  {
    id: 'varnish',
    title: `Varnish in front of a ${HANDLER_MS} ms route, warm`,
    short: 'Varnish hit',
    server: { kind: 'slow', delayMs: HANDLER_MS },
    path: '/page',
    warm: true,
    needs: 'varnish'
  }
]

export const TARGETS: Partial<Record<RowId, Target>> = {
  mem: { kind: 'ratio', of: 'bare', min: 0.98, label: '≥ 0.98 × bare' },
  'mem-flood': { kind: 'ratio', of: 'bare', min: 0.98, label: '≥ 0.98 × bare' },
  'mem-stats': { kind: 'ratio', of: 'bare', min: 0.95, label: '≥ 0.95 × bare' },
  // "Counting costs a hit at most 2 %": at most 1.02 times the time per request, so 1 / 1.02 of the req/s.
  'mem-metrics': { kind: 'ratio', of: 'mem', min: 1 / 1.02, label: '≤ 2 % over memory hit' },
  redis: { kind: 'ratio', of: 'redis-naive', min: 1.25, label: '≥ 1.25 × naive Redis' },
  'redis-l1': { kind: 'ratio', of: 'bare', min: 0.98, label: '≥ 0.98 × bare' },
  miss: { kind: 'extra-micros', of: 'bare-unique', max: 15, label: '≤ +15 µs over bare, new URLs' },
  uncached: { kind: 'ratio', of: 'bare', min: 0.99, label: '≥ 0.99 × bare' }
}
