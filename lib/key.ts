import { hash } from 'node:crypto'
import { unescape } from 'node:querystring'
import type { FastifyRequest } from 'fastify'
import type { ResolvedRoute } from './options.ts'

const byName = (a: [string, string], b: [string, string]) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0

/**
 * The query string as it counts for the key: parameters kept by onlyGetKeys/forgetGetKeys, sorted by name so that
 * `?b=2&a=1` equals `?a=1&b=2`, repeated parameters keeping the order of their values (the sort is stable).
 * Names are compared decoded (`?pa%67e=1` is `page`); pairs are kept as sent.
 */
export function normalizeQuery (query: string, filter: ResolvedRoute['queryFilter']): string {
  if (query === '' || (filter !== null && filter.only && filter.names.size === 0)) return ''
  const pairs: [string, string][] = []
  for (const pair of query.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const raw = eq === -1 ? pair : pair.slice(0, eq)
    // querystring.unescape never throws on malformed escapes, unlike decodeURIComponent.
    const name = raw.includes('%') || raw.includes('+') ? unescape(raw.replaceAll('+', ' ')) : raw
    if (filter !== null && filter.names.has(name) !== filter.only) continue
    pairs.push([name, pair])
  }
  if (pairs.length > 1) pairs.sort(byName)
  let out = ''
  for (const [, pair] of pairs) out = out === '' ? pair : `${out}&${pair}`
  return out
}

// Hashing is most of a hit's own cost, and hot pages are few: remember recent request → key results per route.
// Bounded twice: short identities only, and the whole memo is dropped when full, so a flood of distinct URLs costs
// one Map.set each and never more than MEMO_MAX entries of at most MEMO_KEY_MAX characters.
const memos = new WeakMap<ResolvedRoute, Map<string, string>>()
const MEMO_MAX = 10_000
const MEMO_KEY_MAX = 512

/**
 * The cache key of a request: a SHA-256 over the key prefix, protocol, host, path exactly as requested and the
 * normalised query. Hashing bounds its length whatever the URL, and SHA-256 keeps crafted collisions out of reach.
 */
export function baseKey (request: FastifyRequest, route: ResolvedRoute, prefix: string): string {
  const url = request.url
  const identity = `${prefix.length}:${prefix}\0${request.protocol}\0${request.host}\0${url}`
  let memo = memos.get(route)
  if (memo === undefined) memos.set(route, memo = new Map())
  const known = memo.get(identity)
  if (known !== undefined) return known
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const query = q === -1 ? '' : normalizeQuery(url.slice(q + 1), route.queryFilter)
  const key = hash('sha256', `${prefix.length}:${prefix}\0${request.protocol}\0${request.host}\0${path}\0${query}`, 'base64url')
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
    if (name !== '') names.add(name)
  }
  return names.size === 0 ? [] : [...names].sort()
}

/** A strong ETag from a body. */
export function etagOf (body: Buffer): string {
  // A validator, not a security boundary (only the app makes bodies): SHA-1 is enough and half the cost.
  return `"${hash('sha1', body, 'base64url')}"`
}
