import type { CacheHealth } from '../api.ts'
import type { CacheEntry, KeyDetail, RememberedEntry } from '../stores/store.ts'
import { formatBytes, formatDuration, formatRatio } from './listing.ts'
import type { MetricsCollector, RouteCounters } from './metrics.ts'
import { routeMatcher } from './route-match.ts'

/** C0 and C1 controls and bidirectional overrides, shown escaped so that a value cannot disguise itself. */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g // eslint-disable-line no-control-regex

/** The text with its control characters shown as escapes. */
export function printable (text: string): string {
  return text.replace(CONTROLS, (c) => {
    const code = c.charCodeAt(0)
    return code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, '0')}`
  })
}

/** The cache's own tags (`~path:…`, what purges on writes use) are not the app's: the pages leave them out. */
export function isUserTag (tag: { tag: string }): boolean {
  return !tag.tag.startsWith('~path:')
}

/** The store's health line: type, connection, circuit breaker, the L1's hit ratio. */
export function healthModel (health: CacheHealth, collector: MetricsCollector) {
  const l1 = health.l1
  return {
    type: health.type,
    up: health.up,
    connected: health.connected,
    circuitOpen: health.circuitOpen,
    l1: l1 === undefined
      ? undefined
      : { ratio: formatRatio(l1.hits, l1.misses), hits: l1.hits.toLocaleString('en-US'), misses: l1.misses.toLocaleString('en-US'), entries: l1.entries.toLocaleString('en-US') },
    uptime: formatDuration(Date.now() - collector.startedAt)
  }
}

/** Entries and bytes per route pattern, from remembered URLs. */
export interface RouteSizes {
  sizes: Map<string, { entries: number, bytes: number }>
  /** Remembered URLs matched to no known route (declared before the plugin, or gone). */
  unmatched: number
  /** Counted over this many remembered URLs only: there were more. */
  partial: number | undefined
}

/** Group remembered entries by the route pattern each URL belongs to. */
export function routeSizes (routes: string[], entries: RememberedEntry[], partial: number | undefined): RouteSizes {
  const match = routeMatcher(routes)
  const sizes = new Map<string, { entries: number, bytes: number }>()
  let unmatched = 0
  for (const entry of entries) {
    const route = match(entry.url)
    if (route === undefined) {
      unmatched++
      continue
    }
    const size = sizes.get(route) ?? { entries: 0, bytes: 0 }
    size.entries++
    size.bytes += entry.bytes
    sizes.set(route, size)
  }
  return { sizes, unmatched, partial }
}

/** Handler time a route's hits avoided: each hit saved a miss's time less its own. */
export function savedMs (counters: RouteCounters): number | undefined {
  if (counters.missTimed === 0) return undefined
  const miss = counters.missMs / counters.missTimed
  const hit = counters.hitTimed === 0 ? 0 : counters.hitMs / counters.hitTimed
  return (counters.hit + counters.stale) * Math.max(0, miss - hit)
}

function formatMs (ms: number | undefined): string {
  if (ms === undefined) return '–'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  return formatDuration(ms)
}

/** One row per route: what it keeps (from the store) and what it did (counted in this process since start). */
export function routeRows (collector: MetricsCollector, sizes: RouteSizes) {
  return collector.routes().map((c) => {
    const size = sizes.sizes.get(c.route)
    const hits = c.hit + c.stale
    const misses = c.miss + c.stored
    const saved = savedMs(c)
    return {
      route: c.route,
      entries: size === undefined ? '0' : size.entries.toLocaleString('en-US'),
      bytes: formatBytes(size?.bytes ?? 0),
      hits: hits.toLocaleString('en-US'),
      misses: misses.toLocaleString('en-US'),
      bypass: (c.bypass + c['store-error']).toLocaleString('en-US'),
      ratio: formatRatio(hits, misses),
      miss: formatMs(c.missTimed === 0 ? undefined : c.missMs / c.missTimed),
      saved: formatMs(saved),
      savedMs: saved ?? -1
    }
  }).sort((a, b) => b.savedMs - a.savedMs || a.route.localeCompare(b.route))
}

function count (n: number, one: string, many: string): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`
}

function headerRows (entry: CacheEntry): Array<[string, string]> {
  return Object.entries(entry.headers).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map((v): [string, string] => [name, printable(String(v))]))
}

function when (ms: number, now: number): string {
  const iso = new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
  const delta = ms - now
  return `${iso} (${delta >= 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`})`
}

/** Everything the entry view shows: the key's variants with their headers, its tags, URL and stats. */
export function entryModel (detail: KeyDetail) {
  const now = Date.now()
  return {
    key: detail.key,
    url: detail.url === undefined ? undefined : printable(detail.url),
    vary: detail.vary,
    tags: detail.tags.filter((tag) => isUserTag({ tag })).map(printable),
    stats: detail.stats === null
      ? undefined
      : `${count(detail.stats.hits, 'hit', 'hits')}, ${count(detail.stats.misses, 'miss', 'misses')} (${formatRatio(detail.stats.hits, detail.stats.misses)})`,
    bytes: formatBytes(detail.variants.reduce((sum, v) => sum + v.entry.body.length, 0)),
    variants: detail.variants.map(({ variant, entry }) => ({
      variant: variant === '' ? '(the only variant: no Vary)' : printable(variant),
      status: entry.status,
      size: formatBytes(entry.body.length),
      etag: printable(entry.etag),
      stored: when(entry.storedAt, now),
      expires: when(entry.expiresAt, now),
      staleUntil: when(entry.staleUntil, now),
      state: entry.softPurged === true ? 'refreshing (soft-purged)' : entry.expiresAt > now ? 'fresh' : 'stale',
      headers: headerRows(entry)
    }))
  }
}
