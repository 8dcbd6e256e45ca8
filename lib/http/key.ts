import { hash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'

/** How a route's query parameters count for its key: which names to keep, which to drop. */
export interface QueryRule {
  /** `onlyGetKeys`: only these names count (an empty set ignores the query string). */
  only: Set<string> | null
  /** `forgetGetKeys` and `ignoreQueryParams`: these names never count. */
  drop: ((name: string) => boolean) | null
}

/** An object of the query parsers' kind: plain, prototype-less, or (fast-querystring) with a prototype-less prototype. */
function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null || Object.getPrototypeOf(proto) === null
}

/**
 * The query as it counts for the key, taken from `request.query`, the object the handler sees, so that the key
 * agrees with whatever query parser the app uses (`?page[]=1` under `qs` is `page`, not a name to filter out).
 * Names are sorted, so `?b=2&a=1` equals `?a=1&b=2`; repeated values keep their order. A parser that returns
 * something other than a plain object gets the raw query string in the key: more entries, never a shared one.
 */
export function queryPart (query: unknown, raw: string, rule: QueryRule): string {
  if (rule.only !== null && rule.only.size === 0) return ''
  if (!isPlainObject(query)) return `\0raw\0${raw}`
  const names = Object.keys(query)
  if (names.length === 0) return ''
  if (names.length > 1) names.sort()
  let out = ''
  for (const name of names) {
    if ((rule.only !== null && !rule.only.has(name)) || rule.drop?.(name) === true) continue
    const value = JSON.stringify(query[name])
    if (value === undefined) continue
    out += `${out === '' ? '' : '&'}${encodeURIComponent(name)}=${value}`
  }
  return out
}

// Hashing is most of a hit's own cost and hot pages are few: remember recent request → key results. One memo for
// every route, bounded by entries and by the length of what it remembers, so its size never depends on how many
// routes or distinct URLs the app sees: at most MEMO_MAX × MEMO_KEY_MAX characters.
const memo = new Map<string, string>()
const MEMO_MAX = 4096
const MEMO_KEY_MAX = 512

/** What identifies a page before hashing: the matched route, the key prefix, protocol, host and URL. */
export interface KeyInput {
  /** The matched route's identity (its path pattern and the constraints that selected it). */
  routeId: string
  prefix: string
  rule: QueryRule
}

/**
 * The cache key of a request: a SHA-256 over the route's identity, the key prefix, protocol, host, the path exactly
 * as requested and the query as the handler sees it. Hashing bounds its length whatever the URL, and SHA-256 keeps
 * crafted collisions out of reach.
 */
export function baseKey (request: FastifyRequest, input: KeyInput): string {
  const url = request.url
  const prefix = input.prefix
  const identity = `${input.routeId}\0${prefix.length}:${prefix}\0${request.protocol}\0${request.host}\0${url}`
  const known = memo.get(identity)
  if (known !== undefined) return known
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const query = queryPart(request.query, q === -1 ? '' : url.slice(q + 1), input.rule)
  const key = hash('sha256', `${identity.slice(0, identity.length - url.length)}${path}\0${query}`, 'base64url')
  if (identity.length <= MEMO_KEY_MAX) {
    if (memo.size >= MEMO_MAX) memo.clear()
    memo.set(identity, key)
  }
  return key
}

/** The variant of a key for a request: a hash of the values of the headers the response varies on, `''` for none. */
export function variantOf (request: FastifyRequest, vary: string[]): string {
  if (vary.length === 0) return ''
  let values = ''
  for (const name of vary) {
    const value = request.headers[name]
    values += `${value === undefined ? '' : Array.isArray(value) ? value.join(', ') : value}\0`
  }
  return hash('sha256', values, 'base64url').slice(0, 22)
}

/** The header names a `Vary` value lists, lower-case, sorted and unique; `['*']` for `Vary: *`. */
export function parseVary (value: unknown): string[] {
  if (value === undefined || value === null) return []
  const text = Array.isArray(value) ? value.join(',') : String(value)
  const names = new Set<string>()
  for (const part of text.split(',')) {
    const name = part.trim().toLowerCase()
    if (name === '*') return ['*']
    if (name !== '') names.add(name)
  }
  return names.size === 0 ? [] : [...names].sort()
}

/** Whether two sorted header-name lists are the same. */
export function sameList (a: string[], b: string[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A strong ETag from a body. */
export function etagOf (body: Buffer): string {
  // A validator, not a security boundary (only the app makes bodies): SHA-1 is enough and half the cost.
  return `"${hash('sha1', body, 'base64url')}"`
}

/**
 * The tag every entry of a host and path carries, whatever its query, protocol or key prefix: an unsafe request to
 * the path purges them all with one tag purge. Hashed, so its size is fixed whatever the path.
 */
export function pathTag (host: string, path: string): string {
  return `${PATH_TAG}${hash('sha256', `${host}\0${path}`, 'base64url').slice(0, 22)}`
}

/** How the cache's own path tags begin; listings of tags leave them out. */
export const PATH_TAG = '~path:'
