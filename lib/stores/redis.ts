import type { Redis, Cluster } from 'ioredis'
import type { CacheEntry, EntryMeta, Lookup, ScanPage, Stats, Store, StoreSummary } from './store.ts'

/** Options of the Redis store. */
export interface RedisStoreOptions {
  /** An ioredis client or Cluster; never closed by the store. */
  client: Redis | Cluster
  /** Prefix of every key. Default `fancy-cache`. */
  namespace?: string
  /** In-process tier in front of Redis, kept coherent through pub/sub; `false` for none. */
  l1?: { maxEntries?: number, maxBytes?: number } | false
}

const unavailable = () => Promise.reject(new Error('fastify-fancy-cache: the Redis store is being built (issue #5)'))

/** Redis-backed store (issue #5 replaces this placeholder; every call rejects, so the plugin fails open). */
export class RedisStore implements Store {
  constructor (readonly options: RedisStoreOptions) {}
  get (_key: string, _variant: string): Promise<Lookup | undefined> { return unavailable() }
  set (_key: string, _variant: string, _entry: CacheEntry, _meta: EntryMeta): Promise<boolean> { return unavailable() }
  epoch (): Promise<number> { return unavailable() }
  delete (_key: string): Promise<boolean> { return unavailable() }
  deleteTags (_tags: string[]): Promise<number> { return unavailable() }
  count (_key: string, _field: keyof Stats): Promise<void> { return unavailable() }
  statsOf (_key: string): Promise<Stats | null> { return unavailable() }
  scan (_cursor: string, _count: number): Promise<ScanPage> { return unavailable() }
  clear (): Promise<void> { return unavailable() }
  summary (): Promise<StoreSummary> { return unavailable() }
}
