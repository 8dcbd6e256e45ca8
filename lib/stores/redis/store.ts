import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { invalidArgument, invalidOption, storeUnavailable } from '../../errors.ts'
import { decodeEntry, decodeVary, encodeEntry, KeyLayout, SHARDS, shardOf } from './codec.ts'
import { L1, type L1Options } from './l1.ts'
import * as lua from './scripts.ts'
import type { CacheEntry, EntryMeta, Lookup, RememberedEntry, ScanPage, Stats, Store, StoreSummary } from '../store.ts'

export type { L1Options } from './l1.ts'

/** Options of the Redis store. */
export interface RedisStoreOptions {
  /** An ioredis client or Cluster; never closed by the store. */
  client: Redis | Cluster
  /** Prefix of every key. Default `fancy-cache`. */
  namespace?: string
  /** In-process tier in front of Redis, kept coherent through pub/sub; `false` for none. */
  l1?: L1Options | false
}

/** How long hits and misses are kept after their last count: they outlive entries, but not forever. */
export const STATS_TTL_MS = 30 * 24 * 3600 * 1000
/** Most HSCAN steps one scan() call takes before it answers with what it found and a cursor. */
const SCAN_ROUNDS = 64
/** Largest HSCAN COUNT of one step (a page of about this many records per round trip). */
const SCAN_STEP = 1000

type Arg = string | Buffer | number
type Scripted = (numKeys: number, ...args: Arg[]) => Promise<unknown>
/** The commands the store sends through the client (a Redis and a Cluster both have them). */
interface Client extends Pick<Redis, 'hmgetBuffer' | 'hget' | 'hscan' | 'get' | 'incr' | 'set' | 'sscan' | 'srem' | 'publish'> {
  fancyCacheSet: Scripted
  fancyCacheTag: Scripted
  fancyCacheUnset: Scripted
  fancyCacheDelete: Scripted
  fancyCacheCount: Scripted
  fancyCacheUnlock: Scripted
  fancyCacheTotals: Scripted
}

const SCRIPTS = {
  fancyCacheSet: lua.SET,
  fancyCacheTag: lua.TAG,
  fancyCacheUnset: lua.UNSET,
  fancyCacheDelete: lua.DELETE,
  fancyCacheCount: lua.COUNT,
  fancyCacheUnlock: lua.UNLOCK,
  fancyCacheTotals: lua.TOTALS
}

function parseCursor (cursor: string): [number, string] {
  if (cursor === '0') return [0, '0']
  const match = /^(\d{1,3})\.(\d{1,20})$/.exec(cursor)
  if (match === null || Number(match[1]) >= SHARDS) throw invalidArgument(`unknown scan cursor ${JSON.stringify(cursor)}`)
  return [Number(match[1]), match[2]!]
}

function isWrongType (err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('WRONGTYPE')
}

/** The fields of an index record: "storedAt expiresAt staleUntil bytes variants hits misses countedAt url". */
function fields (record: string): string[] | undefined {
  const parts: string[] = []
  let at = 0
  for (let i = 0; i < 8; i++) {
    const space = record.indexOf(' ', at)
    if (space === -1) return undefined
    parts.push(record.slice(at, space))
    at = space + 1
  }
  parts.push(record.slice(at))
  return parts
}

function statsOfRecord (parts: string[]): Stats | null {
  return parts[7] === '0' ? null : { hits: Number(parts[5]), misses: Number(parts[6]) }
}

/** The remembered entry an index record describes, when its group is still stored and it has a URL. */
function remembered (key: string, record: string, now: number): RememberedEntry | undefined {
  const parts = fields(record)
  if (parts === undefined || parts[8] === '' || Number(parts[2]) <= now) return undefined
  return {
    url: parts[8]!,
    key,
    bytes: Number(parts[3]),
    storedAt: Number(parts[0]),
    expiresAt: Number(parts[1]),
    stats: statsOfRecord(parts)
  }
}

/**
 * The Redis store (SPEC §8): one hash per cache key holding every variant, one round trip per hit, Lua scripts for
 * the writes, keys hash-tagged by shard so that each script runs on one Redis Cluster slot, remembered URLs in
 * sharded index hashes walked with HSCAN, an optional L1 tier kept coherent through pub/sub. Every call rejects at
 * once while the client is disconnected, so the plugin serves requests uncached instead of queueing them.
 */
export class RedisStore implements Store {
  readonly namespace: string
  readonly #client: Redis | Cluster
  readonly #commands: Client
  readonly #cluster: boolean
  readonly #keys: KeyLayout
  readonly #l1: L1 | undefined
  readonly #locks = new Map<string, string>()
  #subscriber: Redis | Cluster | undefined
  #listening = false
  #connected = false
  #firstConnection: Promise<void> | undefined

  constructor (options: RedisStoreOptions) {
    const { client } = options
    const namespace = options.namespace ?? 'fancy-cache'
    if (typeof namespace !== 'string' || !/^[^{}\s]{1,100}$/.test(namespace)) {
      throw invalidOption('namespace: 1-100 characters, no braces or spaces')
    }
    const clientOptions = client.options as { keyPrefix?: string, redisOptions?: { keyPrefix?: string } }
    if ((clientOptions.keyPrefix ?? clientOptions.redisOptions?.keyPrefix ?? '') !== '') {
      throw invalidOption('redis: a client with a keyPrefix cannot be used by the Redis store; use the namespace option instead')
    }
    this.namespace = namespace
    this.#client = client
    this.#commands = client as unknown as Client
    this.#cluster = client.isCluster
    this.#keys = new KeyLayout(namespace)
    for (const [name, source] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua: source })
    if (options.l1 !== undefined && options.l1 !== false) {
      this.#l1 = new L1(options.l1)
      this.#subscribe(this.#l1)
    }
  }

  /** An L1 hit, with no round trip; `undefined` sends the caller to `get`. */
  peek (key: string, variant: string): Lookup | undefined {
    return this.#listening ? this.#l1?.get(key, variant) : undefined
  }

  /** Whether the L1 tier is serving: it is configured and subscribed to invalidations. */
  get l1Active (): boolean {
    return this.#listening
  }

  async get (key: string, variant: string): Promise<Lookup | undefined> {
    const l1 = this.#listening ? this.#l1 : undefined
    const generation = l1?.generation ?? 0
    if (l1 !== undefined) {
      const hit = l1.get(key, variant)
      if (hit !== undefined) return hit
    }
    const connecting = this.#ready()
    if (connecting !== undefined) await connecting
    let reply: (Buffer | null)[]
    try {
      reply = await this.#commands.hmgetBuffer(this.#keys.group(key), 'v', `=${variant}`)
    } catch (err) {
      // Something else lives under our key: a miss, and the next set replaces it.
      if (isWrongType(err)) return undefined
      throw err
    }
    const [vary, data] = reply
    if (vary === null || vary === undefined) return undefined
    const names = decodeVary(vary.toString('latin1'))
    if (names === undefined) return undefined
    let entry = data === null || data === undefined ? undefined : decodeEntry(data)
    if (entry !== undefined && entry.staleUntil <= Date.now()) entry = undefined
    const lookup = { entry, vary: names }
    if (l1 !== undefined && this.#listening) l1.put(key, variant, lookup, generation)
    return lookup
  }

  async set (key: string, variant: string, entry: CacheEntry, meta: EntryMeta): Promise<boolean> {
    await this.#ready()
    const data = encodeEntry(entry)
    const info = `${Math.trunc(entry.storedAt)} ${Math.trunc(entry.expiresAt)} ${Math.trunc(entry.staleUntil)} ${data.length}`
    const shard = shardOf(key)
    const keys = [this.#keys.group(key, shard), this.#keys.index(shard)]
    const now = Date.now()
    const args: Arg[] = [String(meta.epoch), variant, data, meta.vary.join(','), key, meta.url ?? '', now,
      ...info.split(' '), this.#keys.channel]
    const flags = (checkEpoch: boolean) => [checkEpoch ? '1' : '0', meta.url === undefined ? '0' : '1', STATS_TTL_MS]
    const tags = [...new Set(meta.tags ?? [])]
    this.#l1?.evict(key)
    if (!this.#cluster) {
      keys.push(this.#keys.epoch, ...tags.map((tag) => this.#keys.tag(tag)))
      return await this.#commands.fancyCacheSet(keys.length, ...keys, ...args, ...flags(true)) !== 0
    }
    // On a Cluster the epoch and the tags live on other slots: check the epoch before writing, write, tag, and
    // check again; when a purge came in between, take the write back. Between the write and the take-back (one
    // round trip) another request may read the entry (docs/redis.md).
    if (await this.epoch() !== meta.epoch) return false
    const ttl = await this.#commands.fancyCacheSet(keys.length, ...keys, ...args, ...flags(false)) as number
    await Promise.all(tags.map((tag) => this.#commands.fancyCacheTag(1, this.#keys.tag(tag), key, ttl)))
    if (await this.epoch() === meta.epoch) return true
    await this.#commands.fancyCacheUnset(keys.length, ...keys, variant, info, this.#keys.channel, key, Date.now(), STATS_TTL_MS)
    return false
  }

  async epoch (): Promise<number> {
    await this.#ready()
    const value = await this.#commands.get(this.#keys.epoch)
    return value === null ? 0 : Number(value)
  }

  async bumpEpoch (): Promise<void> {
    await this.#ready()
    await this.#commands.incr(this.#keys.epoch)
  }

  async delete (key: string): Promise<boolean> {
    await this.#ready()
    if (this.#cluster) await this.#commands.incr(this.#keys.epoch)
    const deleted = await this.#deleteGroup(key, !this.#cluster)
    return deleted
  }

  async deleteTags (tags: string[]): Promise<number> {
    await this.#ready()
    await this.#commands.incr(this.#keys.epoch)
    const seen = new Set<string>()
    let deleted = 0
    for (const tag of new Set(tags)) {
      const set = this.#keys.tag(tag)
      let cursor = '0'
      do {
        const [next, members] = await this.#commands.sscan(set, cursor, 'COUNT', 500)
        cursor = next
        const keys = members.filter((key) => !seen.has(key))
        if (keys.length === 0) continue
        for (const key of keys) seen.add(key)
        // Untag first, then delete: a set racing in between re-tags a key whose entry this then deletes, which
        // loses an entry but never leaves one untagged.
        await this.#commands.srem(set, ...keys)
        const results = await Promise.all(keys.map((key) => this.#deleteGroup(key, false)))
        for (const result of results) if (result) deleted++
      } while (cursor !== '0')
    }
    return deleted
  }

  async count (key: string, field: keyof Stats): Promise<void> {
    await this.#ready()
    await this.#commands.fancyCacheCount(1, this.#keys.index(shardOf(key)), key, field === 'hits' ? 'h' : 'm',
      Date.now(), STATS_TTL_MS)
  }

  async statsOf (key: string): Promise<Stats | null> {
    await this.#ready()
    const record = await this.#commands.hget(this.#keys.index(shardOf(key)), key)
    const parts = record === null ? undefined : fields(record)
    return parts === undefined ? null : statsOfRecord(parts)
  }

  async scan (cursor: string, count: number): Promise<ScanPage> {
    await this.#ready()
    let [shard, position] = parseCursor(cursor)
    const want = Math.max(Math.trunc(count) || 1, 1)
    const entries: RememberedEntry[] = []
    const seen = new Set<string>()
    const now = Date.now()
    // Shards are read one HSCAN step at a time; while they turn out small (read whole in one step), several are read
    // in parallel, so that walking a small index does not cost a round trip per shard.
    let parallel = 1
    for (let round = 0; round < SCAN_ROUNDS && entries.length < want && shard < SHARDS; round++) {
      const step = Math.min(Math.max(want - entries.length, 10), SCAN_STEP)
      const shards = Array.from({ length: Math.min(parallel, SHARDS - shard) }, (_, i) => shard + i)
      const pages = await Promise.all(shards.map((s, i) => this.#commands.hscan(this.#keys.index(s), i === 0 ? position : '0', 'COUNT', step)))
      parallel = Math.min(parallel * 4, 32)
      for (const [i, [next, found]] of pages.entries()) {
        for (let j = 0; j < found.length; j += 2) {
          const key = found[j]!
          if (seen.has(key)) continue
          seen.add(key)
          const entry = remembered(key, found[j + 1]!, now)
          if (entry !== undefined) entries.push(entry)
        }
        shard = shards[i]! + (next === '0' ? 1 : 0)
        position = next
        // A shard that needs more steps continues alone; the pages read past it are dropped.
        if (next !== '0') parallel = 1
        if (next !== '0' || entries.length >= want) break
      }
    }
    return { cursor: shard >= SHARDS ? '0' : `${shard}.${position}`, entries }
  }

  async clear (): Promise<void> {
    await this.#ready()
    await this.#commands.incr(this.#keys.epoch)
    this.#l1?.clear()
    for (const node of this.#nodes()) {
      let cursor = '0'
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', this.#keys.all, 'COUNT', 1000)
        cursor = next
        // The epoch stays: a set that read it before the clear must still find it changed.
        const keys = found.filter((key) => key !== this.#keys.epoch)
        if (keys.length === 0) continue
        if (!this.#cluster) {
          await node.unlink(...keys)
        } else {
          // Keys of several slots: one UNLINK each, pipelined to the node that holds them all.
          const pipeline = node.pipeline()
          for (const key of keys) pipeline.unlink(key)
          await pipeline.exec()
        }
      } while (cursor !== '0')
    }
    await this.#commands.publish(this.#keys.channel, '*')
    this.#l1?.clear()
  }

  /** Totals by a walk over every shard's index and stats: the work grows with the number of entries. */
  async summary (): Promise<StoreSummary> {
    await this.#ready()
    const totals = { entries: 0, bytes: 0, hits: 0, misses: 0 }
    const now = Date.now()
    for (let shard = 0; shard < SHARDS; shard++) {
      let cursor = '0'
      do {
        const [next, entries, bytes, hits, misses] =
          await this.#commands.fancyCacheTotals(1, this.#keys.index(shard), cursor, 1000, now) as [string, ...number[]]
        cursor = next
        totals.entries += entries!
        totals.bytes += bytes!
        totals.hits += hits!
        totals.misses += misses!
      } while (cursor !== '0')
    }
    return totals
  }

  async lock (key: string, ttlMs: number): Promise<boolean> {
    await this.#ready()
    const token = randomUUID()
    const taken = await this.#commands.set(this.#keys.lock(key), token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')
    if (taken !== 'OK') return false
    this.#locks.set(key, token)
    return true
  }

  async unlock (key: string): Promise<void> {
    const token = this.#locks.get(key)
    if (token === undefined) return
    this.#locks.delete(key)
    await this.#ready()
    await this.#commands.fancyCacheUnlock(1, this.#keys.lock(key), token)
  }

  /** Close the L1 subscription (the only connection the store opens); the given client stays open. */
  async close (): Promise<void> {
    this.#listening = false
    this.#l1?.clear()
    this.#subscriber?.disconnect()
    this.#subscriber = undefined
  }

  /** Delete a group and its index record, announce it, and (without a Cluster) bump the epoch in the same step. */
  async #deleteGroup (key: string, bump: boolean): Promise<boolean> {
    this.#l1?.evict(key)
    const shard = shardOf(key)
    const keys = [this.#keys.group(key, shard), this.#keys.index(shard)]
    if (bump) keys.push(this.#keys.epoch)
    const deleted = await this.#commands.fancyCacheDelete(keys.length, ...keys, this.#keys.channel, key)
    this.#l1?.evict(key)
    return deleted === 1
  }

  /**
   * Fail fast while disconnected rather than let commands pile up in the client's offline queue. Only before the
   * client was ever ready (the app is starting) do calls wait for its first connection, or its first error.
   */
  #ready (): Promise<void> | undefined {
    const status = this.#client.status
    if (status === 'ready') {
      this.#connected = true
      return undefined
    }
    if (this.#connected || (status !== 'wait' && status !== 'connecting' && status !== 'connect')) {
      throw storeUnavailable(status)
    }
    return (this.#firstConnection ??= this.#connect())
  }

  #connect (): Promise<void> {
    const client = this.#client
    return new Promise<void>((resolve, reject) => {
      const done = (err?: unknown) => {
        client.off('ready', done)
        client.off('error', done)
        this.#firstConnection = undefined
        if (err === undefined) resolve()
        else reject(storeUnavailable(client.status))
      }
      client.on('ready', done)
      client.on('error', done)
      if (client.status === 'wait') client.connect().catch(() => {})
    })
  }

  #nodes (): Redis[] {
    if (!this.#cluster) return [this.#client as Redis]
    const nodes = (this.#client as Cluster).nodes('master')
    if (nodes.length === 0) throw storeUnavailable('no master known')
    return nodes
  }

  /**
   * Listen for invalidations on a connection of our own. L1 serves only while subscribed: on every (re)subscribe it
   * starts empty, and a disconnect empties it, so no message can be missed while it answers.
   */
  #subscribe (l1: L1): void {
    const client = this.#client
    const subscriber = client.isCluster
      ? (client as Cluster).duplicate(undefined, { lazyConnect: false })
      : (client as Redis).duplicate({ lazyConnect: false })
    this.#subscriber = subscriber
    subscriber.on('message', (_channel: string, message: string) => {
      if (message === '*') l1.clear()
      else if (message.startsWith('k:')) l1.evict(message.slice(2))
    })
    subscriber.on('ready', () => {
      subscriber.subscribe(this.#keys.channel).then(() => {
        if (this.#subscriber !== subscriber) return
        l1.clear()
        this.#listening = true
      }, () => {})
    })
    const down = () => {
      this.#listening = false
      l1.clear()
    }
    subscriber.on('close', down)
    subscriber.on('end', down)
    // Errors surface as failed store calls; an unhandled 'error' event would crash the process.
    subscriber.on('error', () => {})
  }
}
