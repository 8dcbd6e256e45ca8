/**
 * The seam between the plugin and a storage backend. The plugin computes keys, decides what is cacheable and when an
 * entry is fresh or stale; a store only keeps records, bounded and atomic. Both built-in stores pass the conformance
 * suite in `test/helpers/store-suite.ts`; a custom store can run it too.
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
}

/** What a store knows about a key. */
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
  /** The value `epoch()` returned before the handler ran: if a purge changed it since, the entry is not stored. */
  epoch: number
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

/** A page of a scan; `cursor` is `'0'` when the scan is complete (Redis SCAN semantics). */
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

export interface Store {
  /** Look up a key and one of its variants (`''` when the key does not vary); `undefined` when nothing is stored. */
  get (key: string, variant: string): Promise<Lookup | undefined>
  /** Store an entry; resolves `false` (storing nothing) when `meta.epoch` is no longer the current epoch. */
  set (key: string, variant: string, entry: CacheEntry, meta: EntryMeta): Promise<boolean>
  /** The purge generation: changes whenever anything is purged or cleared. */
  epoch (): Promise<number>
  /**
   * Change the epoch without deleting anything: a purge by URL pattern calls it first, so that a request which is
   * regenerating a matching page right now (and so is not yet listed) does not store its now-outdated result.
   */
  bumpEpoch (): Promise<void>
  /** Delete every variant of a key (and its remembered URL); stats survive. Resolves whether anything was there. */
  delete (key: string): Promise<boolean>
  /** Delete every key labelled with any of the tags; resolves how many keys were deleted. */
  deleteTags (tags: string[]): Promise<number>
  /** Add one to a key's hits or misses, atomically. */
  count (key: string, field: keyof Stats): Promise<void>
  /** A key's counters, or `null` when none were counted. */
  statsOf (key: string): Promise<Stats | null>
  /** Walk remembered URLs whose keys are still stored, `count` at a time (a hint); start and end with cursor `'0'`. */
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
  lock? (key: string, ttlMs: number): Promise<boolean>
  /** Release a lock taken with `lock`. */
  unlock? (key: string): Promise<void>
  /** Release timers and connections the store created (never a client it was given). */
  close? (): Promise<void>
}
