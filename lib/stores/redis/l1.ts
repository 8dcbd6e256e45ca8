import type { Cluster, Redis } from 'ioredis'
import { entryBytes } from '../memory.ts'
import type { CacheEntry, Lookup } from '../store.ts'

/** Bounds of the in-process tier in front of Redis. */
export interface L1Options {
  /** Most entries (variants) kept; least recently used ones go first. Default 10000. */
  maxEntries?: number
  /** Most bytes of bodies and headers kept. Default 64 MiB. */
  maxBytes?: number
}

interface Slot {
  key: string
  vary: string[]
  entry: CacheEntry
  bytes: number
  /** Served from L1 until then, even if no invalidation arrives (a safety net under lost messages). */
  until: number
}

/** Longest an entry is served from L1 without asking Redis again. */
export const L1_MAX_AGE_MS = 5000
/**
 * The L1 tier: entries read from Redis, kept in process in least-recently-used order. It never answers for a key
 * it does not hold (a miss goes to Redis), so it needs no epoch or tags: every write, purge and clear on any
 * instance is announced on the namespace's channel and evicts here. `generation` moves on every eviction, so a read
 * that raced with one does not put what it read back into L1.
 */
export class L1 {
  readonly maxEntries: number
  readonly maxBytes: number
  #slots = new Map<string, Slot>()
  #byKey = new Map<string, Set<string>>()
  #bytes = 0
  #hits = 0
  #misses = 0
  generation = 0

  constructor (options: L1Options) {
    this.maxEntries = options.maxEntries ?? 10000
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024
  }

  get (key: string, variant: string): Lookup | undefined {
    const id = `${key}\0${variant}`
    const slot = this.#slots.get(id)
    if (slot === undefined) return undefined
    const now = Date.now()
    if (slot.until <= now || slot.entry.staleUntil <= now) {
      this.#drop(key, id, slot)
      return undefined
    }
    this.#slots.delete(id)
    this.#slots.set(id, slot)
    this.#hits++
    return { entry: slot.entry, vary: slot.vary }
  }

  /** Count a lookup that L1 could not answer (it went to Redis). */
  missed (): void {
    this.#misses++
  }

  /** Lookups answered and not answered here, and the entries held. */
  counters (): { hits: number, misses: number, entries: number } {
    return { hits: this.#hits, misses: this.#misses, entries: this.#slots.size }
  }

  put (key: string, variant: string, lookup: Lookup, generation: number): void {
    const entry = lookup.entry
    if (entry === undefined || generation !== this.generation) return
    const bytes = entryBytes(entry)
    if (bytes > this.maxBytes) return
    const id = `${key}\0${variant}`
    const old = this.#slots.get(id)
    if (old !== undefined) this.#drop(key, id, old)
    this.#slots.set(id, { key, vary: lookup.vary, entry, bytes, until: Math.min(Date.now() + L1_MAX_AGE_MS, entry.staleUntil) })
    let ids = this.#byKey.get(key)
    if (ids === undefined) this.#byKey.set(key, ids = new Set())
    ids.add(id)
    this.#bytes += bytes
    while (this.#slots.size > this.maxEntries || this.#bytes > this.maxBytes) {
      const [oldest, slot] = this.#slots.entries().next().value!
      this.#drop(slot.key, oldest, slot)
    }
  }

  /** Forget every variant of a key. */
  evict (key: string): void {
    this.generation++
    const ids = this.#byKey.get(key)
    if (ids === undefined) return
    for (const id of ids) {
      const slot = this.#slots.get(id)
      if (slot !== undefined) this.#drop(key, id, slot)
    }
  }

  clear (): void {
    this.generation++
    this.#slots.clear()
    this.#byKey.clear()
    this.#bytes = 0
  }

  #drop (key: string, id: string, slot: Slot): void {
    this.#slots.delete(id)
    this.#bytes -= slot.bytes
    const ids = this.#byKey.get(key)
    ids?.delete(id)
    if (ids?.size === 0) this.#byKey.delete(key)
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
