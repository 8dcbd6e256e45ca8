import type { StoreSummary } from '../stores/store.ts'
import {
  SORT_ALL_LIMIT, SORT_COLUMNS, formatBytes, formatDuration, formatRatio,
  type Listing, type ListingQuery, type SortColumn
} from './listing.ts'
import { bounded, one } from './scope.ts'

const LABELS: Record<SortColumn, string> = {
  url: 'URL', key: 'Key', hits: 'Hits', misses: 'Misses', ratio: 'Hit ratio', size: 'Size', age: 'Age', left: 'Time left'
}
const TEXT_COLUMNS = new Set<SortColumn>(['url', 'key'])
/** Rows per page unless the page asks for another number. */
export const DEFAULT_LIMIT = 50
/** Most rows one page (or one API call) may ask for. */
export const MAX_LIMIT = 1000

/** findUrls patterns from a search box: URLs never contain raw whitespace, so whitespace separates patterns. */
export function patternsOf (q: string): string[] {
  return bounded(q.split(/\s+/).filter((p) => p !== ''), 'patterns')
}

function intOf (value: string | undefined, fallback: number, min: number, max: number): number {
  const n = Number(value)
  return value === undefined || value === '' || !Number.isInteger(n) ? fallback : Math.min(Math.max(n, min), max)
}

/** The page's state, from its query string or from the hidden fields a purge form posts back. */
export interface PageState {
  q: string
  query: ListingQuery
}

/** The page's state from its query string or a form's fields, every value bounded. */
export function pageStateOf (fields: Record<string, unknown>): PageState {
  const q = (one(fields.q) ?? '').trim().slice(0, 4000)
  const sortField = one(fields.sort)
  const sort = SORT_COLUMNS.find((c) => c === sortField)
  const dirField = one(fields.dir)
  const dir = dirField === 'asc' || dirField === 'desc'
    ? dirField
    : sort !== undefined && TEXT_COLUMNS.has(sort) ? 'asc' : 'desc'
  const cursor = one(fields.cursor)
  return {
    q,
    query: {
      patterns: patternsOf(q),
      limit: intOf(one(fields.limit), DEFAULT_LIMIT, 1, MAX_LIMIT),
      cursor: cursor === undefined || cursor === '' || cursor === '0' ? undefined : cursor,
      offset: intOf(one(fields.offset), 0, 0, Number.MAX_SAFE_INTEGER),
      sort,
      dir
    }
  }
}

/** The query-string form of a page state (defaults left out), for links and redirects. */
export function pageParams (state: PageState, change: { cursor?: string | undefined, offset?: number, sort?: SortColumn, dir?: string } = {}): URLSearchParams {
  const { query } = state
  const params = new URLSearchParams()
  if (state.q !== '') params.set('q', state.q)
  const sort = 'sort' in change ? change.sort : query.sort
  if (sort !== undefined) {
    params.set('sort', sort)
    params.set('dir', change.dir ?? query.dir)
  }
  if (query.limit !== DEFAULT_LIMIT) params.set('limit', String(query.limit))
  const cursor = 'cursor' in change ? change.cursor : query.cursor
  if (cursor !== undefined) params.set('cursor', cursor)
  const offset = change.offset ?? query.offset
  if (offset > 0 && cursor === undefined) params.set('offset', String(offset))
  return params
}

/** A link to `base` with these parameters. */
export function hrefOf (base: string, params: URLSearchParams): string {
  const search = params.toString()
  return search === '' ? base : `${base}?${search}`
}

/** What every page's layout shows. */
export interface ViewContext {
  title: string
  base: string
  namespace: string
  store: string
  rememberAllUrls: boolean
  rememberStatsAllUrls: boolean
  csrf: string
  flash: string | undefined
  /** The page shown, for the navigation. */
  current: 'urls' | 'routes' | 'tags' | 'entry' | 'confirm'
}

const NAV = [['urls', 'URLs', ''], ['routes', 'Routes', '/routes'], ['tags', 'Tags', '/tags']] as const

/** The layout's fields: title, namespace, store, navigation. */
export function layoutOf (context: ViewContext, page: string) {
  return {
    title: context.title,
    pageTitle: `${context.title} · ${page}`,
    base: context.base,
    namespace: context.namespace,
    store: context.store,
    csrf: context.csrf,
    flash: context.flash,
    nav: NAV.map(([id, label, path]) => ({ label, href: context.base + path, current: context.current === id }))
  }
}

/** The store's totals, each saying what it counts: entries now, hits and misses since the last clear. */
export function totalsOf (totals: StoreSummary) {
  return [
    { n: totals.entries.toLocaleString('en-US'), l: 'entries', since: 'now' },
    { n: formatBytes(totals.bytes), l: 'stored', since: 'now' },
    { n: totals.hits.toLocaleString('en-US'), l: 'hits', since: 'since clear' },
    { n: totals.misses.toLocaleString('en-US'), l: 'misses', since: 'since clear' },
    { n: formatRatio(totals.hits, totals.misses), l: 'hit ratio', since: 'since clear' }
  ]
}

function warningsOf (context: ViewContext): string[] {
  const warnings: string[] = []
  if (!context.rememberAllUrls) {
    warnings.push('rememberAllUrls is off: only routes with config.fancyCache.rememberUrl: true are listed here.')
  }
  if (!context.rememberStatsAllUrls) {
    warnings.push('rememberStatsAllUrls is off: hits and misses are counted only for routes with ' +
      'config.fancyCache.rememberStats: true.')
  }
  return warnings
}

function columnsOf (base: string, state: PageState, listing: Listing) {
  const { query } = state
  return SORT_COLUMNS.map((id) => {
    const active = query.sort === id
    const dir = active ? (query.dir === 'asc' ? 'desc' : 'asc') : TEXT_COLUMNS.has(id) ? 'asc' : 'desc'
    // Sorting a scan page keeps the page (its cursor); sorting everything starts at the top.
    const offset = listing.mode === 'scan' ? query.offset : 0
    return {
      id,
      label: LABELS[id],
      href: hrefOf(base, pageParams(state, { sort: id, dir, offset })),
      arrow: active ? (query.dir === 'asc' ? '▲' : '▼') : '',
      sorted: active ? (query.dir === 'asc' ? 'ascending' : 'descending') : 'none',
      numeric: !TEXT_COLUMNS.has(id)
    }
  })
}

function rowsOf (base: string, listing: Listing, now: number) {
  return listing.entries.map((entry) => {
    const stats = entry.stats
    const left = entry.expiresAt - now
    return {
      url: entry.url,
      key: entry.key,
      href: `${base}/entry?key=${encodeURIComponent(entry.key)}`,
      keyShort: entry.key.length > 10 ? `${entry.key.slice(0, 10)}…` : entry.key,
      hits: stats === null ? '–' : String(stats.hits),
      misses: stats === null ? '–' : String(stats.misses),
      ratio: stats === null ? '–' : formatRatio(stats.hits, stats.misses),
      size: formatBytes(entry.bytes),
      age: formatDuration(Math.max(0, now - entry.storedAt)),
      left: left > 0 ? formatDuration(left) : 'stale',
      stale: left <= 0
    }
  })
}

function pagerOf (base: string, state: PageState, listing: Listing) {
  const { query } = state
  if (listing.mode === 'all') {
    const from = listing.total === 0 ? 0 : query.offset + 1
    const to = query.offset + listing.entries.length
    return {
      summary: `${from.toLocaleString('en-US')}–${to.toLocaleString('en-US')} of ${listing.total.toLocaleString('en-US')} URLs`,
      first: query.offset > 0 ? hrefOf(base, pageParams(state, { offset: 0 })) : undefined,
      prev: query.offset > 0 ? hrefOf(base, pageParams(state, { offset: Math.max(0, query.offset - query.limit) })) : undefined,
      next: to < listing.total ? hrefOf(base, pageParams(state, { offset: to })) : undefined,
      note: undefined
    }
  }
  return {
    summary: `${listing.entries.length.toLocaleString('en-US')} URLs on this page`,
    first: query.cursor !== undefined ? hrefOf(base, pageParams(state, { cursor: undefined, offset: 0 })) : undefined,
    prev: undefined,
    next: listing.nextCursor !== undefined ? hrefOf(base, pageParams(state, { cursor: listing.nextCursor })) : undefined,
    note: `More than ${SORT_ALL_LIMIT.toLocaleString('en-US')} entries are cached, so pages follow the store's scan ` +
      'order and sorting applies within the page shown.'
  }
}

/** Everything the index template shows, beside the chart and health the page adds. */
export function indexModel (context: ViewContext, state: PageState, listing: Listing, totals: StoreSummary) {
  const { base } = context
  const hidden: Array<[string, string]> = [...pageParams(state)]
  return {
    ...layoutOf(context, 'cached URLs'),
    notice: listing.restarted ? 'That page is no longer available (the scan cursor expired), so the listing starts over.' : undefined,
    warnings: warningsOf(context),
    totals: totalsOf(totals),
    q: state.q,
    limit: state.query.limit,
    sort: state.query.sort,
    dir: state.query.dir,
    hidden,
    columns: columnsOf(base, state, listing),
    rows: rowsOf(base, listing, Date.now()),
    pager: pagerOf(base, state, listing),
    empty: listing.nextCursor !== undefined
      ? 'No match in the part of the cache searched so far: the next page searches on.'
      : state.q === ''
        ? 'No remembered URL is cached right now.'
        : `No cached URL matches ${state.q}. Patterns match the whole URL, with * for any run of characters: try *${state.q}*`
  }
}
