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

/** The Host names a loopback-only admin page answers to, on any port. */
export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]']

/**
 * Headers a proxy adds. A reverse proxy on this machine connects from 127.0.0.1, and nginx's default `proxy_pass`
 * adds none of them, but any one of them means the real client may be elsewhere.
 */
export const FORWARDING_HEADERS = [
  'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'x-client-ip',
  'true-client-ip', 'cf-connecting-ip', 'via'
]

/** 127.0.0.0/8 and ::1, also written as IPv4-mapped IPv6 (`::ffff:127.0.0.1`). */
export function isLoopback (address: string | undefined): boolean {
  if (address === undefined) return false
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  return v4.startsWith('127.') || address === '::1'
}

/** `host[:port]` split, lower-case; `undefined` when it is not a host at all. */
function splitHost (value: string): { name: string, port: string | undefined } | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value.toLowerCase())
  return match === null ? undefined : { name: match[1]!, port: match[2] }
}

/**
 * The hosts a page may be reached under: entries are `name` (any port) or `name:port`. A browser sends the name it
 * resolved in `Host`, so checking it defeats DNS rebinding: an attacker's name pointed at 127.0.0.1 is not listed.
 */
export class HostList {
  readonly #entries: Array<{ name: string, port: string | undefined }>

  constructor (hosts: string[]) {
    this.#entries = hosts.map((host) => {
      const parsed = splitHost(host)
      if (parsed === undefined) throw new TypeError(`not a host name: ${JSON.stringify(host)}`)
      return parsed
    })
  }

  /** Whether `host[:port]` (a Host header, or an Origin's host) is one of the listed hosts. */
  allows (host: string | undefined): boolean {
    if (host === undefined) return false
    const parsed = splitHost(host)
    if (parsed === undefined) return false
    return this.#entries.some((e) => e.name === parsed.name && (e.port === undefined || e.port === parsed.port))
  }
}

/** The Host a request was sent to, as the client wrote it (never the forwarded one, whatever `trustProxy` says). */
export function hostOf (request: FastifyRequest): string | undefined {
  const headers = request.headers
  const host = headers.host ?? headers[':authority']
  return typeof host === 'string' ? host : undefined
}

/**
 * Why a loopback-only page refuses the request, or `undefined` when the client is on this machine: its address (the
 * socket's and the one Fastify reports) is loopback, it names an allowed Host, and no proxy relayed it.
 */
export function notLocalReason (request: FastifyRequest, hosts: HostList): string | undefined {
  if (!isLoopback(request.ip) || !isLoopback(request.socket.remoteAddress)) {
    return 'the cache admin only answers clients on this machine; set admin.authorize to let others in'
  }
  const relayed = FORWARDING_HEADERS.find((name) => request.headers[name] !== undefined)
  if (relayed !== undefined) {
    return `the request came through a proxy (${relayed} header); behind a proxy, set admin.authorize`
  }
  if (!hosts.allows(hostOf(request))) {
    return 'the Host header is not one this page answers to (localhost, 127.0.0.1, [::1] or admin.hosts)'
  }
  return undefined
}

/**
 * Why a state-changing request looks cross-site, or `undefined` when it does not. Browsers send `Sec-Fetch-Site` and
 * `Origin` on POSTs; tools such as curl send neither, and are let through to the token (forms) or the JSON
 * content-type rule (API), which a foreign page cannot satisfy. The Origin must name the request's Host and, when
 * there is a list, an allowed host: a rebinding page's Origin and Host are both the attacker's name.
 */
export function crossSiteReason (request: FastifyRequest, hosts: HostList | undefined): string | undefined {
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
  const same = host !== '' && sameHost(host) === sameHost(hostOf(request) ?? '')
  return same && (hosts === undefined || hosts.allows(host)) ? undefined : `Origin ${origin} is not this site`
}

/** A host as compared for same-origin: lower-case, default ports dropped (`Host: a.example:80` is `a.example`). */
function sameHost (host: string): string {
  return host.toLowerCase().replace(/:(80|443)$/, '')
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
