// Answers a stored full response gives besides itself: `304` for an If-Modified-Since it satisfies, and byte
// ranges (`206` / `416`) cut from its body. A 206 is never stored; ranges are always cut from a full 200.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { byteRange, ifRangeMatches } from '../http/range.ts'
import { notModifiedSince } from '../http/validation.ts'
import type { Body } from '../options.ts'

/**
 * Whether the request needs more than the stored response as it is: an If-Modified-Since or a Range. Hits that do
 * not take the general path, where `sendPartial` answers them.
 */
export function wantsPartial (request: FastifyRequest): boolean {
  const headers = request.headers
  return headers.range !== undefined || headers['if-modified-since'] !== undefined
}

/**
 * Answer a hit (headers already on the reply) with a 304 for a satisfied If-Modified-Since (only without
 * If-None-Match, RFC 9110 §13.2.2), or with the requested byte range of a 200 GET (RFC 9110 §14). Returns whether
 * it sent the reply; when it did not, the whole body is the answer.
 */
export function sendPartial (request: FastifyRequest, reply: FastifyReply, body: Body): boolean {
  const headers = request.headers
  const since = headers['if-modified-since']
  if (since !== undefined && headers['if-none-match'] === undefined &&
    notModifiedSince(since, reply.getHeader('last-modified') as string | undefined)) {
    reply.code(304)
    reply.removeHeader('content-type')
    reply.send()
    return true
  }
  const part = cut(request, reply, body)
  if (part === undefined) return false
  reply.code(part.status)
  reply.header('content-range', part.contentRange)
  if (part.status === 416) reply.removeHeader('content-type')
  reply.send(part.bytes)
  return true
}

/** The byte range a GET asks of a 200 body (If-Range permitting), or `undefined` when the whole body is the answer. */
function cut (request: FastifyRequest, reply: FastifyReply, body: Body) {
  const { range, 'if-range': ifRange } = request.headers
  if (typeof range !== 'string' || request.method !== 'GET' || reply.statusCode !== 200) return undefined
  if (typeof ifRange === 'string' && !ifRangeMatches(ifRange, reply.getHeader('etag') as string | undefined,
    reply.getHeader('last-modified') as string | undefined)) return undefined
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  const answer = byteRange(range, bytes.length)
  if (answer.status === 200) return undefined
  const part = answer.status === 416 ? Buffer.alloc(0) : bytes.subarray(answer.start, answer.end + 1)
  return { status: answer.status, contentRange: answer.contentRange, bytes: part }
}

/**
 * On a miss whose handler answered a Range request with the full 200: the part the client asked for (the full
 * body is what was stored). Returns what to send.
 */
export function partOfMiss (request: FastifyRequest, reply: FastifyReply, body: unknown): unknown {
  if (request.headers.range === undefined || (typeof body !== 'string' && !Buffer.isBuffer(body))) return body
  const part = cut(request, reply, body)
  if (part === undefined) return body
  reply.code(part.status)
  reply.header('content-range', part.contentRange)
  return part.bytes
}
