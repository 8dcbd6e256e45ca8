import { createHash, randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { invalidArgument, invalidOption, storeUnavailable } from '../errors.ts'
import { decodeEntry, decodeVary, encodeEntry, KeyLayout } from './redis-codec.ts'
import { L1, type L1Options } from './redis-l1.ts'
import * as lua from './redis-scripts.ts'
import type { CacheEntry, EntryMeta, Lookup, RememberedEntry, ScanPage, Stats, Store, StoreSummary } from './store.ts'

export type { L1Options } from './redis-l1.ts'

/** Options of the Redis store. */
export interface RedisStoreOptions {
  /** An ioredis client or Cluster; never closed by the store. */
  client: Redis | Cluster
  /** Prefix of every key. Default `fancy-cache`. */
  namespace?: string
  /** In-process tier in front of Redis, kept coherent through pub/sub; `false` for none. */
  l1?: L1Options | false
}

/** How long hits and misses are kept after their last change: they outlive entries, but not forever. */
export const STATS_TTL_MS = 30 * 24 * 3600 * 1000
const SCAN_ROUNDS = 16

type Arg = string | Buffer | number
type Scripted = (numKeys: number, ...args: Arg[]) => Promise<unknown>
/** The commands the store sends through the client (a Redis and a Cluster both have them). */
interface Client extends Pick<Redis, 'hmgetBuffer' | 'hmget' | 'get' | 'incr' | 'set' | 'sscan' | 'srem' | 'publish'> {
  fancyCacheSet: Scripted
  fancyCacheTag: Scripted
  fancyCacheUnset: Scripted
  fancyCacheDelete: Scripted
  fancyCacheCount: Scripted
  fancyCacheUnlock: Scripted
}

interface NodeScript {
  lua: string
  sha: string
}

function nodeScript (source: string): NodeScript {
  return { lua: source, sha: createHash('sha1').update(source).digest('hex') }
}

/** Run a script on one node: EVALSHA, and EVAL when the node does not know it yet. */
async function evalOn (node: Redis, script: NodeScript, keys: string[], args: Arg[]): Promise<unknown> {
  try {
    return await node.evalsha(script.sha, keys.length, ...keys, ...args)
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
    return node.eval(script.lua, keys.length, ...keys, ...args)
  }
}

function isWrongType (err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('WRONGTYPE')
}

type Row = [string, string, number, number, number, number, number]

/**
 * The Redis store (SPEC §8): one hash per cache key holding every variant, one round trip per hit, Lua scripts for
 * the writes, a hash tag per cache key so that it runs on Redis Cluster, remembered URLs found by SCAN on every
 * master, an optional L1 tier kept coherent through pub/sub. Every call rejects at once while the client is not
 * connected, so the plugin serves requests uncached instead of queueing them.
 */
export class RedisStore implements Store {
  readonly namespace: string
  readonly #client: Redis | Cluster
  readonly #commands: Client
  readonly #cluster: boolean
  readonly #keys: KeyLayout
  readonly #scanInfo: NodeScript
  readonly #summary: NodeScript
  readonly #unlinkAll: NodeScript
  readonly #l1: L1 | undefined
  readonly #locks = new Map<string, string>()
  #subscriber: Redis | Cluster | undefined
  #listening = false

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
    const page = (source: string, writes: boolean) => nodeScript(this.#cluster ? lua.crossSlot(source, writes) : source)
    this.#scanInfo = page(lua.SCAN_INFO, false)
    this.#summary = page(lua.SUMMARY, false)
    this.#unlinkAll = page(lua.UNLINK_ALL, true)
    client.defineCommand('fancyCacheSet', { lua: lua.SET })
    client.defineCommand('fancyCacheTag', { lua: lua.TAG })
    client.defineCommand('fancyCacheUnset', { lua: lua.UNSET })
    client.defineCommand('fancyCacheDelete', { lua: lua.DELETE })
    client.defineCommand('fancyCacheCount', { lua: lua.COUNT })
    client.defineCommand('fancyCacheUnlock', { lua: lua.UNLOCK })
    if (options.l1 !== undefined && options.l1 !== false) {
      this.#l1 = new L1(options.l1)
      this.#subscribe(this.#l1)
    }
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
    this.#ready()
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
    this.#ready()
    const data = encodeEntry(entry)
    const info = `${Math.trunc(entry.storedAt)} ${Math.trunc(entry.expiresAt)} ${Math.trunc(entry.staleUntil)} ${data.length}`
    const group = this.#keys.group(key)
    const args: Arg[] = [String(meta.epoch), variant, data, meta.vary.join(','), key, meta.url ?? '', Date.now(),
      ...info.split(' '), this.#keys.channel]
    const hasUrl = meta.url === undefined ? '0' : '1'
    const tags = [...new Set(meta.tags ?? [])]
    this.#l1?.evict(key)
    if (!this.#cluster) {
      const keys = [group, this.#keys.epoch, ...tags.map((tag) => this.#keys.tag(tag))]
      return await this.#commands.fancyCacheSet(keys.length, ...keys, ...args, '1', hasUrl) === 1
    }
    // On a Cluster the epoch lives on another slot: check it before writing, write, tag, and check again; when a
    // purge came in between, take the write back. Between the write and the take-back (one round trip) another
    // request may read the entry (docs/redis.md).
    if (await this.epoch() !== meta.epoch) return false
    await this.#commands.fancyCacheSet(1, group, ...args, '0', hasUrl)
    const ttl = Math.max(1, Math.trunc(entry.staleUntil) - Date.now())
    await Promise.all(tags.map((tag) => this.#commands.fancyCacheTag(1, this.#keys.tag(tag), key, ttl)))
    if (await this.epoch() === meta.epoch) return true
    await this.#commands.fancyCacheUnset(1, group, variant, info, this.#keys.channel, key)
    return false
  }

  async epoch (): Promise<number> {
    this.#ready()
    const value = await this.#commands.get(this.#keys.epoch)
    return value === null ? 0 : Number(value)
  }

  async bumpEpoch (): Promise<void> {
    this.#ready()
    await this.#commands.incr(this.#keys.epoch)
  }

  async delete (key: string): Promise<boolean> {
    this.#ready()
    this.#l1?.evict(key)
    let deleted: unknown
    if (this.#cluster) {
      await this.#commands.incr(this.#keys.epoch)
      deleted = await this.#commands.fancyCacheDelete(1, this.#keys.group(key), this.#keys.channel, key)
    } else {
      deleted = await this.#commands.fancyCacheDelete(2, this.#keys.group(key), this.#keys.epoch, this.#keys.channel, key)
    }
    this.#l1?.evict(key)
    return deleted === 1
  }

  async deleteTags (tags: string[]): Promise<number> {
    this.#ready()
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
        const results = await Promise.all(keys.map((key) => {
          this.#l1?.evict(key)
          return this.#commands.fancyCacheDelete(1, this.#keys.group(key), this.#keys.channel, key)
        }))
        for (const result of results) if (result === 1) deleted++
      } while (cursor !== '0')
    }
    return deleted
  }

  async count (key: string, field: keyof Stats): Promise<void> {
    this.#ready()
    await this.#commands.fancyCacheCount(1, this.#keys.stats(key), field === 'hits' ? 'h' : 'm', STATS_TTL_MS)
  }

  async statsOf (key: string): Promise<Stats | null> {
    this.#ready()
    let hits: string | null
    let misses: string | null
    try {
      [hits = null, misses = null] = await this.#commands.hmget(this.#keys.stats(key), 'h', 'm')
    } catch (err) {
      if (isWrongType(err)) return null
      throw err
    }
    if (hits === null && misses === null) return null
    return { hits: Number(hits ?? 0), misses: Number(misses ?? 0) }
  }

  async scan (cursor: string, count: number): Promise<ScanPage> {
    this.#ready()
    const nodes = this.#nodes()
    let [index, position] = this.#parseCursor(cursor, nodes.length)
    const node = nodes[index]!
    const want = Math.min(Math.max(Math.trunc(count) || 1, 1), 5000)
    const groups = new Set<string>()
    for (let round = 0; round < SCAN_ROUNDS && groups.size < want; round++) {
      const [next, found] = await node.scan(position, 'MATCH', this.#keys.groups, 'COUNT', Math.max(want * 2, 100))
      for (const group of found) groups.add(group)
      position = next
      if (position === '0') break
    }
    const entries: RememberedEntry[] = []
    if (groups.size > 0) {
      const keys: string[] = []
      for (const group of groups) keys.push(group, `${group.slice(0, -1)}s`)
      const rows = JSON.parse(String(await evalOn(node, this.#scanInfo, keys, [Date.now()]))) as Row[]
      for (const [key, url, storedAt, expiresAt, bytes, hits, misses] of rows) {
        entries.push({ url, key, bytes, storedAt, expiresAt, stats: hits === -1 ? null : { hits, misses } })
      }
    }
    if (position === '0') index++
    if (index >= nodes.length) return { cursor: '0', entries }
    return { cursor: nodes.length === 1 ? position : `${index}.${position}`, entries }
  }

  async clear (): Promise<void> {
    this.#ready()
    await this.#commands.incr(this.#keys.epoch)
    this.#l1?.clear()
    for (const node of this.#nodes()) {
      let cursor = '0'
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', this.#keys.all, 'COUNT', 1000)
        cursor = next
        // The epoch stays: a set that read it before the clear must still find it changed.
        const keys = found.filter((key) => key !== this.#keys.epoch)
        if (keys.length > 0) await evalOn(node, this.#unlinkAll, keys, [])
      } while (cursor !== '0')
    }
    await this.#commands.publish(this.#keys.channel, '*')
    this.#l1?.clear()
  }

  /** Totals by a SCAN of the whole namespace: work grows with the number of entries (the admin page's totals). */
  async summary (): Promise<StoreSummary> {
    this.#ready()
    const totals = { entries: 0, bytes: 0, hits: 0, misses: 0 }
    for (const node of this.#nodes()) {
      let cursor = '0'
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', this.#keys.all, 'COUNT', 1000)
        cursor = next
        const keys = found.filter((key) => key.endsWith('}:e') || key.endsWith('}:s'))
        if (keys.length === 0) continue
        const [entries, bytes, hits, misses] = await evalOn(node, this.#summary, keys, [Date.now()]) as number[]
        totals.entries += entries!
        totals.bytes += bytes!
        totals.hits += hits!
        totals.misses += misses!
      } while (cursor !== '0')
    }
    return totals
  }

  async lock (key: string, ttlMs: number): Promise<boolean> {
    this.#ready()
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
    this.#ready()
    await this.#commands.fancyCacheUnlock(1, this.#keys.lock(key), token)
  }

  /** Close the L1 subscription (the only connection the store opens); the given client stays open. */
  async close (): Promise<void> {
    this.#listening = false
    this.#l1?.clear()
    this.#subscriber?.disconnect()
    this.#subscriber = undefined
  }

  /** Fail fast while disconnected rather than let commands pile up in the client's offline queue. */
  #ready (): void {
    const status = this.#client.status
    if (status === 'ready') return
    if (status === 'wait') this.#client.connect().catch(() => {})
    throw storeUnavailable(status)
  }

  #nodes (): Redis[] {
    if (!this.#cluster) return [this.#client as Redis]
    const nodes = (this.#client as Cluster).nodes('master')
    if (nodes.length === 0) throw storeUnavailable('no master known')
    const name = (node: Redis) => `${node.options.host}:${node.options.port}`
    return nodes.sort((a, b) => name(a) < name(b) ? -1 : 1)
  }

  #parseCursor (cursor: string, nodes: number): [number, string] {
    if (cursor === '0') return [0, '0']
    const match = nodes === 1 ? /^()(\d+)$/.exec(cursor) : /^(\d+)\.(\d+)$/.exec(cursor)
    const index = Number(match?.[1] ?? 0)
    if (match === null || index >= nodes) throw invalidArgument(`unknown scan cursor ${JSON.stringify(cursor)}`)
    return [index, match[2]!]
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
