import type { FastifyReply, FastifyRequest } from 'fastify'
import { etagMatches, isTextual } from '../http/headers.ts'
import type { Body } from '../options.ts'
import type { CacheEntry } from '../stores/store.ts'
import { OUTCOMES } from './outcomes.ts'
import { sendPartial } from './partial.ts'
import { OWN_FIELD } from './revalidate.ts'
import type { CachedRoute } from './route.ts'

/** Whole seconds since the entry was stored (its `Age`). */
export function ageOf (entry: CacheEntry, now: number): number {
  return Math.max(0, Math.floor((now - entry.storedAt) / 1000))
}

/** Whole seconds it stays fresh (negative once stale). */
export function ttlOf (entry: CacheEntry, now: number): number {
  return Math.floor((entry.expiresAt - now) / 1000)
}

/**
 * An entry's response head as `writeHead` takes it: name, value, name, value, with Content-Length, then Age and
 * Cache-Status last. Built once per entry; only the last two values change, at most once a second each.
 */
interface Head {
  list: string[]
  /** Until when (ms) the Age and Cache-Status values in `list` hold. */
  until: number
}

const heads = new WeakMap<CacheEntry, Head>()
const HIT = OUTCOMES.hit.status

function headOf (entry: CacheEntry): Head {
  let head = heads.get(entry)
  if (head === undefined) {
    const list: string[] = []
    for (const name in entry.headers) {
      const value = entry.headers[name]!
      if (name === OWN_FIELD) continue
      if (typeof value === 'string') list.push(name, value)
      else for (const one of value) list.push(name, one)
    }
    list.push('content-length', String(entry.body.length), 'age', '', 'cache-status', '')
    head = { list, until: 0 }
    heads.set(entry, head)
  }
  return head
}

function refreshHead (head: Head, entry: CacheEntry, now: number): void {
  const age = ageOf(entry, now)
  const ttl = ttlOf(entry, now)
  const list = head.list
  list[list.length - 3] = String(age)
  list[list.length - 1] = `${HIT}; ttl=${ttl}`
  // The next millisecond at which either whole-second count changes.
  head.until = Math.min(entry.storedAt + (age + 1) * 1000, entry.expiresAt - ttl * 1000 + 1)
}

/**
 * Write a fresh hit straight to the socket: for routes where no other onSend hook would see the reply and no
 * post-processing runs. `onResponse` hooks and request logging still run (they follow the socket, not the reply
 * object). Headers the request already has (`own`) win over stored ones.
 */
export function writeHit (request: FastifyRequest, reply: FastifyReply, entry: CacheEntry, ownPossible: boolean): boolean {
  // Headers set on the raw response would be merged one name at a time, losing repeated ones: leave those to send.
  if (ownPossible && reply.raw.getHeaderNames().length > 0) return false
  const now = Date.now()
  const head = headOf(entry)
  if (now >= head.until) refreshHead(head, entry, now)
  let list = head.list
  if (ownPossible) {
    const own = reply.getHeaders()
    let mine: string[] | undefined
    for (const name in own) {
      const value = own[name]
      if (value === undefined) continue
      mine ??= []
      if (Array.isArray(value)) for (const one of value) mine.push(name, String(one))
      else mine.push(name, String(value))
    }
    if (mine !== undefined) list = mergeHead(mine, list)
  }
  reply.raw.writeHead(entry.status, list)
  if (request.method === 'HEAD') reply.raw.end()
  else reply.raw.end(entry.body)
  return true
}

function mergeHead (mine: string[], stored: string[]): string[] {
  const taken = new Set<string>()
  for (let i = 0; i < mine.length; i += 2) taken.add(mine[i]!)
  for (let i = 0; i < stored.length; i += 2) if (!taken.has(stored[i]!)) mine.push(stored[i]!, stored[i + 1]!)
  return mine
}

/** Put the stored status and headers on the reply (the request's own headers win), with Age and Cache-Status. */
export function replayHeaders (reply: FastifyReply, entry: CacheEntry, detail: string): void {
  const now = Date.now()
  reply.code(entry.status)
  for (const name in entry.headers) if (!reply.hasHeader(name) && name !== OWN_FIELD) reply.header(name, entry.headers[name])
  reply.header('age', String(ageOf(entry, now)))
  reply.header('cache-status', `${HIT}; ttl=${ttlOf(entry, now)}${detail}`)
}

/** A body as the post-processing functions take it. */
export function toBody (body: Buffer, contentType: unknown): Body {
  return isTextual(contentType) ? body.toString('utf8') : body
}

/**
 * `postProcessResponseAlways` over a body about to be sent. When it changes the bytes, the ETag goes: it named the
 * stored bytes, not these; when it leaves them as they were, the ETag stays. The miss and every hit follow this rule.
 */
export async function processAlways (route: CachedRoute, body: Buffer, request: FastifyRequest, reply: FastifyReply): Promise<Body> {
  const processed = await route.postProcessResponseAlways!(toBody(body, reply.getHeader('content-type')), request, reply)
  const same = typeof processed === 'string' ? body.equals(Buffer.from(processed)) : body.equals(processed)
  if (!same) reply.removeHeader('etag')
  return same ? body : processed
}

/** Send a hit through `reply.send`, so every other onSend hook (compression, say) sees it. */
export async function sendHit (request: FastifyRequest, reply: FastifyReply, entry: CacheEntry, route: CachedRoute, detail: string) {
  replayHeaders(reply, entry, detail)
  let body: Body = entry.body
  if (route.postProcessResponseAlways !== undefined) body = await processAlways(route, entry.body, request, reply)
  const ifNoneMatch = request.headers['if-none-match']
  const etag = reply.getHeader('etag')
  if (ifNoneMatch !== undefined && etag !== undefined && etagMatches(ifNoneMatch, String(etag))) {
    reply.code(304)
    reply.removeHeader('content-type')
    reply.send()
    return
  }
  if (sendPartial(request, reply, body)) return
  reply.send(body)
}
