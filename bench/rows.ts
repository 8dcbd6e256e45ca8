// The rows of the benchmark table (issue #7) and the targets they are held to.
import type { ServerSettings } from './server.ts'

export type RowId = 'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g' | 'h'

export interface Row {
  id: RowId
  title: string
  /** The app under test; for row h, the origin behind Varnish. */
  server: ServerSettings
  /** Request path; `[<id>]` becomes a fresh id per request. */
  path: string
  /** Prime the cache with one request and serve hits (rows c, d, e, g, h). */
  warm: boolean
  needs?: 'redis' | 'varnish'
}

/** A target: this row's req/s at least `ratio` times that of row `of` (same run). */
export interface Target {
  of: RowId
  ratio: number
  label: string
}

export const HANDLER_MS = 20
const slow = { delayMs: HANDLER_MS }

export const ROWS: Row[] = [
  { id: 'a', title: 'bare route, constant 2 KB HTML', server: { kind: 'bare', delayMs: 0 }, path: '/page', warm: false },
  // Same URL shape as row f, so that f - b is the cost of the plugin on a miss and nothing else.
  { id: 'b', title: '20 ms handler, uncached', server: { kind: 'slow', ...slow }, path: '/page?id=[<id>]', warm: false },
  { id: 'c', title: 'cached, memory store, warm', server: { kind: 'cached', ...slow, plugin: {} }, path: '/page', warm: true },
  {
    id: 'd',
    title: 'cached, Redis store, warm',
    server: { kind: 'cached', ...slow, plugin: { store: 'redis', namespace: 'bench-d' } },
    path: '/page',
    warm: true,
    needs: 'redis'
  },
  {
    id: 'e',
    title: 'cached, Redis store + L1, warm',
    server: { kind: 'cached', ...slow, plugin: { store: 'redis', namespace: 'bench-e', l1: true } },
    path: '/page',
    warm: true,
    needs: 'redis'
  },
  {
    id: 'f',
    title: 'cache misses (new key every request)',
    server: { kind: 'cached', ...slow, plugin: {} },
    path: '/page?id=[<id>]',
    warm: false
  },
  {
    id: 'g',
    title: 'as c + rememberAllUrls + stats',
    server: { kind: 'cached', ...slow, plugin: { rememberAllUrls: true, rememberStatsAllUrls: true } },
    path: '/page',
    warm: true
  },
  { id: 'h', title: 'Varnish in front of b, warm', server: { kind: 'slow', ...slow }, path: '/page', warm: true, needs: 'varnish' }
]

// "Miss overhead <= 5 % over b" and "stats cost <= 5 % over c": the row may take at most 1.05 times the time per
// request, so its req/s is at least 1 / 1.05 of the other's.
export const TARGETS: Partial<Record<RowId, Target>> = {
  c: { of: 'a', ratio: 0.95, label: '>= 0.95 x a' },
  d: { of: 'a', ratio: 0.80, label: '>= 0.80 x a' },
  e: { of: 'a', ratio: 0.95, label: '>= 0.95 x a' },
  f: { of: 'b', ratio: 1 / 1.05, label: '<= 5 % over b' },
  g: { of: 'c', ratio: 1 / 1.05, label: '<= 5 % over c' }
}
