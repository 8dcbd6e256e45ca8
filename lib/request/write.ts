import type { FastifyReply, FastifyRequest } from 'fastify'
import { publishPurge } from '../events.ts'
import type { Guarded } from '../guard.ts'
import { pathTag } from '../http/key.ts'
import type { Store } from '../stores/store.ts'

/**
 * The paths an unsafe request invalidates (RFC 9111 §4.4): its own, and those of `Location` and
 * `Content-Location` when they point at the same host. Other hosts' URLs are left alone: a response must not be
 * able to purge what another origin serves.
 */
export function writtenPaths (request: FastifyRequest, reply: FastifyReply): string[] {
  const base = `${request.protocol}://${request.host}`
  let origin: URL
  try {
    origin = new URL(base)
  } catch {
    return [request.url.split('?')[0]!]
  }
  const q = request.url.indexOf('?')
  const paths = [q === -1 ? request.url : request.url.slice(0, q)]
  for (const name of ['location', 'content-location']) {
    const value = reply.getHeader(name)
    if (typeof value !== 'string' || value === '') continue
    let target: URL
    try {
      target = new URL(value, base + request.url)
    } catch {
      continue
    }
    if (target.host !== origin.host) continue
    if (!paths.includes(target.pathname)) paths.push(target.pathname)
  }
  return paths
}

/**
 * After a POST, PUT, PATCH or DELETE answered 2xx or 3xx: purge every cached GET of the paths it wrote, whatever
 * their query, protocol or key prefix, through the tag each entry of a path carries. One tag purge per request,
 * before the response goes out, so the redirect that usually follows already misses.
 */
export async function purgeOnWrite (request: FastifyRequest, reply: FastifyReply, store: Store,
  call: <T>(op: () => Promise<T>, write?: boolean) => Promise<Guarded<T>>): Promise<void> {
  const status = reply.statusCode
  if (status < 200 || status >= 400) return
  const paths = writtenPaths(request, reply)
  const purged = await call(() => store.deleteTags(paths.map((path) => pathTag(request.host, path))), true)
  publishPurge({ kind: 'write', soft: false, urls: paths, count: typeof purged === 'number' ? purged : 0, store })
}
