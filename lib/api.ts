import { invalidArgument } from './errors.ts'
import { PATH_TAG } from './http/key.ts'
import { publishPurge, purgeChannel } from './events.ts'
import { listOf, matcherOf } from './patterns.ts'
import type { KeyDetail, PurgeOptions, RememberedEntry, ScanPage, Stats, Store, StoreHealth, StoreSummary } from './stores/store.ts'

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

/** The JSON row of a remembered entry. */
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

/** One page of the tags in use. */
export interface TagPage {
  /** Pass back to get the next page; `'0'` when there is no more. */
  cursor: string
  /** Each tag with how many keys carry it. */
  tags: Array<{ tag: string, keys: number }>
}

/** How a purge removes entries. */
export interface PurgeCallOptions {
  /** Mark the entries stale and keep serving them while one request regenerates each (for `softPurgeGrace`). */
  soft?: boolean
}

/** Options of `findUrls`. */
export interface FindUrlsOptions extends PurgeCallOptions {
  /** Purge each yielded URL's entry (every variant) as it is yielded. */
  purge?: boolean
}

/** Options of `scanUrls`. */
export interface ScanUrlsOptions {
  /** Patterns, as findUrls; all URLs without. */
  urls?: string | string[]
  /** A cursor a previous page returned; `'0'` (the default) starts over. */
  cursor?: string
  /** URLs wanted on the page, 1-1000 (default 50); a page may hold fewer and still have a next one. */
  count?: number
}

/** Options of `scanTags`. */
export interface ScanTagsOptions {
  /** A cursor a previous page returned; `'0'` (the default) starts over. */
  cursor?: string
  /** Tags wanted on the page, 1-1000 (default 100). */
  count?: number
}

/** The cache's health: the store's own view merged with the plugin's fail-open guard. */
export interface CacheHealth {
  /** `'memory'`, `'redis'`, or `'custom'` for a store that does not say. */
  type: string
  /** Whether the last store calls succeeded. */
  up: boolean
  /** Whether a circuit breaker is skipping store calls right now. */
  circuitOpen: boolean
  /** Whether the store's connection is up (always true in process). */
  connected: boolean
  /** The in-process tier's counters, when the store has one. */
  l1?: StoreHealth['l1']
}

/** What `createApi` needs from the plugin. */
export interface ApiOptions {
  /** Seconds a soft-purged entry may still be served stale while it is regenerated. */
  softPurgeGrace: number
  /** Runs one store call, rejecting with a coded error when it takes too long (the plugin's store timeout). */
  bounded: <T>(op: () => Promise<T>) => Promise<T>
  /** The fail-open guard's state: whether the store answers, and whether a breaker is open. */
  health: () => { up: boolean, circuitOpen: boolean }
  /** The cache keys a GET of a URL (path and query) would have, for `purgeWrite`. */
  keysOfUrl?: (url: string) => string[]
}

export { compilePattern, MAX_PATTERN_LENGTH, MAX_PATTERNS } from './patterns.ts'

/** `fastify.fancyCache`: find, count and purge what is cached. */
export interface FancyCacheApi {
  /** The store in use. */
  readonly store: Store
  /** Remembered URLs still cached that match any pattern (`*` is the only wildcard); all of them without one. */
  findUrls (urls?: string | string[], options?: FindUrlsOptions): AsyncIterable<FoundUrl>
  /** Purge every variant of the remembered URLs matching the patterns; resolves how many entries were purged. */
  purgeUrls (urls: string | string[], options?: PurgeCallOptions): Promise<number>
  /** Purge every entry labelled with any of the tags; resolves how many were purged. */
  purgeTags (tags: string | string[], options?: PurgeCallOptions): Promise<number>
  /** Purge one key (every variant); resolves whether it was cached. */
  purgeKey (key: string, options?: PurgeCallOptions): Promise<boolean>
  /**
   * Purge what a successful unsafe request to these URLs (path and query) made outdated: every variant of the GET
   * entry of each URL, exactly (no wildcards). Keys come from `keysOfUrl` (one store call each) and, for entries
   * stored under other keys (a `keyPrefix`), from a walk of the remembered URLs, which costs one scan of the whole
   * index per call; `{ index: false }` skips that walk. Resolves how many keys were purged.
   */
  purgeWrite (urls: string[], options?: { index?: boolean }): Promise<number>
  /** Purge everything in this namespace, stats included. */
  clear (): Promise<void>
  /** Totals: entries, bytes, hits and misses. */
  stats (): Promise<StoreSummary>
  /** One page of remembered URLs matching the patterns, for paginated listings. */
  scanUrls (options?: ScanUrlsOptions): Promise<UrlPage>
  /** One page of the tags in use, with how many keys carry each (stores with `scanTags`). */
  scanTags (options?: ScanTagsOptions): Promise<TagPage>
  /** Everything stored under a key (stores with `inspect`), or `undefined` when nothing is. */
  inspect (key: string): Promise<KeyDetail | undefined>
  /** The store's health and the fail-open guard's state. */
  health (): CacheHealth
}

function purgeOptions (options: PurgeCallOptions | undefined, graceMs: number): PurgeOptions | undefined {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw invalidArgument('purge options must be an object such as { soft: true }')
  }
  return options?.soft === true ? { soft: true, graceMs } : undefined
}

const PAGE = 500

const unbounded: ApiOptions = {
  softPurgeGrace: 60,
  bounded: (op) => op(),
  health: () => ({ up: true, circuitOpen: false })
}

/**
 * `fastify.fancyCache` over a store. Every store call goes through `options.bounded`; every purge is published on
 * the `fastify-fancy-cache:purge` diagnostics channel once it is done. Without options (scripts, the command line),
 * store calls are not time-bounded and soft purges keep entries for 60 s.
 */
export function createApi (store: Store, options: ApiOptions = unbounded): FancyCacheApi {
  const { bounded } = options
  const graceMs = options.softPurgeGrace * 1000

  /** Remembered entries matching `matches`, a page at a time; purging them as they go when `purge` is given. */
  async function * walk (matches: (url: string) => boolean): AsyncGenerator<RememberedEntry> {
    let pending: Promise<ScanPage> | undefined = bounded(() => store.scan('0', PAGE))
    while (pending !== undefined) {
      const page: ScanPage = await pending
      // Fetch the next page while the caller consumes this one, so the store's latency overlaps the caller's work.
      // A caller that stops early leaves it unread: its failure then must not surface as an unhandled rejection.
      pending = page.cursor === '0' ? undefined : bounded(() => store.scan(page.cursor, PAGE))
      pending?.catch(() => {})
      for (const entry of page.entries) if (matches(entry.url)) yield entry
    }
  }

  async function * findUrls (urls?: string | string[], findOptions: FindUrlsOptions = {}): AsyncGenerator<FoundUrl> {
    const patterns = listOf(urls, 'findUrls patterns')
    const purge = findOptions.purge === true ? purgeOptions(findOptions, graceMs) ?? {} : undefined
    if (purge !== undefined) await bounded(() => store.notePurge(patterns.length === 0 ? ['*'] : patterns))
    let count = 0
    let failed = true
    try {
      for await (const entry of walk(matcherOf(patterns))) {
        if (purge !== undefined && await bounded(() => store.delete(entry.key, purge))) count++
        yield { url: entry.url, key: entry.key, stats: entry.stats }
      }
      failed = false
    } finally {
      // Also when the caller stopped early: what was purged so far is announced.
      if (purge !== undefined && (!failed || count > 0)) {
        publishPurge({ kind: 'urls', soft: purge.soft === true, urls: patterns, count, store })
      }
    }
  }

  async function purgeUrls (urls: string | string[], callOptions?: PurgeCallOptions): Promise<number> {
    const patterns = listOf(urls, 'purgeUrls patterns')
    const purge = purgeOptions(callOptions, graceMs)
    // An empty list purges nothing: a computed list that came out empty must not wipe the cache. Use '*' for all.
    if (patterns.length === 0) return 0
    await bounded(() => store.notePurge(patterns))
    let count = 0
    for await (const entry of walk(matcherOf(patterns))) {
      if (await bounded(() => store.delete(entry.key, purge))) count++
    }
    publishPurge({ kind: 'urls', soft: purge?.soft === true, urls: patterns, count, store })
    return count
  }

  async function purgeWrite (urls: string[], writeOptions: { index?: boolean } = {}): Promise<number> {
    const list = listOf(urls, 'purgeWrite urls')
    if (list.length === 0) return 0
    // Refuse the stores of regenerations running right now, whatever key they will store under.
    await bounded(() => store.notePurge(list))
    const tried = new Set<string>()
    let count = 0
    const purgeOne = async (key: string) => {
      if (tried.has(key)) return
      tried.add(key)
      if (await bounded(() => store.delete(key))) count++
    }
    for (const url of list) for (const key of options.keysOfUrl?.(url) ?? []) await purgeOne(key)
    if (writeOptions.index !== false) {
      const exact = new Set(list)
      for await (const entry of walk((url) => exact.has(url))) await purgeOne(entry.key)
    }
    publishPurge({ kind: 'write', soft: false, urls: list, count, store })
    return count
  }

  async function scanUrls (scanOptions: ScanUrlsOptions = {}): Promise<UrlPage> {
    const matches = matcherOf(listOf(scanOptions.urls, 'scanUrls urls'))
    const count = Math.min(Math.max(scanOptions.count ?? 50, 1), 1000)
    let cursor = scanOptions.cursor ?? '0'
    const entries: RememberedEntry[] = []
    // Bound the work per page: with a rare pattern, return a short page and a cursor rather than walk everything.
    for (let examined = 0; examined < count * 100;) {
      const page = await bounded(() => store.scan(cursor, count))
      examined += Math.max(page.entries.length, 1)
      for (const entry of page.entries) if (matches(entry.url)) entries.push(entry)
      cursor = page.cursor
      if (cursor === '0' || entries.length >= count) break
    }
    return { cursor, entries }
  }

  return {
    store,
    findUrls,
    purgeUrls,
    purgeWrite,
    scanUrls,
    async purgeTags (tags, callOptions) {
      const list = listOf(tags, 'purgeTags tags')
      const purge = purgeOptions(callOptions, graceMs)
      if (list.length === 0) return 0
      const count = await bounded(() => store.deleteTags(list, purge))
      publishPurge({ kind: 'tags', soft: purge?.soft === true, tags: list, count, store })
      return count
    },
    async purgeKey (key, callOptions) {
      if (typeof key !== 'string') throw invalidArgument('purgeKey key must be a string')
      const purge = purgeOptions(callOptions, graceMs)
      const found = await bounded(() => store.delete(key, purge))
      publishPurge({ kind: 'key', soft: purge?.soft === true, key, count: found ? 1 : 0, store })
      return found
    },
    async clear () {
      // Counting costs a store call, made only for someone listening.
      const entries = purgeChannel.hasSubscribers ? (await bounded(() => store.summary())).entries : 0
      await bounded(() => store.clear())
      publishPurge({ kind: 'clear', soft: false, count: entries, store })
    },
    async stats () {
      return bounded(() => store.summary())
    },
    async scanTags (scanOptions = {}) {
      if (store.scanTags === undefined) throw invalidArgument('scanTags: this store does not list tags (Store.scanTags)')
      const count = Math.min(Math.max(scanOptions.count ?? 100, 1), 1000)
      const page = await bounded(() => store.scanTags!(scanOptions.cursor ?? '0', count))
      // The tags the cache gives every entry for purge-on-write are its own business, not a listing's.
      return { cursor: page.cursor, tags: page.tags.filter((t) => !t.tag.startsWith(PATH_TAG)) }
    },
    async inspect (key) {
      if (typeof key !== 'string') throw invalidArgument('inspect key must be a string')
      if (store.inspect === undefined) throw invalidArgument('inspect: this store cannot show a key (Store.inspect)')
      return bounded(() => store.inspect!(key))
    },
    health () {
      const guard = options.health()
      const own = store.health?.() ?? { type: 'custom', connected: true }
      const health: CacheHealth = { type: own.type, up: guard.up, circuitOpen: guard.circuitOpen, connected: own.connected }
      if (own.l1 !== undefined) health.l1 = own.l1
      return health
    }
  }
}
