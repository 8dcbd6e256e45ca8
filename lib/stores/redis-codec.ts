import { hash } from 'node:crypto'
import type { CacheEntry } from './store.ts'

/**
 * Key layout of the Redis store (docs/redis.md documents it). Every key starts with `<namespace>:{`, so one
 * `SCAN MATCH <namespace>:{*` finds exactly this namespace's keys; the braces are the Cluster hash tag.
 *
 *   <ns>:{<tag>}:e        hash: the group of one cache key (variants, vary list, URL); expires with its last variant
 *   <ns>:{<tag>}:s        hash: hits and misses; outlives the group (STATS_TTL_MS after the last count)
 *   <ns>:{<tag>}:l        string: the regeneration lock
 *   <ns>:{t:<hash>}:t     set: the cache keys labelled with one tag
 *   <ns>:{epoch}          integer: the purge generation
 *
 * `<tag>` is the cache key itself when it is short and made of [A-Za-z0-9_-] (the plugin's keys are base64url
 * SHA-256 digests), otherwise `#` and a digest of it, so no key can break out of the braces or the SCAN pattern.
 */
export class KeyLayout {
  readonly prefix: string
  readonly epoch: string
  readonly channel: string
  /** SCAN pattern of every key of the namespace. */
  readonly all: string
  /** SCAN pattern of the groups. */
  readonly groups: string

  constructor (namespace: string) {
    this.prefix = `${namespace}:{`
    this.epoch = `${this.prefix}epoch}`
    this.channel = `${namespace}:invalidate`
    const glob = namespace.replace(/[*?[\]\\]/g, '\\$&')
    this.all = `${glob}:{*`
    this.groups = `${glob}:{*}:e`
  }

  #tag (key: string): string {
    return SAFE_KEY.test(key) ? key : `#${hash('sha256', key, 'base64url')}`
  }

  group (key: string): string {
    return `${this.prefix}${this.#tag(key)}}:e`
  }

  stats (key: string): string {
    return `${this.prefix}${this.#tag(key)}}:s`
  }

  lock (key: string): string {
    return `${this.prefix}${this.#tag(key)}}:l`
  }

  tag (tag: string): string {
    return `${this.prefix}t:${hash('sha256', tag, 'base64url')}}:t`
  }
}

const SAFE_KEY = /^[A-Za-z0-9_-]{1,64}$/

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
