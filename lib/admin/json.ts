import type { FastifyRequest } from 'fastify'
import { adminBadRequest } from '../errors.ts'
import { urlRow } from '../api.ts'
import { isUserTag, savedMs } from './detail.ts'
import { OUTCOMES } from './metrics.ts'
import { logPurge, runPurge, type PurgeRecord } from './purge.ts'
import { all, bounded, fieldsOf, methodNotAllowed, one, requireContentType, type Scope } from './scope.ts'
import { routeSizesOf } from './sizes.ts'
import { MAX_LIMIT, patternsOf } from './view.ts'

const DEFAULT_LIMIT = 100

function limitOf (request: FastifyRequest): number {
  const text = one(fieldsOf(request.query).limit)
  const limit = text === undefined ? DEFAULT_LIMIT : Number(text)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw adminBadRequest(`limit must be a whole number from 1 to ${MAX_LIMIT}`)
  return limit
}

function stringsOf (value: unknown, what: string): string[] {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) throw adminBadRequest(`${what} must be a string or an array of strings`)
  return bounded(list, what)
}

/** The body of `POST api/purge` as a purge: exactly one of urls, tags, key or all, and optionally `soft`. */
function purgeOf (body: unknown): PurgeRecord {
  const fields = fieldsOf(body)
  const given = ['urls', 'tags', 'key', 'all'].filter((k) => k in fields)
  if (given.length !== 1 || (given[0] === 'all' && fields.all !== true)) {
    throw adminBadRequest('send exactly one of { "urls": [...] }, { "tags": [...] }, { "key": "..." } or { "all": true }, ' +
      'with "soft": true to refresh instead of removing')
  }
  if (fields.soft !== undefined && typeof fields.soft !== 'boolean') throw adminBadRequest('soft must be true or false')
  const soft = fields.soft === true
  if (given[0] === 'urls') return { kind: 'urls', soft, urls: stringsOf(fields.urls, 'urls') }
  if (given[0] === 'tags') return { kind: 'tags', soft, tags: stringsOf(fields.tags, 'tags') }
  if (given[0] === 'key') {
    if (typeof fields.key !== 'string' || fields.key === '') throw adminBadRequest('key must be a cache key')
    return { kind: 'key', soft, key: fields.key }
  }
  if (soft) throw adminBadRequest('"all" purges for good: it takes no "soft"')
  return { kind: 'clear', soft: false }
}

/** `GET api/urls`, `POST api/purge`, `GET api/stats`, `GET api/tags`: the page's data for scripts and the CLI. */
export function jsonRoutes (scope: Scope): void {
  const { app, base, api, collector } = scope

  app.get('/api/urls', async (request) => {
    const query = fieldsOf(request.query)
    const patterns = bounded(all(query.q).flatMap(patternsOf), 'patterns')
    const limit = limitOf(request)
    const page = await api.scanUrls({ urls: patterns, cursor: one(query.cursor) || '0', count: limit })
    return { cursor: page.cursor === '0' ? null : page.cursor, urls: page.entries.map(urlRow), totals: await api.stats() }
  })

  app.post('/api/purge', async (request) => {
    // A browser cannot send this content type cross-site without a CORS preflight, which nothing here answers.
    requireContentType(request, 'application/json')
    const record = purgeOf(request.body)
    const purged = await runPurge(api, record)
    logPurge(request, record, purged)
    return { purged }
  })

  app.get('/api/stats', async () => {
    const [totals, sizes] = await Promise.all([api.stats(), routeSizesOf(scope)])
    const requests = collector.totals()
    return {
      since: new Date(collector.startedAt).toISOString(),
      totals,
      requests: Object.fromEntries(OUTCOMES.map((o) => [o, requests[o]])),
      health: api.health(),
      routes: collector.routes().map((counters) => {
        const size = sizes.sizes.get(counters.route)
        return {
          route: counters.route,
          entries: size?.entries ?? 0,
          bytes: size?.bytes ?? 0,
          hits: counters.hit + counters.stale,
          misses: counters.miss + counters.stored,
          requests: Object.fromEntries(OUTCOMES.map((o) => [o, counters[o]])),
          savedMs: savedMs(counters) ?? null
        }
      }),
      sizesCounted: sizes.partial ?? null
    }
  })

  app.get('/api/tags', async (request) => {
    const query = fieldsOf(request.query)
    const page = await api.scanTags({ cursor: one(query.cursor) || '0', count: limitOf(request) })
    return { cursor: page.cursor === '0' ? null : page.cursor, tags: page.tags.filter(isUserTag) }
  })

  methodNotAllowed(app, base, '/api/urls', ['GET'])
  methodNotAllowed(app, base, '/api/purge', ['POST'])
  methodNotAllowed(app, base, '/api/stats', ['GET'])
  methodNotAllowed(app, base, '/api/tags', ['GET'])
}
