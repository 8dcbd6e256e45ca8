import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'

/** Headers every admin response carries: no script at all, no framing, never stored by anyone. */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // `same-origin` rather than `no-referrer`: with no-referrer browsers send `Origin: null` on form posts.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store'
}

/** 127.0.0.0/8 and ::1, also written as IPv4-mapped IPv6 (`::ffff:127.0.0.1`). */
export function isLoopback (address: string | undefined): boolean {
  if (address === undefined) return false
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  return v4.startsWith('127.') || address === '::1'
}

const FORWARDING_HEADERS = ['x-forwarded-for', 'x-real-ip', 'forwarded']

/**
 * Without `authorize`, only a client on this machine gets in. A request relayed by a reverse proxy on this machine
 * also comes from 127.0.0.1, so any forwarding header means the real client is elsewhere: refused (whatever
 * `trustProxy` says). Behind a proxy, decide with `authorize`.
 */
export function isLocalClient (request: FastifyRequest): boolean {
  if (!isLoopback(request.ip) || !isLoopback(request.socket.remoteAddress)) return false
  return !FORWARDING_HEADERS.some((name) => request.headers[name] !== undefined)
}

/** A host as compared for same-origin: lower-case, default ports dropped (`Host: a.example:80` is `a.example`). */
function sameHost (host: string): string {
  return host.toLowerCase().replace(/:(80|443)$/, '')
}

/**
 * Why a state-changing request looks cross-site, or `undefined` when it does not. Browsers send `Sec-Fetch-Site` and
 * `Origin` on POSTs; tools such as curl send neither, and are let through to the token (forms) or the JSON
 * content-type rule (API), which a foreign page cannot satisfy.
 */
export function crossSiteReason (request: FastifyRequest): string | undefined {
  const site = request.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site is ${site}`
  const origin = request.headers.origin
  if (origin === undefined) return undefined
  let host: string
  try {
    host = new URL(origin).host
  } catch {
    return `Origin ${origin} is not a URL`
  }
  // Host only, not scheme: behind a TLS-terminating proxy without trustProxy the app sees http for an https page.
  if (host === '' || sameHost(host) !== sameHost(request.host)) return `Origin ${origin} is not this site`
  return undefined
}

/**
 * Signed, time-limited tokens: `issued.nonce.mac` with an HMAC-SHA256 over the rest. Any instance given the same
 * secret accepts them, so a form rendered by one instance may be posted to another behind a load balancer.
 */
export class Signer {
  readonly #secret: Buffer
  readonly #scope: string
  readonly #maxAgeMs: number

  constructor (secret: string | undefined, scope: string, maxAgeMs: number) {
    this.#secret = secret === undefined ? randomBytes(32) : Buffer.from(secret)
    this.#scope = scope
    this.#maxAgeMs = maxAgeMs
  }

  mac (purpose: string, text: string): string {
    return createHmac('sha256', this.#secret).update(`${this.#scope}\0${purpose}\0${text}`).digest('base64url')
  }

  verifyMac (purpose: string, text: string, mac: string): boolean {
    const expected = Buffer.from(this.mac(purpose, text))
    const given = Buffer.from(mac)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }

  /** A fresh CSRF token. */
  token (now = Date.now()): string {
    const body = `${Math.floor(now / 1000)}.${randomBytes(12).toString('base64url')}`
    return `${body}.${this.mac('csrf', body)}`
  }

  /** Why a CSRF token is refused, or `undefined` when it is good. */
  check (token: unknown, now = Date.now()): string | undefined {
    if (typeof token !== 'string' || token === '') return 'missing CSRF token'
    const parts = token.split('.')
    if (parts.length !== 3) return 'malformed CSRF token'
    const [issued, nonce, mac] = parts as [string, string, string]
    if (!this.verifyMac('csrf', `${issued}.${nonce}`, mac)) return 'invalid CSRF token'
    const age = now - Number(issued) * 1000
    if (!(age < this.#maxAgeMs) || age < -60_000) return 'expired CSRF token: reload the page and try again'
    return undefined
  }
}
