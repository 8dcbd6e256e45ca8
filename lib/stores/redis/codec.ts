import { hash } from 'node:crypto'
import type { CacheEntry } from '../store.ts'

/** Number of index shards: every cache key belongs to one, and a scan walks them in turn. */
export const SHARDS = 256

/** The shard of a cache key: FNV-1a folded to a byte. */
export function shardOf (key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return ((h >>> 24) ^ (h >>> 16) ^ (h >>> 8) ^ h) & 255
}

/**
 * Key layout of the Redis store (docs/redis.md documents it). Every key starts with `<namespace>:{`, so one
 * `SCAN MATCH <namespace>:{*` finds exactly this namespace's keys. The braces hold the Cluster hash tag: a cache key's
 * group, lock, index record and stats all carry its shard's tag, so every script about one key runs on one slot.
 *
 *   <ns>:{<shard>}:e:<key>   hash: the group of one cache key (vary list, variants); expires with its last variant
 *   <ns>:{<shard>}:l:<key>   string: the regeneration lock
 *   <ns>:{<shard>}:i         hash: cache key → "storedAt expiresAt staleUntil bytes variants url", one per group
 *   <ns>:{<shard>}:s         hash: cache key → "hits misses lastCountedAt"; outlives the groups (STATS_TTL_MS)
 *   <ns>:{t:<hash>}:t        set: the cache keys labelled with one tag
 *   <ns>:{epoch}             integer: the purge generation
 */
export class KeyLayout {
  readonly prefix: string
  readonly epoch: string
  readonly channel: string
  /** SCAN pattern of every key of the namespace. */
  readonly all: string

  constructor (namespace: string) {
    this.prefix = `${namespace}:{`
    this.epoch = `${this.prefix}epoch}`
    this.channel = `${namespace}:invalidate`
    this.all = `${namespace.replace(/[*?[\]\\]/g, '\\$&')}:{*`
  }

  group (key: string, shard = shardOf(key)): string {
    return `${this.prefix}${shard}}:e:${key}`
  }

  lock (key: string): string {
    return `${this.prefix}${shardOf(key)}}:l:${key}`
  }

  index (shard: number): string {
    return `${this.prefix}${shard}}:i`
  }

  stats (shard: number): string {
    return `${this.prefix}${shard}}:s`
  }

  tag (tag: string): string {
    return `${this.prefix}t:${hash('sha256', tag, 'base64url')}}:t`
  }
}

/** Header names as HTTP allows them: a vary list read back must be made of these, or the group is not ours. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/

// An encoded entry: MAGIC, a JSON line [status, headers, etag, storedAt, expiresAt, staleUntil], then the body bytes.
// JSON.stringify never writes a raw newline, so the first one ends the header line.
const MAGIC = Buffer.from('FC1\n')
const NEWLINE = 0x0a

export function encodeEntry (entry: CacheEntry): Buffer {
  const head = JSON.stringify([entry.status, entry.headers, entry.etag, entry.storedAt, entry.expiresAt, entry.staleUntil])
  return Buffer.concat([MAGIC, Buffer.from(head), Buffer.from([NEWLINE]), entry.body])
}

function isHeaders (value: unknown): value is CacheEntry['headers'] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  for (const v of Object.values(value)) {
    if (typeof v !== 'string' && !(Array.isArray(v) && v.every((s) => typeof s === 'string'))) return false
  }
  return true
}

/** The entry an encoded value holds, or `undefined` for anything this store did not write. */
export function decodeEntry (data: Buffer): CacheEntry | undefined {
  if (data.length < MAGIC.length || !data.subarray(0, MAGIC.length).equals(MAGIC)) return undefined
  const end = data.indexOf(NEWLINE, MAGIC.length)
  if (end === -1) return undefined
  let head: unknown
  try {
    head = JSON.parse(data.toString('utf8', MAGIC.length, end))
  } catch {
    return undefined
  }
  if (!Array.isArray(head) || head.length !== 6) return undefined
  const [status, headers, etag, storedAt, expiresAt, staleUntil] = head as unknown[]
  if (!Number.isInteger(status) || (status as number) < 100 || (status as number) > 999) return undefined
  if (!isHeaders(headers) || typeof etag !== 'string') return undefined
  if (typeof storedAt !== 'number' || typeof expiresAt !== 'number' || typeof staleUntil !== 'number') return undefined
  return { status: status as number, headers, etag, body: data.subarray(end + 1), storedAt, expiresAt, staleUntil }
}

/** A group's vary list as stored, or `undefined` when the value is not a list of header names. */
export function decodeVary (value: string): string[] | undefined {
  if (value === '') return []
  const names = value.split(',')
  return names.every((name) => TOKEN.test(name)) ? names : undefined
}
