import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { invalidOption, storeUnavailable } from '../../errors.ts'
import type {
  CacheEntry, EntryMeta, KeyDetail, Lookup, PurgeOptions, ScanPage, Stats, Store, StoreHealth, StoreSummary
} from '../store.ts'
import { DecodeMemo, decodeVary, encodeEntry, encodeTimes, KeyLayout, parseEpoch, shardOf } from './codec.ts'
import { L1, subscribe, type L1Options } from './l1.ts'
import { SCRIPTS, type Arg, type Commands } from './commands.ts'
import { Connection } from './connection.ts'
import { bounded, type Context, foreign, isWrongType, STATS_TTL_MS } from './context.ts'
import * as purges from './purges.ts'
import { checkPolicy, noteApp, type StoreLog } from './startup.ts'
import * as walk from './walk.ts'
import { DEFAULT_NAMESPACE } from '../../defaults.ts'

export type { L1Options } from './l1.ts'
export type { StoreLog } from './startup.ts'

/** Options of the Redis store. */
export interface RedisStoreOptions {
  /** An ioredis client or Cluster; never closed by the store. */
  client: Redis | Cluster
  /** Prefix of every key. Default `fancy-cache`; apps sharing one Redis each need their own. */
  namespace?: string
  /** In-process tier in front of Redis, kept coherent through pub/sub; `false` for none. */
  l1?: L1Options | false
  /**
   * Accept a Redis whose `maxmemory-policy` is `allkeys-*`. Such a Redis may evict the index and tag sets that
   * purges walk, so a purged page can keep being served; `init()` refuses it unless this is `true`.
   */
  allowEvictingPolicy?: boolean
  /** Longest wait for one Redis command of a purge, scan, stats or clear, ms (default 2000); then it rejects. */
  commandTimeout?: number
  /** Where the store's own warnings go (a foreign value under its keys, an app sharing the namespace). */
  log?: StoreLog
  /** This app's name, to notice another app writing the default namespace (default: package.json's name). */
  app?: string
}

const DEFAULT_MAX_VARIANTS = 64

/**
 * The Redis store: one hash per cache key holding every variant, one round trip per hit, Lua scripts for the writes,
 * keys hash-tagged by shard so that each script runs on one Redis Cluster slot, remembered URLs in sharded index
 * hashes walked with HSCAN, purges listed in a capped record that every set is checked against, an optional L1 tier
 * kept coherent through pub/sub. Every call rejects at once while the client is disconnected, so the plugin serves
 * requests uncached instead of queueing them.
 */
export class RedisStore implements Store {
  readonly namespace: string
  readonly #client: Redis | Cluster
  readonly #commands: Commands
  readonly #cluster: boolean
  readonly #keys: KeyLayout
  readonly #l1: L1 | undefined
  readonly #options: RedisStoreOptions
  readonly #ctx: Context
  /** The value of every lock this process takes: a lock is released only by the process holding it. */
  readonly #token = randomUUID()
  readonly #warned = new Set<string>()
  readonly #connection: Connection
  #subscriber: Redis | Cluster | undefined
  #listening = false
  readonly #decoded = new DecodeMemo()
  #closed = false

  constructor (options: RedisStoreOptions) {
    const { client } = options
    const namespace = options.namespace ?? DEFAULT_NAMESPACE
    if (typeof namespace !== 'string' || !/^[^{}\s]{1,100}$/.test(namespace)) {
      throw invalidOption('namespace: 1-100 characters, no braces or spaces')
    }
    const clientOptions = client.options as { keyPrefix?: string, redisOptions?: { keyPrefix?: string } }
    if ((clientOptions.keyPrefix ?? clientOptions.redisOptions?.keyPrefix ?? '') !== '') {
      throw invalidOption('redis: a client with a keyPrefix cannot be used by the Redis store; use the namespace option instead')
    }
    const timeout = options.commandTimeout ?? 2000
    if (!Number.isFinite(timeout) || timeout <= 0) throw invalidOption('commandTimeout: a number of milliseconds above 0')
    this.namespace = namespace
    this.#options = options
    this.#client = client
    this.#commands = client as unknown as Commands
    this.#cluster = client.isCluster
    this.#keys = new KeyLayout(namespace)
    this.#connection = new Connection(client)
    for (const [name, source] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua: source })
    this.#ctx = {
      commands: this.#commands,
      keys: this.#keys,
      cluster: this.#cluster,
      timeoutMs: timeout,
      nodes: () => this.#nodes(),
      warn: (code, message) => this.#warn(code, message),
      evict: (key) => this.#l1?.evict(key)
    }
    if (options.l1 !== undefined && options.l1 !== false) {
      const l1 = this.#l1 = new L1(options.l1)
      this.#subscriber = subscribe(client, this.#keys.channel, l1, (listening) => { this.#listening = listening && !this.#closed })
    }
  }

  /**
   * Start-up checks, run by the plugin before it serves: the eviction policy (an `allkeys-*` Redis is refused unless
   * `allowEvictingPolicy`), and, in the default namespace, whether another app writes there too. A Redis that is not
   * reachable yet is not an error: the app starts and serves uncached, and the checks run when it connects.
   */
  async init (): Promise<void> {
    const run = async () => {
      await checkPolicy(this.#ctx, this.#options.allowEvictingPolicy === true)
      // Only a hint for the operator: a failure here (a value not ours under the key) must not stop the app.
      if (this.namespace === DEFAULT_NAMESPACE) await noteApp(this.#ctx, this.#options.app).catch(() => foreign(this.#ctx))
    }
    try {
      await bounded(this.#ctx, this.#connection.ready() ?? Promise.resolve())
    } catch {
      this.#warn('unreachable', 'Redis is not reachable at start-up: serving uncached; the eviction policy is checked once it connects')
      this.#client.once('ready', () => { run().catch((err: Error) => this.#warn('policy', err.message)) })
      return
    }
    await run()
  }

  /** An L1 hit, with no round trip; `undefined` sends the caller to `get`. */
  peek (key: string, variant: string): Lookup | undefined {
    return this.#listening ? this.#l1?.get(key, variant) : undefined
  }

  /** Whether the L1 tier is serving: it is configured and subscribed to invalidations. */
  get l1Active (): boolean {
    return this.#listening
  }

  health (): StoreHealth {
    const health: StoreHealth = { type: 'redis', connected: this.#client.status === 'ready' }
    if (this.#l1 !== undefined) health.l1 = this.#l1.counters()
    return health
  }

  async get (key: string, variant: string): Promise<Lookup | undefined> {
    const l1 = this.#listening ? this.#l1 : undefined
    const generation = l1?.generation ?? 0
    if (l1 !== undefined) {
      const hit = l1.get(key, variant)
      if (hit !== undefined) return hit
      l1.missed()
    }
    const connecting = this.#connection.ready()
    if (connecting !== undefined) await connecting
    let reply: (Buffer | null)[]
    try {
      reply = await this.#commands.hmgetBuffer(this.#keys.group(key), 'f', 'v', `=${variant}`, `m:${variant}`, 'c', 'n')
    } catch (err) {
      // Something else lives under our key: a miss, and the next set replaces it.
      if (isWrongType(err)) return undefined
      throw err
    }
    const [format, vary, data, times, counter, count] = reply
    if (vary == null || format?.toString('latin1') !== '2') return undefined
    const names = decodeVary(vary.toString('latin1'))
    if (names === undefined) return undefined
    let entry = data == null || times == null ? undefined : this.#decoded.decode(`${key}\0${variant}`, data, times.toString('latin1'))
    if (entry !== undefined && entry.staleUntil <= Date.now()) entry = undefined
    const lookup = { entry, vary: names }
    if (l1 !== undefined && this.#listening) l1.put(key, variant, lookup, generation)
    if (entry !== undefined && names.length > 0) this.#touchIfOld(key, variant, times!, counter, count)
    return lookup
  }

  /**
   * Keep variants in least-recently-used order, not only last-stored, so that a flood of new variants (random
   * User-Agents) pushes out the rarely asked ones, not the one most visitors get. A hit marks its variant used only
   * once it has sunk into the older half of the group's order (its seq is at least half the group's size behind the
   * group's counter), and without waiting: a hit still costs one round trip, and most hits send nothing more.
   */
  #touchIfOld (key: string, variant: string, times: Buffer, counter: Buffer | null | undefined, count: Buffer | null | undefined): void {
    const info = times.toString('latin1')
    const seq = Number(info.slice(info.lastIndexOf(' ') + 1))
    const size = Number(count?.toString('latin1'))
    if (!(size >= 2) || !(Number(counter?.toString('latin1')) - seq >= Math.floor(size / 2))) return
    const shard = shardOf(key)
    this.#commands.fancyCacheTouch(2, this.#keys.group(key, shard), this.#keys.order(key, shard), variant).catch(() => {})
  }

  async set (key: string, variant: string, entry: CacheEntry, meta: EntryMeta): Promise<boolean> {
    const epoch = parseEpoch(meta.epoch)
    if (epoch === undefined) return false
    const connecting = this.#connection.ready()
    if (connecting !== undefined) await connecting
    const data = encodeEntry(entry)
    const times = encodeTimes(entry, data.length)
    const shard = shardOf(key)
    const tags = [...new Set(meta.tags ?? [])]
    const url = meta.url ?? ''
    const hasUrl = meta.url === undefined ? '0' : '1'
    const keys = [this.#keys.group(key, shard), this.#keys.order(key, shard), this.#keys.index(shard)]
    const args: Arg[] = [epoch.token, epoch.seq, variant, data, times, meta.vary.join(','), key, url, hasUrl, Date.now(),
      meta.maxVariants ?? DEFAULT_MAX_VARIANTS, this.#keys.channel, STATS_TTL_MS]
    const tagKeys = tags.map((tag) => this.#keys.tag(tag))
    this.#l1?.evict(key)
    let stored: boolean
    if (!this.#cluster) {
      keys.push(this.#keys.purges, ...tagKeys.flatMap((set) => [set, this.#keys.tagName(set)]))
      const [ttl, notOurs] = await this.#commands.fancyCacheSet(keys.length, ...keys, ...args, '1', tags.length, ...tags) as number[]
      if (notOurs === 1) foreign(this.#ctx)
      stored = ttl! > 0
    } else {
      stored = await this.#clusterSet(keys, args, epoch, key, url, hasUrl, tags, tagKeys, variant, times)
    }
    this.#l1?.evict(key)
    if (stored && tags.length > 0) purges.sweepTag(this.#ctx, tagKeys)
    return stored
  }

  /**
   * On a Cluster the purge record and the tags live on other slots: check before writing, write, tag, and check
   * again; when a purge came in between, take the write back. Between the write and the take-back (one round trip)
   * another request may read the entry (docs/redis.md).
   */
  async #clusterSet (keys: string[], args: Arg[], epoch: { token: string, seq: string }, key: string, url: string,
    hasUrl: string, tags: string[], tagKeys: string[], variant: string, times: string): Promise<boolean> {
    const check = () => this.#commands.fancyCacheCheck(1, this.#keys.purges, epoch.token, epoch.seq, key, url, hasUrl, ...tags)
    if (await check() === 1) return false
    // The write and its tags go out together: one round trip, whatever the number of tags.
    const [[ttl, notOurs], ...tagged] = await Promise.all([
      this.#commands.fancyCacheSet(keys.length, ...keys, ...args, '0', tags.length, ...tags) as Promise<number[]>,
      ...tagKeys.map((set, i) => this.#commands.fancyCacheTag(2, set, this.#keys.tagName(set), key, tags[i]!))
    ])
    if (notOurs === 1 || tagged.includes(0)) foreign(this.#ctx)
    if (await check() === 0) return ttl! > 0
    await this.#commands.fancyCacheUnset(keys.length, ...keys, variant, times, this.#keys.channel, key, Date.now(), STATS_TTL_MS)
    return false
  }

  async epoch (): Promise<string> {
    const connecting = this.#connection.ready()
    if (connecting !== undefined) await connecting
    const [token, seq, notOurs] = await this.#commands.fancyCacheEpoch(1, this.#keys.purges, randomUUID()) as [string, string, number]
    if (notOurs === 1) foreign(this.#ctx)
    return `${token}:${seq}`
  }

  async notePurge (patterns: string[]): Promise<void> {
    await this.#readyNow()
    if (patterns.length === 0) return
    await purges.note(this.#ctx, 'p', patterns)
  }

  async delete (key: string, options: PurgeOptions = {}): Promise<boolean> {
    await this.#readyNow()
    // On a Cluster the purge is listed first: a set that checks after writing then sees it and takes its write back.
    if (this.#cluster) await purges.note(this.#ctx, 'k', [key])
    return await purges.purge(this.#ctx, key, options, !this.#cluster)
  }

  async deleteTags (tags: string[], options: PurgeOptions = {}): Promise<number> {
    await this.#readyNow()
    const unique = [...new Set(tags)]
    if (unique.length === 0) return 0
    await purges.note(this.#ctx, 't', unique)
    return await purges.purgeTagged(this.#ctx, unique, options)
  }

  async count (key: string, field: keyof Stats): Promise<void> {
    await this.#readyNow()
    const counted = await this.#commands.fancyCacheCount(1, this.#keys.index(shardOf(key)), key, field === 'hits' ? 'h' : 'm',
      Date.now(), STATS_TTL_MS)
    if (counted === 0) foreign(this.#ctx)
  }

  async statsOf (key: string): Promise<Stats | null> {
    await this.#readyNow()
    return await walk.statsOf(this.#ctx, key)
  }

  async scan (cursor: string, count: number): Promise<ScanPage> {
    await this.#readyNow()
    return await walk.scan(this.#ctx, cursor, count)
  }

  async scanTags (cursor: string, count: number): Promise<{ cursor: string, tags: Array<{ tag: string, keys: number }> }> {
    await this.#readyNow()
    return await walk.scanTags(this.#ctx, cursor, count)
  }

  async inspect (key: string): Promise<KeyDetail | undefined> {
    await this.#readyNow()
    return await walk.inspect(this.#ctx, key)
  }

  async clear (): Promise<void> {
    await this.#readyNow()
    this.#l1?.clear()
    await walk.clear(this.#ctx)
    this.#l1?.clear()
  }

  /** Totals by a walk over every shard's index: the work grows with the number of entries. */
  async summary (): Promise<StoreSummary> {
    await this.#readyNow()
    return await walk.summary(this.#ctx)
  }

  async lock (key: string, variant: string, ttlMs: number): Promise<boolean> {
    await this.#readyNow()
    const taken = await this.#commands.fancyCacheLock(1, this.#keys.lock(key, variant), this.#token, Math.max(1, Math.ceil(ttlMs)))
    return taken === 1
  }

  async unlock (key: string, variant: string): Promise<void> {
    await this.#readyNow()
    await this.#commands.fancyCacheUnlock(1, this.#keys.lock(key, variant), this.#token)
  }

  /** Close the L1 subscription (the only connection the store opens); the given client stays open. */
  async close (): Promise<void> {
    this.#closed = true
    this.#listening = false
    this.#l1?.clear()
    this.#subscriber?.disconnect()
    this.#subscriber = undefined
  }

  #warn (code: string, message: string): void {
    if (this.#warned.has(code)) return
    this.#warned.add(code)
    this.#options.log?.warn(`fastify-fancy-cache: ${message}`)
  }

  /** Wait (boundedly) for the first connection while the app starts; fail at once when disconnected later. */
  async #readyNow (): Promise<void> {
    const connecting = this.#connection.ready()
    if (connecting !== undefined) await bounded(this.#ctx, connecting)
  }

  #nodes (): Redis[] {
    if (!this.#cluster) return [this.#client as Redis]
    const nodes = (this.#client as Cluster).nodes('master')
    if (nodes.length === 0) throw storeUnavailable('no master known')
    return nodes
  }
}
