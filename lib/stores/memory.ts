import { invalidArgument } from '../errors.ts'
import type { CacheEntry, EntryMeta, Lookup, RememberedEntry, ScanPage, Stats, Store, StoreSummary } from './store.ts'

/** Options of the in-process store. */
export interface MemoryStoreOptions {
  /** Most entries (variants) kept; least recently used ones are evicted first. Default 10000. */
  maxEntries?: number
  /** Most bytes of bodies, headers and URLs kept. Default 64 MiB. */
  maxBytes?: number
}

interface Group {
  vary: string[]
  variants: Map<string, CacheEntry>
  url: string | undefined
  tags: string[] | undefined
  bytes: number
}

// Per-record bookkeeping (Map slots, object headers) counted on top of the payload so that a flood of tiny
// entries is bounded by maxBytes too, not only by maxEntries.
const OVERHEAD = 160
const MAX_OPEN_SCANS = 64

/** Bytes an entry takes in process: body, headers and a fixed overhead per record. */
export function entryBytes (entry: CacheEntry): number {
  let bytes = entry.body.length + entry.etag.length + OVERHEAD
  for (const name in entry.headers) {
    const value = entry.headers[name]!
    bytes += name.length + (typeof value === 'string' ? value.length : value.join(', ').length)
  }
  return bytes
}

/**
 * In-process store: a Map in least-recently-used order, bounded by entries and bytes. Expiry is checked on read
 * and eviction happens on write, so there is no timer per entry.
 */
export class MemoryStore implements Store {
  readonly maxEntries: number
  readonly maxBytes: number
  #groups = new Map<string, Group>()
  // Remembered keys in first-remembered order. Kept apart from #groups, whose LRU reordering on every hit would
  // make a scan visit keys twice.
  #remembered = new Map<string, string>()
  #tags = new Map<string, Set<string>>()
  #stats = new Map<string, Stats>()
  #scans = new Map<string, Iterator<[string, string]>>()
  #scanSeq = 0
  #entries = 0
  #bytes = 0
  #hits = 0
  #misses = 0
  #epoch = 0

  constructor (options: MemoryStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10000
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024
  }

  async get (key: string, variant: string): Promise<Lookup | undefined> {
    return this.peek(key, variant)
  }

  peek (key: string, variant: string): Lookup | undefined {
    const group = this.#groups.get(key)
    if (group === undefined) return undefined
    let entry = group.variants.get(variant)
    if (entry !== undefined && entry.staleUntil <= Date.now()) {
      this.#dropVariant(key, group, variant, entry)
      entry = undefined
      if (group.variants.size === 0) return undefined
    }
    // Least recently used order: move the group to the end of the Map.
    this.#groups.delete(key)
    this.#groups.set(key, group)
    return { entry, vary: group.vary }
  }

  async set (key: string, variant: string, entry: CacheEntry, meta: EntryMeta): Promise<boolean> {
    if (meta.epoch !== this.#epoch) return false
    const size = entryBytes(entry) + (meta.url?.length ?? 0)
    if (size > this.maxBytes) return false
    let group = this.#groups.get(key)
    if (group !== undefined && group.vary.join() !== meta.vary.join()) {
      this.#deleteGroup(key, group)
      group = undefined
    }
    if (group === undefined) {
      group = { vary: meta.vary, variants: new Map(), url: undefined, tags: undefined, bytes: 0 }
    } else {
      const old = group.variants.get(variant)
      if (old !== undefined) {
        const bytes = entryBytes(old)
        group.bytes -= bytes
        this.#bytes -= bytes
        this.#entries--
      }
      this.#groups.delete(key)
    }
    this.#groups.set(key, group)
    group.variants.set(variant, entry)
    const bytes = entryBytes(entry)
    group.bytes += bytes
    this.#bytes += bytes
    this.#entries++
    if (meta.url !== undefined && group.url === undefined) {
      group.url = meta.url
      group.bytes += meta.url.length
      this.#bytes += meta.url.length
      this.#remembered.set(key, meta.url)
    }
    if (meta.tags !== undefined && meta.tags.length > 0) this.#tag(key, group, meta.tags)
    this.#evict(key)
    return true
  }

  async epoch (): Promise<number> {
    return this.#epoch
  }

  async bumpEpoch (): Promise<void> {
    this.#epoch++
  }

  async delete (key: string): Promise<boolean> {
    this.#epoch++
    const group = this.#groups.get(key)
    if (group === undefined) return false
    this.#deleteGroup(key, group)
    return true
  }

  async deleteTags (tags: string[]): Promise<number> {
    this.#epoch++
    let deleted = 0
    for (const tag of tags) {
      const keys = this.#tags.get(tag)
      if (keys === undefined) continue
      for (const key of keys) {
        const group = this.#groups.get(key)
        if (group !== undefined) {
          this.#deleteGroup(key, group)
          deleted++
        }
      }
    }
    return deleted
  }

  async count (key: string, field: keyof Stats): Promise<void> {
    let stats = this.#stats.get(key)
    if (stats === undefined) {
      // Stats outlive entries but stay bounded: past maxEntries counters, the oldest are forgotten.
      if (this.#stats.size >= this.maxEntries) this.#forgetOldestStats()
      stats = { hits: 0, misses: 0 }
      this.#stats.set(key, stats)
    }
    stats[field]++
    if (field === 'hits') this.#hits++
    else this.#misses++
  }

  #forgetOldestStats (): void {
    const [key, stats] = this.#stats.entries().next().value!
    this.#stats.delete(key)
    this.#hits -= stats.hits
    this.#misses -= stats.misses
  }

  async statsOf (key: string): Promise<Stats | null> {
    const stats = this.#stats.get(key)
    return stats === undefined ? null : { hits: stats.hits, misses: stats.misses }
  }

  async scan (cursor: string, count: number): Promise<ScanPage> {
    let iterator: Iterator<[string, string]> | undefined
    if (cursor === '0') {
      iterator = this.#remembered.entries()
    } else {
      iterator = this.#scans.get(cursor)
      if (iterator === undefined) throw invalidArgument(`unknown or expired scan cursor ${JSON.stringify(cursor)}`)
      this.#scans.delete(cursor)
    }
    const entries: RememberedEntry[] = []
    const now = Date.now()
    while (entries.length < count) {
      const next = iterator.next()
      if (next.done === true) return { cursor: '0', entries }
      const [key, url] = next.value
      const group = this.#groups.get(key)
      if (group === undefined) continue
      let storedAt = 0
      let expiresAt = 0
      for (const entry of group.variants.values()) {
        if (entry.staleUntil <= now) continue
        if (entry.storedAt > storedAt) storedAt = entry.storedAt
        if (entry.expiresAt > expiresAt) expiresAt = entry.expiresAt
      }
      if (storedAt === 0) continue
      const stats = this.#stats.get(key)
      entries.push({ url, key, bytes: group.bytes, storedAt, expiresAt, stats: stats === undefined ? null : { ...stats } })
    }
    const next = String(++this.#scanSeq)
    if (this.#scans.size >= MAX_OPEN_SCANS) this.#scans.delete(this.#scans.keys().next().value!)
    this.#scans.set(next, iterator)
    return { cursor: next, entries }
  }

  async clear (): Promise<void> {
    this.#epoch++
    this.#groups.clear()
    this.#remembered.clear()
    this.#tags.clear()
    this.#stats.clear()
    this.#scans.clear()
    this.#entries = 0
    this.#bytes = 0
    this.#hits = 0
    this.#misses = 0
  }

  async summary (): Promise<StoreSummary> {
    return { entries: this.#entries, bytes: this.#bytes, hits: this.#hits, misses: this.#misses }
  }

  #tag (key: string, group: Group, tags: string[]): void {
    const own = group.tags ?? (group.tags = [])
    for (const tag of tags) {
      if (own.includes(tag)) continue
      own.push(tag)
      let keys = this.#tags.get(tag)
      if (keys === undefined) this.#tags.set(tag, keys = new Set())
      keys.add(key)
    }
  }

  #evict (keep: string): void {
    while (this.#entries > this.maxEntries || this.#bytes > this.maxBytes) {
      const oldest = this.#groups.keys().next().value!
      // The group just written is the newest, so it is reached only when it alone is over the bounds.
      if (oldest === keep) break
      this.#deleteGroup(oldest, this.#groups.get(oldest)!)
    }
  }

  #dropVariant (key: string, group: Group, variant: string, entry: CacheEntry): void {
    const bytes = entryBytes(entry)
    group.variants.delete(variant)
    group.bytes -= bytes
    this.#bytes -= bytes
    this.#entries--
    if (group.variants.size === 0) this.#deleteGroup(key, group)
  }

  #deleteGroup (key: string, group: Group): void {
    if (this.#groups.get(key) !== group) return
    this.#groups.delete(key)
    this.#entries -= group.variants.size
    this.#bytes -= group.bytes
    if (group.url !== undefined) this.#remembered.delete(key)
    for (const tag of group.tags ?? []) {
      const keys = this.#tags.get(tag)
      keys?.delete(key)
      if (keys?.size === 0) this.#tags.delete(tag)
    }
  }
}
