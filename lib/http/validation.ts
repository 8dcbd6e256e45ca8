// Revalidating a stored response with its origin (RFC 9111 §4.3): what to ask, and how a 304 refreshes it.
import { parseHttpDate } from './cache-control.ts'
import type { Headers } from './freshness.ts'

/** Stored header values, as the store keeps them. */
export type StoredHeaders = Record<string, string | string[]>

/**
 * RFC 9111 §4.3.1: the conditional request headers that let the origin answer `304` for the stored response:
 * `If-None-Match` with its entity tag and `If-Modified-Since` with its `Last-Modified`. `etag` is the validator
 * the origin itself sent (not one the cache made up, which the origin could not recognise).
 */
export function conditionalHeaders (stored: StoredHeaders, etag: string | undefined): Record<string, string> {
  const conditional: Record<string, string> = {}
  if (etag !== undefined) conditional['if-none-match'] = etag
  const lastModified = stored['last-modified']
  if (typeof lastModified === 'string') conditional['if-modified-since'] = lastModified
  return conditional
}

// RFC 9111 §3.2: never taken from a 304 into the stored response: its framing, and the per-hop and per-reply fields.
const NOT_UPDATED = new Set([
  'content-length', 'content-range', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te',
  'trailer', 'upgrade', 'set-cookie', 'cache-status'
])

/**
 * RFC 9111 §4.3.4: the stored headers freshened by a `304`: every field the 304 carries replaces the stored one,
 * except those §3.2 keeps out (Content-Length and framing, hop-by-hop fields, Set-Cookie); the others stay.
 */
export function freshenHeaders (stored: StoredHeaders, notModified: Headers): StoredHeaders {
  const updated: StoredHeaders = { ...stored }
  for (const name in notModified) {
    const value = notModified[name]
    if (value === undefined || NOT_UPDATED.has(name)) continue
    updated[name] = Array.isArray(value) ? value.map(String) : String(value)
  }
  return updated
}

/**
 * RFC 9110 §13.1.3: whether an `If-Modified-Since` date lets the cache answer `304` for a stored response: its
 * `Last-Modified` is not later. Only consulted when the request has no `If-None-Match` (§13.2.2).
 */
export function notModifiedSince (ifModifiedSince: string, lastModified: string | string[] | undefined): boolean {
  if (typeof lastModified !== 'string') return false
  const since = parseHttpDate(ifModifiedSince)
  const modified = parseHttpDate(lastModified)
  return since !== undefined && modified !== undefined && modified <= since
}
