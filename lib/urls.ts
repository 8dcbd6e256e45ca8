import { invalidArgument } from './errors.ts'
import type { RememberedEntry, ScanPage, Stats, Store, StoreSummary } from './stores/store.ts'

/** A remembered URL yielded by `findUrls`. */
export interface FoundUrl {
  /** Path and query string as first requested. */
  url: string
  /** The cache key it is stored under. */
  key: string
  /** Hits and misses, or `null` when stats are off for its route. */
  stats: Stats | null
}

/** A remembered URL as the JSON API and the command line show it; `hits`/`misses` are `null` when stats are off. */
export interface UrlRow {
  url: string
  key: string
  hits: number | null
  misses: number | null
  bytes: number
  storedAt: number
  expiresAt: number
}

export function urlRow (entry: RememberedEntry): UrlRow {
  return {
    url: entry.url,
    key: entry.key,
    hits: entry.stats?.hits ?? null,
    misses: entry.stats?.misses ?? null,
    bytes: entry.bytes,
    storedAt: entry.storedAt,
    expiresAt: entry.expiresAt
  }
}

/** One page of remembered URLs (the admin page and API use it). */
export interface UrlPage {
  /** Pass back to get the next page; `'0'` when there is no more. */
  cursor: string
  entries: RememberedEntry[]
}

/** `fastify.fancyCache`: find, count and purge what is cached (SPEC §7). */
export interface FancyCacheApi {
  /** The store in use. */
  readonly store: Store
  /** Remembered URLs still cached that match any pattern (`*` is the only wildcard); all of them without one. */
  findUrls (urls?: string | string[], options?: { purge?: boolean }): AsyncIterable<FoundUrl>
  /** Purge every variant of the remembered URLs matching the patterns; resolves how many entries were removed. */
  purgeUrls (urls: string | string[]): Promise<number>
  /** Purge every entry labelled with any of the tags; resolves how many were removed. */
  purgeTags (tags: string | string[]): Promise<number>
  /** Purge one key (every variant); resolves whether it was cached. */
  purgeKey (key: string): Promise<boolean>
  /** Purge everything in this namespace, stats included. */
  clear (): Promise<void>
  /** Totals: entries, bytes, hits and misses. */
  stats (): Promise<StoreSummary>
  /** One page of remembered URLs matching the patterns, for paginated listings. */
  scanUrls (options?: { urls?: string | string[], cursor?: string, count?: number }): Promise<UrlPage>
}

/**
 * A matcher for findUrls patterns: `*` matches any run of characters, everything else itself, the whole URL must
 * match. Greedy leftmost matching of the literal pieces is exact for `*`-only globs and takes linear time, so a
 * hostile pattern such as `*a*a*a*a*b` cannot blow up the way a backtracking regex would.
 */
export function compilePattern (pattern: string): (url: string) => boolean {
  const pieces = pattern.split('*')
  if (pieces.length === 1) return (url) => url === pattern
  const first = pieces[0]!
  const last = pieces[pieces.length - 1]!
  const middle = pieces.slice(1, -1).filter((p) => p !== '')
  const fixed = first.length + last.length
  return (url) => {
    if (url.length < fixed || !url.startsWith(first) || !url.endsWith(last)) return false
    let at = first.length
    const end = url.length - last.length
    for (const piece of middle) {
      const found = url.indexOf(piece, at)
      if (found === -1 || found + piece.length > end) return false
      at = found + piece.length
    }
    return true
  }
}

function patternsOf (urls: unknown, what: string): string[] {
  if (urls === undefined) return []
  const list = typeof urls === 'string' ? [urls] : urls
  if (!Array.isArray(list) || !list.every((u) => typeof u === 'string')) {
    throw invalidArgument(`${what} must be a string or an array of strings`)
  }
  return list
}

function matcherOf (patterns: string[]): (url: string) => boolean {
  if (patterns.length === 0) return () => true
  const matchers = patterns.map(compilePattern)
  return (url) => matchers.some((match) => match(url))
}

const PAGE = 500

export function createApi (store: Store): FancyCacheApi {
  async function * findUrls (urls?: string | string[], options: { purge?: boolean } = {}): AsyncGenerator<FoundUrl> {
    const matches = matcherOf(patternsOf(urls, 'findUrls patterns'))
    if (options.purge === true) await store.bumpEpoch()
    let pending: Promise<ScanPage> | undefined = store.scan('0', PAGE)
    while (pending !== undefined) {
      const page: ScanPage = await pending
      // Fetch the next page while the caller consumes this one, so the store's latency overlaps the caller's work.
      // A caller that stops early leaves it unread: its failure then must not surface as an unhandled rejection.
      pending = page.cursor === '0' ? undefined : store.scan(page.cursor, PAGE)
      pending?.catch(() => {})
      for (const entry of page.entries) {
        if (!matches(entry.url)) continue
        if (options.purge === true) await store.delete(entry.key)
        yield { url: entry.url, key: entry.key, stats: entry.stats }
      }
    }
  }

  async function scanUrls (options: { urls?: string | string[], cursor?: string, count?: number } = {}): Promise<UrlPage> {
    const matches = matcherOf(patternsOf(options.urls, 'scanUrls urls'))
    const count = Math.min(Math.max(options.count ?? 50, 1), 1000)
    let cursor = options.cursor ?? '0'
    const entries: RememberedEntry[] = []
    // Bound the work per page: with a rare pattern, return a short page and a cursor rather than walk everything.
    for (let examined = 0; examined < count * 100;) {
      const page = await store.scan(cursor, count)
      examined += Math.max(page.entries.length, 1)
      for (const entry of page.entries) if (matches(entry.url)) entries.push(entry)
      cursor = page.cursor
      if (cursor === '0' || entries.length >= count) break
    }
    return { cursor, entries }
  }

  async function purgeUrls (urls: string | string[]): Promise<number> {
    const patterns = patternsOf(urls, 'purgeUrls patterns')
    // An empty list purges nothing: a computed list that came out empty must not wipe the cache. Use '*' for all.
    if (patterns.length === 0) return 0
    await store.bumpEpoch()
    let purged = 0
    for await (const found of findUrls(patterns)) {
      if (await store.delete(found.key)) purged++
    }
    return purged
  }

  return {
    store,
    findUrls,
    purgeUrls,
    scanUrls,
    async purgeTags (tags) {
      return store.deleteTags(patternsOf(tags, 'purgeTags tags'))
    },
    async purgeKey (key) {
      if (typeof key !== 'string') throw invalidArgument('purgeKey key must be a string')
      return store.delete(key)
    },
    async clear () {
      await store.clear()
    },
    async stats () {
      return store.summary()
    }
  }
}
