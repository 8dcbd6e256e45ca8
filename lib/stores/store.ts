/**
 * The seam between the plugin and a storage backend. The plugin computes keys, decides what is cacheable and when an
 * entry is fresh or stale; a store only keeps records, bounded and atomic. Both built-in stores pass the conformance
 * suite exported as `fastify-fancy-cache/conformance` (`storeConformance(name, makeStore)`); a custom store can run
 * it too.
 *
 * Model: one *group* per key (one URL after keyPrefix/query filtering). A group holds one entry per *variant* (the
 * values of the request headers its responses name in `Vary`), the URL it was remembered under, its tags, and
 * survives until its last entry's `staleUntil`. Deleting a key deletes every variant at once, which is what purging a
 * URL means. Stats live beside the group and outlive it, so a page regenerated five times shows five misses.
 */

/** A stored response. */
export interface CacheEntry {
  /** HTTP status code. */
  status: number
  /** Response headers, lower-case names; no hop-by-hop headers, no Set-Cookie, no Content-Length. */
  headers: Record<string, string | string[]>
  /** The body as sent on a miss (after postProcessResponse). */
  body: Buffer
  /** Strong or weak entity tag, quoted (`"abc"` or `W/"abc"`). */
  etag: string
  /** When it was stored, ms since the epoch. */
  storedAt: number
  /** Fresh until, ms since the epoch. */
  expiresAt: number
  /** Kept (and servable as stale) until, ms since the epoch; the store may drop it after this. */
  staleUntil: number
  /**
   * Set by a soft purge: the entry is stale from the purge on, and may be served (while one request regenerates
   * it) until `staleUntil`, whatever the route's stale windows say.
   */
  softPurged?: boolean
}

/** What a store knows about a key. Read-only: an in-process store may hand out objects it keeps. */
export interface Lookup {
  /** The requested variant, when stored and not past its `staleUntil`. */
  entry: CacheEntry | undefined
  /** The request header names (lower-case, sorted) this key's responses vary on; `[]` when none. */
  vary: string[]
}

/** How to store an entry beside the entry itself. */
export interface EntryMeta {
  /** Header names the entry varies on (lower-case, sorted). A different list replaces the group's variants. */
  vary: string[]
  /** Remember this URL (path and query as requested) for the key, for findUrls and the admin page. */
  url?: string
  /** Labels for purgeTags. */
  tags?: string[]
  /**
   * What `epoch()` returned before the handler ran. The store refuses the entry when, since then, a purge covered
   * it: `delete(key)` (hard or soft), `deleteTags` of one of `tags`, `notePurge` of a pattern matching `url`, or
   * `clear()`; or when the store cannot tell (it lost its state, e.g. Redis restarted empty, or its record of
   * recent purges no longer reaches back that far). Purges of other keys, tags and URLs never refuse it.
   */
  epoch: string
  /** Most variants kept for this key: storing one more first drops the least recently used variant. */
  maxVariants: number
}

/** How a purge removes entries. */
export interface PurgeOptions {
  /**
   * Mark the entries stale (`softPurged`, `expiresAt` = now) instead of deleting them: they stay servable as
   * stale until `now + max(graceMs, staleUntil - expiresAt)` while one request regenerates them.
   */
  soft?: boolean
  /** With `soft`: the shortest stale window, ms. */
  graceMs?: number
}

/** Hits and misses counted for a key. */
export interface Stats {
  hits: number
  misses: number
}

/** One remembered URL whose entry is still stored. */
export interface RememberedEntry {
  url: string
  key: string
  /** Bytes of all the key's variants. */
  bytes: number
  /** Newest variant's `storedAt` and `expiresAt`, ms since the epoch. */
  storedAt: number
  expiresAt: number
  /** `null` when nothing was counted for the key. */
  stats: Stats | null
}

/**
 * A page of a scan; `cursor` is `'0'` when the scan is complete (Redis SCAN semantics: a page may be short or empty
 * and still have a next one; a cursor may be used again, any number of scans may be open, none of them expires, and
 * a URL stored for the whole scan is returned exactly once).
 */
export interface ScanPage {
  cursor: string
  entries: RememberedEntry[]
}

/** Totals for the whole namespace. */
export interface StoreSummary {
  entries: number
  bytes: number
  hits: number
  misses: number
}

/** All a store holds under one key. */
export interface KeyDetail {
  key: string
  vary: string[]
  url: string | undefined
  tags: string[]
  variants: Array<{ variant: string, entry: CacheEntry }>
  stats: Stats | null
}

/** What a store says about its own health. */
export interface StoreHealth {
  /** `'memory'`, `'redis'`, or a custom store's name. */
  type: string
  /** Whether its connection is up (always true for in-process stores). */
  connected: boolean
  /** Hits and misses of the in-process tier in front of a remote store, when there is one. */
  l1?: { hits: number, misses: number, entries: number }
}

export interface Store {
  /** Look up a key and one of its variants (`''` when the key does not vary); `undefined` when nothing is stored. */
  get (key: string, variant: string): Promise<Lookup | undefined>
  /**
   * Store an entry; resolves `false` (storing nothing) when a purge since `meta.epoch` covered it (see
   * `EntryMeta.epoch`). A key over `meta.maxVariants` variants loses its least recently used one first.
   */
  set (key: string, variant: string, entry: CacheEntry, meta: EntryMeta): Promise<boolean>
  /**
   * An opaque purge generation, taken before a handler runs and handed back in `EntryMeta.epoch`. It must be unique
   * for the store's lifetime: a store that lost its state (restarted empty) never hands out a value it handed out
   * before, and refuses entries carrying one from before the loss.
   */
  epoch (): Promise<string>
  /**
   * Record a purge by URL patterns (`*` wildcards, as findUrls) without deleting anything: a purge by pattern calls
   * it first, so that a request regenerating a matching page right now (and so not yet listed) does not store its
   * outdated result. Other URLs' regenerations are unaffected.
   */
  notePurge (patterns: string[]): Promise<void>
  /**
   * Delete (or with `soft`, mark stale) every variant of a key and its remembered URL; stats survive. Resolves
   * whether anything was there.
   */
  delete (key: string, options?: PurgeOptions): Promise<boolean>
  /**
   * Delete (or mark stale) every key labelled with any of the tags; resolves how many keys had an entry (a key
   * carrying several of the tags counts once; soft and hard purges count alike).
   */
  deleteTags (tags: string[], options?: PurgeOptions): Promise<number>
  /** Add one to a key's hits or misses, atomically. */
  count (key: string, field: keyof Stats): Promise<void>
  /** A key's counters, or `null` when none were counted. */
  statsOf (key: string): Promise<Stats | null>
  /**
   * Walk remembered URLs whose keys are still stored (soft-purged ones included), `count` at a time (a hint); start
   * and end with cursor `'0'`. A malformed cursor rejects with `FANCY_CACHE_ERR_INVALID_ARGUMENT`.
   */
  scan (cursor: string, count: number): Promise<ScanPage>
  /** Delete everything this store wrote in its namespace, stats included, and nothing else. */
  clear (): Promise<void>
  /** Totals over the namespace. */
  summary (): Promise<StoreSummary>
  /**
   * Answer from process memory without I/O (optional): what `get` would resolve, or `undefined` when only `get`
   * can tell. Stores the plugin builds itself use it to answer a hit with no promise at all; custom stores are only
   * reached through `get`, under the fail-open guard.
   */
  peek? (key: string, variant: string): Lookup | undefined
  /**
   * Cross-process single flight (optional): try to take a short lock for regenerating `key`. A store shared by
   * several processes implements it so that one of them runs the handler; in-process coalescing needs none.
   */
  lock? (key: string, variant: string, ttlMs: number): Promise<boolean>
  /** Release a lock taken with `lock` (a no-op when it expired or another process holds it now). */
  unlock? (key: string, variant: string): Promise<void>
  /** Tags in use, a page at a time (optional; the admin page's tags view): each with how many keys carry it. */
  scanTags? (cursor: string, count: number): Promise<{ cursor: string, tags: Array<{ tag: string, keys: number }> }>
  /** Everything stored under one key (optional; the admin page's entry view), or `undefined` when nothing is. */
  inspect? (key: string): Promise<KeyDetail | undefined>
  /** The backend's own health (optional): connection state, and the in-process tier's counters when there is one. */
  health? (): StoreHealth
  /** Release timers and connections the store created (never a client it was given). */
  close? (): Promise<void>
}
