import type { FastifyReply, FastifyRequest } from 'fastify'

// Headers that describe one connection, not the response (RFC 9110 §7.6.1), plus those the cache sets per reply.
const NOT_STORED = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'set-cookie', 'content-length', 'age', 'cache-status', 'date'
])
const REWRITE_HEADERS = ['x-original-url', 'x-rewrite-url', 'x-http-method-override']
const UNCACHEABLE_DIRECTIVE = /(?:^|,)\s*(?:private|no-store|no-cache)\s*(?:[=,]|$)/i

/**
 * Why a request must neither read nor fill the cache, or `undefined` when it may. Authorization is decided by the
 * caller, since a keyPrefix takes that decision over.
 */
export function requestBypass (request: FastifyRequest, bypassCookies: string[]): string | undefined {
  const headers = request.headers
  const length = headers['content-length']
  if ((length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined) return 'request-body'
  for (const name of REWRITE_HEADERS) if (headers[name] !== undefined) return 'rewrite-header'
  if (bypassCookies.length > 0 && headers.cookie !== undefined && hasCookie(headers.cookie, bypassCookies)) {
    return 'cookie'
  }
  return undefined
}

function hasCookie (header: string, names: string[]): boolean {
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (names.includes((eq === -1 ? pair : pair.slice(0, eq)).trim())) return true
  }
  return false
}

/** Whether a response may be stored: the headers part of SPEC §4 (status, body size and ttl are checked apart). */
export function storableHeaders (reply: FastifyReply): boolean {
  if (reply.hasHeader('set-cookie')) return false
  const cacheControl = reply.getHeader('cache-control')
  if (cacheControl !== undefined && UNCACHEABLE_DIRECTIVE.test(String(cacheControl))) return false
  return true
}

/** The response headers to store: everything but hop-by-hop and per-reply ones, names lower-case. */
export function headersToStore (reply: FastifyReply): Record<string, string | string[]> {
  const stored: Record<string, string | string[]> = {}
  const headers = reply.getHeaders()
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || NOT_STORED.has(name)) continue
    stored[name] = Array.isArray(value) ? value.map(String) : String(value)
  }
  return stored
}

/** Django's patch_response_headers: max-age is the smaller of the response's own and the ttl; Expires to match. */
export function cacheHeaders (reply: FastifyReply, ttl: number, now: number): void {
  const existing = reply.getHeader('cache-control')
  let maxAge = ttl
  let directives = existing === undefined ? '' : String(existing)
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(directives)
  if (match !== null) {
    maxAge = Math.min(Number(match[1]), ttl)
    directives = directives.replace(/max-age\s*=\s*"?\d+"?/i, `max-age=${maxAge}`)
  } else {
    directives = directives.trim() === '' ? `max-age=${maxAge}` : `${directives}, max-age=${maxAge}`
  }
  reply.header('cache-control', directives)
  if (!reply.hasHeader('expires')) reply.header('expires', httpDate(Math.floor(now / 1000) + maxAge))
}

// Formatting a date costs more than the rest of the miss path's header work: reuse the last one within its second.
let lastSecond = -1
let lastDate = ''

/** An HTTP date for a time in whole seconds since the epoch. */
function httpDate (second: number): string {
  if (second !== lastSecond) {
    lastSecond = second
    lastDate = new Date(second * 1000).toUTCString()
  }
  return lastDate
}

/** Whether an If-None-Match value matches an ETag, with the weak comparison of RFC 9110 §13.1.2. */
export function etagMatches (ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch.trim() === '*') return true
  const bare = etag.startsWith('W/') ? etag.slice(2) : etag
  for (const candidate of ifNoneMatch.split(',')) {
    const tag = candidate.trim()
    if ((tag.startsWith('W/') ? tag.slice(2) : tag) === bare) return true
  }
  return false
}

const TEXTUAL = /^(?:text\/|application\/(?:[\w.+-]*\+)?(?:json|xml|javascript|ecmascript)\b)/i

/** Bodies of textual content types are handed to the post-processing functions as strings. */
export function isTextual (contentType: unknown): boolean {
  return typeof contentType === 'string' && TEXTUAL.test(contentType)
}
