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
 * group, variant order, locks and index record carry its shard's tag, so every script about one key runs on one slot.
 *
 *   <ns>:{<shard>}:e:<key>            hash: the group of one cache key (vary list, tags, variants and their times)
 *   <ns>:{<shard>}:o:<key>            sorted set: the group's variants by last store, for maxVariants
 *   <ns>:{<shard>}:l:<key>:<variant>  string: a variant's regeneration lock (the holding process's token)
 *   <ns>:{<shard>}:i                  hash: cache key → "storedAt expiresAt staleUntil bytes variants hits misses countedAt url"
 *   <ns>:{t:<hash>}:t                 set: the cache keys labelled with one tag
 *   <ns>:{t:<hash>}:n                 string: that tag's name
 *   <ns>:{purge}                      hash: this Redis lifetime's token, the purge counter and the recent purges
 *   <ns>:{apps}                       hash: names of the apps seen using the default namespace
 */
export class KeyLayout {
  readonly prefix: string
  readonly purges: string
  readonly apps: string
  readonly channel: string
  /** SCAN pattern of every key of the namespace. */
  readonly all: string
  /** SCAN pattern of every tag set of the namespace. */
  readonly tags: string

  constructor (namespace: string) {
    this.prefix = `${namespace}:{`
    this.purges = `${this.prefix}purge}`
    this.apps = `${this.prefix}apps}`
    this.channel = `${namespace}:invalidate`
    const escaped = namespace.replace(/[*?[\]\\]/g, '\\$&')
    this.all = `${escaped}:{*`
    this.tags = `${escaped}:{t:*}:t`
  }

  group (key: string, shard = shardOf(key)): string {
    return `${this.prefix}${shard}}:e:${key}`
  }

  order (key: string, shard = shardOf(key)): string {
    return `${this.prefix}${shard}}:o:${key}`
  }

  lock (key: string, variant: string): string {
    return `${this.prefix}${shardOf(key)}}:l:${key}:${variant}`
  }

  index (shard: number): string {
    return `${this.prefix}${shard}}:i`
  }

  tag (tag: string): string {
    return `${this.prefix}t:${hash('sha256', tag, 'base64url')}}:t`
  }

  /** The key holding a tag's name, beside its set (the set's key carries only a hash of it). */
  tagName (tagSet: string): string {
    return `${tagSet.slice(0, -1)}n`
  }
}

/** Header names as HTTP allows them: a vary list read back must be made of these, or the group is not ours. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/

// An encoded response: MAGIC, a JSON line [status, headers, etag], then the body bytes. JSON.stringify never writes
// a raw newline, so the first one ends the header line. The times live apart, in the variant's `m:` field, so that a
// soft purge rewrites a few numbers instead of the body.
const MAGIC = Buffer.from('FC2\n')
const NEWLINE = 0x0a

/** The stored form of an entry's status, headers, ETag and body (its times are kept apart). */
export function encodeEntry (entry: CacheEntry): Buffer {
  const head = JSON.stringify([entry.status, entry.headers, entry.etag])
  return Buffer.concat([MAGIC, Buffer.from(head), Buffer.from([NEWLINE]), entry.body])
}

/** A variant's times as the set script takes them: "storedAt expiresAt staleUntil bytes softPurged" (it adds the seq). */
export function encodeTimes (entry: CacheEntry, bytes: number): string {
  return `${Math.trunc(entry.storedAt)} ${Math.trunc(entry.expiresAt)} ${Math.trunc(entry.staleUntil)} ${bytes} 0`
}

function isHeaders (value: unknown): value is CacheEntry['headers'] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  for (const v of Object.values(value)) {
    if (typeof v !== 'string' && !(Array.isArray(v) && v.every((s) => typeof s === 'string'))) return false
  }
  return true
}

const TIMES = /^(\d{1,16}) (\d{1,16}) (\d{1,16}) \d{1,16} ([01])(?: \d{1,16})?$/

/** The entry an encoded value and its times hold, or `undefined` for anything this store did not write. */
export function decodeEntry (data: Buffer, times: string): CacheEntry | undefined {
  const parsed = TIMES.exec(times)
  if (parsed === null) return undefined
  if (data.length < MAGIC.length || !data.subarray(0, MAGIC.length).equals(MAGIC)) return undefined
  const end = data.indexOf(NEWLINE, MAGIC.length)
  if (end === -1) return undefined
  let head: unknown
  try {
    head = JSON.parse(data.toString('utf8', MAGIC.length, end))
  } catch {
    return undefined
  }
  if (!Array.isArray(head) || head.length !== 3) return undefined
  const [status, headers, etag] = head as unknown[]
  if (!Number.isInteger(status) || (status as number) < 100 || (status as number) > 999) return undefined
  if (!isHeaders(headers) || typeof etag !== 'string') return undefined
  const entry: CacheEntry = {
    status: status as number,
    headers,
    etag,
    body: data.subarray(end + 1),
    storedAt: Number(parsed[1]),
    expiresAt: Number(parsed[2]),
    staleUntil: Number(parsed[3])
  }
  if (parsed[4] === '1') entry.softPurged = true
  return entry
}

/** A group's vary list as stored, or `undefined` when the value is not a list of header names. */
export function decodeVary (value: string): string[] | undefined {
  if (value === '') return []
  const names = value.split(',')
  return names.every((name) => TOKEN.test(name)) ? names : undefined
}

/** The epoch handed out by the store: the Redis lifetime's token and the purge counter. */
export function parseEpoch (epoch: string): { token: string, seq: string } | undefined {
  const at = typeof epoch === 'string' ? epoch.lastIndexOf(':') : -1
  if (at <= 0 || !/^\d{1,16}$/.test(epoch.slice(at + 1))) return undefined
  return { token: epoch.slice(0, at), seq: epoch.slice(at + 1) }
}

/**
 * The entries a hot page decodes to, kept so that a hit on the same stored bytes reuses the decoded entry (its
 * headers parsed once, and the response head the request path builds per entry object) instead of decoding them
 * again. Each use compares the bytes Redis sent with those the entry was decoded from, so it can never answer with
 * anything but what Redis holds. Bounded: bodies up to 64 KiB, 4 MiB and 4,096 entries in all; past that it starts over.
 */
export class DecodeMemo {
  readonly #memo = new Map<string, { data: Buffer, times: string, entry: CacheEntry }>()
  #bytes = 0

  decode (id: string, data: Buffer, times: string): CacheEntry | undefined {
    const known = this.#memo.get(id)
    if (known !== undefined && known.times === times && known.data.equals(data)) return known.entry
    const entry = decodeEntry(data, times)
    if (entry === undefined || data.length > MEMO_ENTRY_BYTES) return entry
    if (known !== undefined) this.#bytes -= known.data.length
    if (this.#bytes + data.length > MEMO_BYTES || this.#memo.size >= MEMO_ENTRIES) {
      this.#memo.clear()
      this.#bytes = 0
    }
    // A copy: the reply buffer may be a slice of a larger one the client reuses.
    const copy = Buffer.from(data)
    this.#memo.set(id, { data: copy, times, entry: { ...entry, body: copy.subarray(data.length - entry.body.length) } })
    this.#bytes += data.length
    return this.#memo.get(id)!.entry
  }

  clear (): void {
    this.#memo.clear()
    this.#bytes = 0
  }
}

const MEMO_ENTRY_BYTES = 64 * 1024
const MEMO_BYTES = 4 * 1024 * 1024
const MEMO_ENTRIES = 4096
