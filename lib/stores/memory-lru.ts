import type { CacheEntry, EntryMeta, Lookup } from './store.ts'

/**
 * The bookkeeping the memory store counts toward `maxBytes` per record on top of its strings and bodies (object
 * headers, Map and Set slots, index slots, with the slack of their hash tables), sized from heap measurements of
 * full stores on Node 20, so that floods of tiny records are bounded by bytes as well as by count.
 */
export const RECORD_BYTES = {
  /** A stored response: its object, headers object and Buffer view (also what `entryBytes` adds). */
  entry: 240,
  /** A variant's place in the LRU lists, its variant map slot and cached lookup. */
  variant: 176,
  /** A key's group: its map slot, variant map and cached lookups. */
  key: 400,
  /** A remembered URL's index slot. */
  url: 48,
  /** One key carrying one tag (a slot in the tag's key set and in the key's tag list). */
  tagged: 64,
  /** A distinct tag: its record, key set and index slot. */
  tag: 256,
  /** A key's hits and misses. */
  stats: 160
} as const

/** Bytes an entry takes in process: body, headers and a fixed overhead per record. */
export function entryBytes (entry: CacheEntry): number {
  let bytes = entry.body.length + entry.etag.length + RECORD_BYTES.entry
  for (const name in entry.headers) {
    const value = entry.headers[name]!
    bytes += name.length + (typeof value === 'string' ? value.length : value.join(', ').length)
  }
  return bytes
}

/** A tag in use, with the keys carrying it. */
export interface Tag {
  seq: number
  tag: string
  keys: Set<Group>
}

/** Everything stored under one key. */
export interface Group {
  seq: number
  key: string
  vary: string[]
  variants: Map<string, Variant>
  /** This key's variants, least recently used first (for maxVariants). */
  oldest: Variant | undefined
  newest: Variant | undefined
  url: string | undefined
  tags: Tag[]
  /** Bytes of the key itself: its record and URL (its variants and tag memberships count their own). */
  bytes: number
  /** What a lookup of a variant this key does not hold answers; made once, so lookups allocate nothing. */
  none: Lookup
}

/** One variant, linked into the store-wide LRU list and into its key's own. */
export class Variant {
  prev: Variant = this
  next: Variant = this
  older: Variant | undefined = undefined
  newer: Variant | undefined = undefined
  lookup: Lookup
  constructor (readonly group: Group, readonly variant: string, public entry: CacheEntry, public bytes: number) {
    this.lookup = { entry, vary: group.vary }
  }

  /** Replace the entry (a new response, or the same one marked by a soft purge). */
  update (entry: CacheEntry): void {
    this.entry = entry
    this.lookup = { entry, vary: this.group.vary }
  }
}

/**
 * Every variant in least-recently-used order, as an intrusive circular list (each variant is also linked into its
 * key's list), so that a hit moves one variant in O(1) without allocating, and eviction takes exactly the least
 * recently used variant, whichever key it belongs to.
 */
export class VariantList {
  // Sentinel: head.next is the least recently used variant, head.prev the most.
  readonly head = new Variant({ vary: [] } as unknown as Group, '', undefined as unknown as CacheEntry, 0)

  /** The least recently used variant other than `keep`, or undefined. */
  oldestBut (keep: Variant | undefined): Variant | undefined {
    let v = this.head.next
    if (v === keep) v = v.next
    return v === this.head ? undefined : v
  }

  /** Whether the variant is the most recently used already. */
  isNewest (v: Variant): boolean {
    return v.next === this.head
  }

  /** Append as the most recently used, store-wide and within its key. */
  link (v: Variant): void {
    const newest = this.head.prev
    v.prev = newest
    v.next = this.head
    newest.next = v
    this.head.prev = v
    const group = v.group
    v.older = group.newest
    if (group.newest !== undefined) group.newest.newer = v
    else group.oldest = v
    group.newest = v
  }

  unlink (v: Variant): void {
    v.prev.next = v.next
    v.next.prev = v.prev
    const group = v.group
    if (v.older !== undefined) v.older.newer = v.newer
    else group.oldest = v.newer
    if (v.newer !== undefined) v.newer.older = v.older
    else group.newest = v.older
    v.older = v.newer = undefined
  }

  touch (v: Variant): void {
    this.unlink(v)
    this.link(v)
  }

  clear (): void {
    this.head.next = this.head.prev = this.head
  }
}

/** Bytes of a key's own record. */
export function keyBytes (key: string, vary: string[]): number {
  let bytes = key.length + RECORD_BYTES.key
  for (const name of vary) bytes += name.length + 8
  return bytes
}

/** The most bytes a write can leave under its key alone, whatever else is evicted to make room. */
export function ownBytes (group: Group | undefined, key: string, meta: EntryMeta): number {
  let bytes = group === undefined ? keyBytes(key, meta.vary) : group.bytes + group.tags.length * RECORD_BYTES.tagged
  if (meta.url !== undefined && group?.url === undefined) bytes += meta.url.length + RECORD_BYTES.url
  for (const tag of meta.tags ?? []) bytes += tag.length + RECORD_BYTES.tag + RECORD_BYTES.tagged
  return bytes
}

/** The entry as a soft purge leaves it: stale from `now`, servable for at least `graceMs` or its own stale window. */
export function softened (entry: CacheEntry, now: number, graceMs: number): CacheEntry {
  return {
    ...entry,
    softPurged: true,
    expiresAt: Math.min(entry.expiresAt, now),
    staleUntil: now + Math.max(graceMs, entry.staleUntil - entry.expiresAt)
  }
}
