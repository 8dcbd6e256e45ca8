import type { Cluster, Redis } from 'ioredis'
import { entryBytes } from '../memory.ts'
import type { CacheEntry, Lookup } from '../store.ts'
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES } from '../../defaults.ts'

/** Bounds of the in-process tier in front of Redis. */
export interface L1Options {
  /** Most entries (variants) kept; least recently used ones go first. Default 10000. */
  maxEntries?: number
  /** Most bytes of bodies and headers kept. Default 64 MiB. */
  maxBytes?: number
}

interface Slot {
  key: string
  variant: string
  entry: CacheEntry
  /** What a hit answers, made once so that hits allocate nothing. */
  lookup: Lookup
  bytes: number
  /** Served from L1 until then, even if no invalidation arrives (a safety net under lost messages). */
  until: number
  /** Neighbours in least-recently-used order. */
  older: Slot | undefined
  newer: Slot | undefined
}

/** Longest an entry is served from L1 without asking Redis again. */
export const L1_MAX_AGE_MS = 5000
/**
 * The L1 tier: entries read from Redis, kept in process in least-recently-used order. It never answers for a key
 * it does not hold (a miss goes to Redis), so it needs no epoch or tags: every write, purge and clear on any
 * instance is announced on the namespace's channel and evicts here. `generation` moves on every eviction, so a read
 * that raced with one does not put what it read back into L1.
 *
 * Recency is a linked list through the slots, not the order of a Map: re-inserting a Map key on every hit leaves a
 * dead slot in its hash chain each time, and with thousands of entries a hot key's lookups walk thousands of them.
 */
export class L1 {
  readonly maxEntries: number
  readonly maxBytes: number
  #byKey = new Map<string, Map<string, Slot>>()
  #oldest: Slot | undefined
  #newest: Slot | undefined
  #entries = 0
  #bytes = 0
  #hits = 0
  #misses = 0
  generation = 0

  constructor (options: L1Options) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  }

  get (key: string, variant: string): Lookup | undefined {
    const slot = this.#byKey.get(key)?.get(variant)
    if (slot === undefined) return undefined
    const now = Date.now()
    if (slot.until <= now || slot.entry.staleUntil <= now) {
      this.#drop(slot)
      return undefined
    }
    if (slot !== this.#newest) {
      this.#unlink(slot)
      this.#append(slot)
    }
    this.#hits++
    return slot.lookup
  }

  /** Count a lookup that L1 could not answer (it went to Redis). */
  missed (): void {
    this.#misses++
  }

  /** Lookups answered and not answered here, and the entries held. */
  counters (): { hits: number, misses: number, entries: number } {
    return { hits: this.#hits, misses: this.#misses, entries: this.#entries }
  }

  put (key: string, variant: string, lookup: Lookup, generation: number): void {
    const entry = lookup.entry
    if (entry === undefined || generation !== this.generation) return
    const bytes = entryBytes(entry)
    if (bytes > this.maxBytes) return
    const old = this.#byKey.get(key)?.get(variant)
    if (old !== undefined) this.#drop(old)
    let variants = this.#byKey.get(key)
    if (variants === undefined) this.#byKey.set(key, variants = new Map())
    const until = Math.min(Date.now() + L1_MAX_AGE_MS, entry.staleUntil)
    const slot: Slot = { key, variant, entry, lookup: { entry, vary: lookup.vary }, bytes, until, older: undefined, newer: undefined }
    variants.set(variant, slot)
    this.#append(slot)
    this.#entries++
    this.#bytes += bytes
    while ((this.#entries > this.maxEntries || this.#bytes > this.maxBytes) && this.#oldest !== undefined) {
      this.#drop(this.#oldest)
    }
  }

  /** Forget every variant of a key. */
  evict (key: string): void {
    this.generation++
    const variants = this.#byKey.get(key)
    if (variants === undefined) return
    for (const slot of [...variants.values()]) this.#drop(slot)
  }

  clear (): void {
    this.generation++
    this.#byKey.clear()
    this.#oldest = this.#newest = undefined
    this.#entries = 0
    this.#bytes = 0
  }

  #append (slot: Slot): void {
    slot.older = this.#newest
    slot.newer = undefined
    if (this.#newest !== undefined) this.#newest.newer = slot
    else this.#oldest = slot
    this.#newest = slot
  }

  #unlink (slot: Slot): void {
    if (slot.older !== undefined) slot.older.newer = slot.newer
    else this.#oldest = slot.newer
    if (slot.newer !== undefined) slot.newer.older = slot.older
    else this.#newest = slot.older
    slot.older = slot.newer = undefined
  }

  #drop (slot: Slot): void {
    const variants = this.#byKey.get(slot.key)
    if (variants?.get(slot.variant) !== slot) return
    variants.delete(slot.variant)
    if (variants.size === 0) this.#byKey.delete(slot.key)
    this.#unlink(slot)
    this.#entries--
    this.#bytes -= slot.bytes
  }
}

/**
 * Listen for invalidations on a connection of our own (`client.duplicate()`). L1 serves only while subscribed: on
 * every (re)subscribe it starts empty, and a disconnect empties it, so no message can be missed while it answers.
 * `onState` hears whether L1 may serve; the returned connection is the caller's to close.
 */
export function subscribe (client: Redis | Cluster, channel: string, l1: L1, onState: (listening: boolean) => void): Redis | Cluster {
  const subscriber = client.isCluster
    ? (client as Cluster).duplicate(undefined, { lazyConnect: false })
    : (client as Redis).duplicate({ lazyConnect: false })
  let closed = false
  subscriber.on('message', (_channel: string, message: string) => {
    if (message === '*') l1.clear()
    else if (message.startsWith('k:')) l1.evict(message.slice(2))
  })
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).then(() => {
      if (closed) return
      l1.clear()
      onState(true)
    }, () => {})
  })
  const down = () => {
    onState(false)
    l1.clear()
  }
  subscriber.on('close', down)
  subscriber.on('end', () => {
    closed = true
    down()
  })
  // Errors surface as failed store calls; an unhandled 'error' event would crash the process.
  subscriber.on('error', () => {})
  return subscriber
}
