import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES } from '../defaults.ts'
import { PurgeLog } from './memory-purges.ts'
import { SeqIndex } from './memory-index.ts'
import { entryBytes, keyBytes, ownBytes, RECORD_BYTES, softened, Variant, VariantList, type Group } from './memory-lru.ts'
import { TagIndex } from './memory-tags.ts'
import type {
  CacheEntry, EntryMeta, KeyDetail, Lookup, PurgeOptions, RememberedEntry, ScanPage, Stats, Store, StoreHealth, StoreSummary
} from './store.ts'

export { entryBytes, RECORD_BYTES } from './memory-lru.ts'

/** Options of the in-process store. */
export interface MemoryStoreOptions {
  /** Most entries (variants) kept; least recently used ones are evicted first. Default 10000. */
  maxEntries?: number
  /**
   * Most bytes kept: bodies, headers, keys, remembered URLs, the tag index and stats records (at most an eighth),
   * each with the fixed per-record overhead in `RECORD_BYTES`. Default 64 MiB. The record of recent purges comes on
   * top, bounded on its own (4,096 purges, 256 KiB of keys, tags and patterns).
   */
  maxBytes?: number
}

/**
 * In-process store, bounded by entries and bytes, evicting single variants in exact least-recently-used order
 * across all keys (intrusive linked lists: a hit moves one variant and allocates nothing). Expiry is checked on read
 * and eviction happens on write, so there is no timer per entry. Lookups return shared objects: read, never mutate.
 */
export class MemoryStore implements Store {
  readonly maxEntries: number
  readonly maxBytes: number
  #groups = new Map<string, Group>()
  readonly #lru = new VariantList()
  #remembered = new SeqIndex<Group>()
  #tags = new TagIndex()
  #stats = new Map<string, Stats>()
  #purges = new PurgeLog()
  #entries = 0
  #bytes = 0
  #statsBytes = 0
  #hits = 0
  #misses = 0

  constructor (options: MemoryStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  }

  async get (key: string, variant: string): Promise<Lookup | undefined> {
    return this.peek(key, variant)
  }

  peek (key: string, variant: string): Lookup | undefined {
    const group = this.#groups.get(key)
    if (group === undefined) return undefined
    const found = group.variants.get(variant)
    if (found === undefined) return group.none
    if (found.entry.staleUntil <= Date.now()) {
      this.#dropVariant(found, false)
      return group.variants.size === 0 ? undefined : group.none
    }
    if (!this.#lru.isNewest(found)) this.#lru.touch(found)
    return found.lookup
  }

  async set (key: string, variant: string, entry: CacheEntry, meta: EntryMeta): Promise<boolean> {
    if (!this.#purges.allows(meta.epoch, key, meta.url, meta.tags)) return false
    let group = this.#groups.get(key)
    if (group !== undefined && !sameList(group.vary, meta.vary)) {
      this.#dropGroup(group)
      group = undefined
    }
    const bytes = entryBytes(entry) + variant.length + RECORD_BYTES.variant
    // What this key alone would hold; everything else can be evicted to make room, so only this must fit.
    if (bytes + ownBytes(group, key, meta) > this.maxBytes) return false
    if (group === undefined) group = this.#addGroup(key, meta.vary)
    let written = group.variants.get(variant)
    if (written !== undefined) {
      this.#bytes += bytes - written.bytes
      written.bytes = bytes
      written.update(entry)
      this.#lru.touch(written)
    } else {
      while (group.oldest !== undefined && group.variants.size >= meta.maxVariants) this.#dropVariant(group.oldest, true)
      written = new Variant(group, variant, entry, bytes)
      group.variants.set(variant, written)
      this.#lru.link(written)
      this.#entries++
      this.#bytes += bytes
    }
    if (meta.url !== undefined && group.url === undefined) {
      group.url = meta.url
      this.#grow(group, meta.url.length + RECORD_BYTES.url)
      this.#remembered.add(group)
    }
    if (meta.tags !== undefined) for (const tag of meta.tags) this.#bytes += this.#tags.add(group, tag)
    this.#shrink(written)
    return true
  }

  async epoch (): Promise<string> {
    return this.#purges.epoch()
  }

  async notePurge (patterns: string[]): Promise<void> {
    this.#purges.urls(patterns)
  }

  async delete (key: string, options?: PurgeOptions): Promise<boolean> {
    this.#purges.key(key)
    const group = this.#groups.get(key)
    return group !== undefined && this.#purge(group, options)
  }

  async deleteTags (tags: string[], options?: PurgeOptions): Promise<number> {
    this.#purges.tags(tags)
    let purged = 0
    for (const group of this.#tags.keysOf(tags)) if (this.#purge(group, options)) purged++
    return purged
  }

  async count (key: string, field: keyof Stats): Promise<void> {
    let stats = this.#stats.get(key)
    if (stats === undefined) {
      // Stats outlive entries but stay bounded, and never crowd entries out: past maxEntries counters or an eighth
      // of maxBytes, the oldest are forgotten.
      const bytes = key.length + RECORD_BYTES.stats
      while (this.#stats.size > 0 && (this.#stats.size >= this.maxEntries || this.#statsBytes + bytes > this.maxBytes / 8)) {
        this.#forgetOldestStats()
      }
      stats = { hits: 0, misses: 0 }
      this.#stats.set(key, stats)
      this.#bytes += bytes
      this.#statsBytes += bytes
      this.#shrink(undefined)
    }
    stats[field]++
    if (field === 'hits') this.#hits++
    else this.#misses++
  }

  async statsOf (key: string): Promise<Stats | null> {
    const stats = this.#stats.get(key)
    return stats === undefined ? null : { hits: stats.hits, misses: stats.misses }
  }

  async scan (cursor: string, count: number): Promise<ScanPage> {
    const now = Date.now()
    const entries: RememberedEntry[] = []
    const want = Math.max(1, Math.min(count, 10_000))
    // Skipping expired keys is bounded per call, so a page may come back short (as Redis SCAN pages may).
    const page = this.#remembered.page(cursor, want, want * 8 + 256, (group) => {
      const found = this.#row(group, now)
      if (found !== undefined) entries.push(found)
      return found !== undefined
    })
    return { cursor: page.cursor, entries }
  }

  async scanTags (cursor: string, count: number): Promise<{ cursor: string, tags: Array<{ tag: string, keys: number }> }> {
    return this.#tags.page(cursor, count)
  }

  async inspect (key: string): Promise<KeyDetail | undefined> {
    const group = this.#groups.get(key)
    if (group === undefined) return undefined
    const now = Date.now()
    const variants: KeyDetail['variants'] = []
    for (let v = group.oldest; v !== undefined; v = v.newer) {
      if (v.entry.staleUntil > now) variants.push({ variant: v.variant, entry: v.entry })
    }
    if (variants.length === 0) return undefined
    return {
      key,
      vary: [...group.vary],
      url: group.url,
      tags: group.tags.map((tag) => tag.tag),
      variants,
      stats: await this.statsOf(key)
    }
  }

  health (): StoreHealth {
    return { type: 'memory', connected: true }
  }

  async clear (): Promise<void> {
    this.#purges.clear()
    this.#groups.clear()
    this.#lru.clear()
    this.#remembered.clear()
    this.#tags.clear()
    this.#stats.clear()
    this.#entries = 0
    this.#bytes = 0
    this.#statsBytes = 0
    this.#hits = 0
    this.#misses = 0
  }

  async summary (): Promise<StoreSummary> {
    return { entries: this.#entries, bytes: this.#bytes, hits: this.#hits, misses: this.#misses }
  }

  /** A remembered key's listing row, or undefined when none of its variants is still kept. */
  #row (group: Group, now: number): RememberedEntry | undefined {
    let storedAt = 0
    let expiresAt = 0
    let bytes = group.bytes
    for (const v of group.variants.values()) {
      bytes += v.bytes
      if (v.entry.staleUntil <= now) continue
      if (v.entry.storedAt > storedAt) storedAt = v.entry.storedAt
      if (v.entry.expiresAt > expiresAt) expiresAt = v.entry.expiresAt
    }
    if (storedAt === 0 || this.#groups.get(group.key) !== group) return undefined
    const stats = this.#stats.get(group.key)
    return { url: group.url!, key: group.key, bytes, storedAt, expiresAt, stats: stats === undefined ? null : { ...stats } }
  }

  #addGroup (key: string, vary: string[]): Group {
    const group: Group = {
      seq: 0,
      key,
      vary,
      variants: new Map(),
      oldest: undefined,
      newest: undefined,
      url: undefined,
      tags: [],
      bytes: 0,
      none: { entry: undefined, vary }
    }
    this.#groups.set(key, group)
    this.#grow(group, keyBytes(key, vary))
    return group
  }

  #grow (group: Group, bytes: number): void {
    group.bytes += bytes
    this.#bytes += bytes
  }

  /** Hard or soft purge of one key; whether it still had an entry. */
  #purge (group: Group, options: PurgeOptions | undefined): boolean {
    const now = Date.now()
    let live = false
    for (const v of group.variants.values()) if (v.entry.staleUntil > now) live = true
    if (options?.soft !== true || !live) {
      this.#dropGroup(group)
      return live
    }
    const graceMs = options.graceMs ?? 0
    for (const v of [...group.variants.values()]) {
      const entry = v.entry
      if (entry.staleUntil <= now) {
        this.#dropVariant(v, false)
        continue
      }
      v.update(softened(entry, now, graceMs))
    }
    return true
  }

  /**
   * Evict least recently used variants (never `keep`, the one just written) to the bounds; stats go only when no
   * variant is left to evict (they hold at most an eighth of maxBytes).
   */
  #shrink (keep: Variant | undefined): void {
    while (this.#entries > this.maxEntries || this.#bytes > this.maxBytes) {
      const victim = this.#lru.oldestBut(keep)
      if (victim !== undefined) this.#dropVariant(victim, false)
      else if (this.#stats.size > 0 && this.#bytes > this.maxBytes) this.#forgetOldestStats()
      else break
    }
  }

  #forgetOldestStats (): void {
    const [key, stats] = this.#stats.entries().next().value!
    this.#stats.delete(key)
    this.#bytes -= key.length + RECORD_BYTES.stats
    this.#statsBytes -= key.length + RECORD_BYTES.stats
    this.#hits -= stats.hits
    this.#misses -= stats.misses
  }

  /** Drop one variant; its key goes with its last variant unless the caller is about to add one. */
  #dropVariant (v: Variant, keepKey: boolean): void {
    this.#lru.unlink(v)
    v.group.variants.delete(v.variant)
    this.#entries--
    this.#bytes -= v.bytes
    if (!keepKey && v.group.variants.size === 0) this.#dropGroup(v.group)
  }

  #dropGroup (group: Group): void {
    for (const v of group.variants.values()) {
      this.#lru.unlink(v)
      this.#entries--
      this.#bytes -= v.bytes
    }
    group.variants.clear()
    if (this.#groups.get(group.key) === group) this.#groups.delete(group.key)
    this.#bytes -= group.bytes
    group.bytes = 0
    if (group.url !== undefined) this.#remembered.remove(group)
    this.#bytes -= this.#tags.remove(group)
  }
}

function sameList (a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
