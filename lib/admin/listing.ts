import { FancyCacheError } from '../errors.ts'
import type { RememberedEntry } from '../stores/store.ts'
import type { FancyCacheApi, UrlPage } from '../api.ts'

/** Up to this many cached entries the page sorts and paginates the whole match set; beyond, one scan page at a time. */
export const SORT_ALL_LIMIT = 10_000
const GATHER_PAGE = 1000
/** How long one page view may keep scanning for matches of a rare pattern. */
const FILL_MS = 150

/** The listing's columns, each sortable. */
export const SORT_COLUMNS = ['url', 'key', 'hits', 'misses', 'ratio', 'size', 'age', 'left'] as const
/** One of the listing's columns. */
export type SortColumn = typeof SORT_COLUMNS[number]

/** A listing request, as parsed from the page's query string. */
export interface ListingQuery {
  patterns: string[]
  limit: number
  cursor: string | undefined
  offset: number
  sort: SortColumn | undefined
  dir: 'asc' | 'desc'
}

/** What one page of the listing shows. */
export interface Listing {
  entries: RememberedEntry[]
  /** `all`: the whole match set was sorted and is paged by offset; `scan`: one page of the store's scan order. */
  mode: 'all' | 'scan'
  /** Matching URLs in mode `all`. */
  total: number
  /** Store cursor of the next page in mode `scan`; `undefined` on the last page. */
  nextCursor: string | undefined
  /** The requested cursor could not be resumed, so the listing starts over. */
  restarted: boolean
}

function ratioOf (entry: RememberedEntry): number {
  const stats = entry.stats
  if (stats === null) return -1
  const total = stats.hits + stats.misses
  return total === 0 ? 0 : stats.hits / total
}

const sortValue: Record<SortColumn, (e: RememberedEntry) => number | string> = {
  url: (e) => e.url,
  key: (e) => e.key,
  hits: (e) => e.stats?.hits ?? -1,
  misses: (e) => e.stats?.misses ?? -1,
  ratio: ratioOf,
  size: (e) => e.bytes,
  // Oldest first when ascending by age: a smaller storedAt is a greater age.
  age: (e) => -e.storedAt,
  left: (e) => e.expiresAt
}

/** Sorts in place by one column, ties by URL. */
export function sortEntries (entries: RememberedEntry[], column: SortColumn, dir: 'asc' | 'desc'): RememberedEntry[] {
  const value = sortValue[column]
  const sign = dir === 'asc' ? 1 : -1
  return entries.sort((a, b) => {
    const x = value(a)
    const y = value(b)
    const order = x < y ? -1 : x > y ? 1 : 0
    return order !== 0 ? order * sign : a.url < b.url ? -1 : a.url > b.url ? 1 : 0
  })
}

function isBadCursor (err: unknown): boolean {
  return err instanceof FancyCacheError && err.code === 'FANCY_CACHE_ERR_INVALID_ARGUMENT'
}

/** Every matching entry, or `undefined` when there turn out to be more than SORT_ALL_LIMIT. */
async function gatherAll (api: FancyCacheApi, patterns: string[]): Promise<RememberedEntry[] | undefined> {
  const all: RememberedEntry[] = []
  let cursor = '0'
  // A bound on round trips too, in case entries keep arriving while the scan runs.
  for (let round = 0; round < (SORT_ALL_LIMIT / GATHER_PAGE) * 4; round++) {
    const page = await api.scanUrls({ urls: patterns, cursor, count: GATHER_PAGE })
    all.push(...page.entries)
    if (all.length > SORT_ALL_LIMIT) return undefined
    cursor = page.cursor
    if (cursor === '0') return all
  }
  return undefined
}

/**
 * A rare pattern leaves scan pages short or empty (scanUrls bounds its work per call): keep scanning for a moment so
 * the page shows matches rather than an empty table and a "next" link.
 */
async function fillPage (api: FancyCacheApi, query: ListingQuery, page: UrlPage): Promise<UrlPage> {
  const deadline = Date.now() + FILL_MS
  let { cursor, entries } = page
  while (entries.length < query.limit && cursor !== '0' && Date.now() < deadline) {
    const more = await api.scanUrls({ urls: query.patterns, cursor, count: query.limit - entries.length })
    entries = entries.concat(more.entries)
    cursor = more.cursor
  }
  return { cursor, entries }
}

/** One page in the store's scan order; a cursor the store no longer knows starts the listing over. */
async function scanPage (api: FancyCacheApi, query: ListingQuery): Promise<{ page: UrlPage, restarted: boolean }> {
  const cursor = query.cursor ?? '0'
  try {
    return { page: await fillPage(api, query, await api.scanUrls({ urls: query.patterns, cursor, count: query.limit })), restarted: false }
  } catch (err) {
    if (!isBadCursor(err) || cursor === '0') throw err
  }
  return { page: await api.scanUrls({ urls: query.patterns, cursor: '0', count: query.limit }), restarted: true }
}

/**
 * One page of the listing. With up to SORT_ALL_LIMIT cached entries the whole match set is gathered, sorted and
 * sliced, so sorting is global and pages can go back. Beyond that, a full sort would cost a scan of every remembered
 * URL per page view: the listing follows the store's scan cursor instead (constant work per page, however many URLs)
 * and sorts within the page.
 */
export async function list (api: FancyCacheApi, query: ListingQuery, entries: number): Promise<Listing> {
  if (query.cursor === undefined && entries <= SORT_ALL_LIMIT) {
    const all = await gatherAll(api, query.patterns)
    if (all !== undefined) {
      if (query.sort !== undefined) sortEntries(all, query.sort, query.dir)
      const offset = Math.min(query.offset, Math.max(0, all.length - 1))
      const shown = all.slice(offset, offset + query.limit)
      return { entries: shown, mode: 'all', total: all.length, nextCursor: undefined, restarted: false }
    }
  }
  const { page, restarted } = await scanPage(api, query)
  const shown = query.sort === undefined ? page.entries : sortEntries([...page.entries], query.sort, query.dir)
  return {
    entries: shown,
    mode: 'scan',
    total: shown.length,
    nextCursor: page.cursor === '0' ? undefined : page.cursor,
    restarted
  }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB']

/** Bytes in B, KiB, MiB or GiB. */
export function formatBytes (bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`
}

/** A duration as `42 s`, `5 min`, `3 h 20 min` or `2 d 4 h`. */
export function formatDuration (ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min`
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`
}

/** Hits over all lookups as a percentage, `–` when there were none. */
export function formatRatio (hits: number, misses: number): string {
  const total = hits + misses
  return total === 0 ? '–' : `${Math.round((hits / total) * 1000) / 10}%`
}
