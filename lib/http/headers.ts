import type { FastifyReply, FastifyRequest } from 'fastify'

// Headers that describe one connection, not the response (RFC 9110 §7.6.1), plus those the cache sets per reply.
// Date is stored: a hit replays the Date of the response it stores (RFC 9110 §6.6.1), and Age counts from it.
const NOT_STORED = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'set-cookie', 'content-length', 'age', 'cache-status'
])
const REWRITE_HEADERS = ['x-original-url', 'x-rewrite-url', 'x-http-method-override']
const UNCACHEABLE_DIRECTIVE = /(?:^|,)\s*(?:private|no-store|no-cache)\s*(?:[=,]|$)/i

/** Which cookies make a request bypass the cache. */
export interface CookieRule {
  bypass: ((name: string) => boolean) | null
  ignore: ((name: string) => boolean) | null
}

/**
 * Why a request must neither read nor fill the cache, or `undefined` when it may. Authorization is decided by the
 * caller, since a keyPrefix takes that decision over, and so are cookies for the same reason.
 */
export function requestBypass (request: FastifyRequest): string | undefined {
  const headers = request.headers
  const length = headers['content-length']
  if ((length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined) return 'request-body'
  for (const name of REWRITE_HEADERS) if (headers[name] !== undefined) return 'rewrite-header'
  return undefined
}

/** Whether a Cookie header carries a cookie that bypasses the cache: one `bypass` matches and `ignore` does not. */
export function bypassingCookie (header: string | undefined, rule: CookieRule): boolean {
  if (header === undefined || rule.bypass === null) return false
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    const name = (eq === -1 ? pair : pair.slice(0, eq)).trim()
    if (name === '' && eq === -1) continue
    if (rule.bypass(name) && rule.ignore?.(name) !== true) return true
  }
  return false
}

/** Whether response headers allow storing: no Set-Cookie, no private / no-store / no-cache, no `Vary: *`. */
export function storableHeaders (headers: Record<string, unknown>): boolean {
  if (headers['set-cookie'] !== undefined) return false
  const cacheControl = headers['cache-control']
  if (cacheControl !== undefined && UNCACHEABLE_DIRECTIVE.test(String(cacheControl))) return false
  for (const field of ['cdn-cache-control', 'fancy-cache-control']) {
    const targeted = headers[field]
    if (targeted !== undefined && UNCACHEABLE_DIRECTIVE.test(String(targeted))) return false
  }
  const vary = headers.vary
  if (vary !== undefined && /(?:^|,)\s*\*\s*(?:,|$)/.test(String(vary))) return false
  return true
}

/**
 * The response headers to store: everything but hop-by-hop and per-reply ones, and but those the request already
 * had on its reply when the cache first saw it (a request id, rate-limit counters): they belong to that request.
 */
export function headersToStore (reply: FastifyReply, own: string[] | undefined): Record<string, string | string[]> {
  const stored: Record<string, string | string[]> = {}
  const headers = reply.getHeaders()
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || NOT_STORED.has(name) || own?.includes(name) === true) continue
    stored[name] = Array.isArray(value) ? value.map(String) : String(value)
  }
  return stored
}

/**
 * Django's patch_response_headers: max-age is the smaller of the response's own and the ttl; Expires to match.
 * A per-visitor page (`personal`) says `private`, so no shared cache in front stores it.
 */
export function cacheHeaders (reply: FastifyReply, ttl: number, now: number, personal: boolean): void {
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
  if (personal && !/(?:^|,)\s*private\b/i.test(directives)) directives = `private, ${directives}`
  reply.header('cache-control', directives)
  if (!reply.hasHeader('expires')) reply.header('expires', httpDate(Math.floor(now / 1000) + maxAge))
}

// Formatting a date costs more than the rest of the miss path's header work: reuse the last one within its second.
// A miss formats two (its Date and its Expires), so two are kept.
const seconds = [-1, -1]
const dates = ['', '']

/** An HTTP date for a time in whole seconds since the epoch. */
export function httpDate (second: number): string {
  if (seconds[0] === second) return dates[0]!
  if (seconds[1] === second) return dates[1]!
  const slot = seconds[0]! <= seconds[1]! ? 0 : 1
  seconds[slot] = second
  dates[slot] = new Date(second * 1000).toUTCString()
  return dates[slot]!
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
