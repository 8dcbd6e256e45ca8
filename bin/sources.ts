/** Where the command line reads from: the Redis store directly, or a running app's admin JSON API. */
import { urlRow, type UrlRow } from '../lib/api.ts'
import type { StoreSummary } from '../lib/stores/store.ts'

/** A bad command line: exit status 2. */
export class UsageError extends Error {}
/** The target failed, could not be reached, or answered something it should not: exit status 1. */
export class TargetError extends Error {}

/** A tag and how many entries carry it. */
export interface TagRow { tag: string, keys: number }

/** What `fancy-cache stats` prints: the store's totals, and with --server the app's per-route counts. */
export interface StatsReport {
  totals: StoreSummary
  /** When the app's counting started (--server only). */
  since?: string
  routes?: Array<{ route: string, entries: number, bytes: number, hits: number, misses: number, savedMs: number | null }>
}

/** What the commands read from: a Redis store, or an app's admin API. */
export interface Source {
  /** Matching rows, page by page; with `purge`, what was listed is purged. */
  urls (patterns: string[], purge: boolean): AsyncIterable<UrlRow[]>
  tags (): AsyncIterable<TagRow[]>
  /** Purge these tags (a hundred at a time); resolves how many entries. */
  purgeTags (tags: string[]): Promise<number>
  stats (): Promise<StatsReport>
  /** Entries purged by `urls(…, true)`. */
  purged: number
  /** The namespace looked in (--redis), for the hint when nothing is found. */
  namespace?: string
  close (): Promise<void>
}

const PAGE = 500
/** Patterns or tags per purge request: the admin API takes at most a hundred. */
const BATCH = 100
/** Most bytes one answer of --server may have. */
export const MAX_BODY = 16 * 1024 * 1024

/**
 * How many pages a walk may take before it is called endless: ten times what the store's entry count needs, at
 * least a thousand, at most a hundred thousand. A server (or store) whose cursor never comes back to the start is
 * stopped with an error instead of listing forever.
 */
export function pageBound (entries: number): number {
  return Math.min(100_000, Math.max(1_000, 10 * Math.ceil((Number.isFinite(entries) ? entries : 0) / PAGE)))
}

interface Page<T> { next: string | undefined, items: T[], entries: number }

async function * walk<T> (what: string, page: (cursor: string) => Promise<Page<T>>): AsyncGenerator<T[]> {
  let cursor = '0'
  for (let pages = 1; ; pages++) {
    const { next, items, entries } = await page(cursor)
    yield items
    if (next === undefined) return
    if (next === cursor) throw new TargetError(`${what}: the cursor did not advance (${JSON.stringify(cursor)}); stopped`)
    if (pages >= pageBound(entries)) throw new TargetError(`${what}: still not finished after ${pages} pages; stopped`)
    cursor = next
  }
}

function causeOf (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  if (err.name === 'TimeoutError') return 'timed out'
  const cause = (err as Error & { cause?: unknown }).cause
  return cause instanceof Error ? cause.message : err.message
}

export { causeOf }

function batches (list: string[]): string[][] {
  const out: string[][] = []
  for (let i = 0; i < list.length; i += BATCH) out.push(list.slice(i, i + BATCH))
  return out
}

/** Read the Redis store directly (no app needed). */
export async function redisSource (url: string, namespace: string, timeout: number): Promise<Source> {
  if (!/^rediss?:\/\//.test(url)) throw new UsageError(`--redis must be a redis:// or rediss:// URL (got ${JSON.stringify(url)})`)
  const [{ Redis }, { RedisStore }, { createApi }] = await Promise.all([
    import('ioredis'), import('../lib/stores/redis/store.ts'), import('../lib/api.ts')
  ])
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeout,
    commandTimeout: timeout,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null
  })
  // The connect promise only says "Connection is closed"; the error event says why (ECONNREFUSED, ETIMEDOUT...).
  let reason: unknown
  client.on('error', (err) => { reason ??= err })
  try {
    await client.connect()
  } catch (err) {
    client.disconnect()
    throw new TargetError(`cannot reach Redis at ${url}: ${causeOf(reason ?? err)}`)
  }
  const store = new RedisStore({ client, namespace })
  const api = createApi(store)
  const entries = async () => (await api.stats()).entries
  const source: Source = {
    purged: 0,
    namespace,
    async * urls (patterns, purge) {
      const total = await entries()
      for await (const rows of walk('the Redis scan', async (cursor) => {
        const page = await api.scanUrls({ urls: patterns, cursor, count: PAGE })
        return { next: page.cursor === '0' ? undefined : page.cursor, items: page.entries, entries: total }
      })) {
        if (purge) for (const entry of rows) if (await api.purgeKey(entry.key)) source.purged++
        yield rows.map(urlRow)
      }
    },
    async * tags () {
      const total = await entries()
      yield * walk('the Redis tag scan', async (cursor) => {
        const page = await api.scanTags({ cursor, count: PAGE })
        return { next: page.cursor === '0' ? undefined : page.cursor, items: page.tags, entries: total }
      })
    },
    async purgeTags (tags) {
      let purged = 0
      for (const batch of batches(tags)) purged += await api.purgeTags(batch)
      return purged
    },
    async stats () {
      return { totals: await api.stats() }
    },
    async close () {
      await client.quit().catch(() => client.disconnect())
    }
  }
  return source
}

function adminBase (server: string): URL {
  let url: URL
  try {
    url = new URL(server)
  } catch {
    throw new UsageError(`--server must be a URL such as http://127.0.0.1:3000/fancy-cache (got ${JSON.stringify(server)})`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--server must be an http or https URL (got ${server})`)
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/fancy-cache'
  url.pathname = url.pathname.replace(/\/+$/, '')
  url.search = ''
  url.hash = ''
  return url
}

function headersOf (values: string[]): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const value of values) {
    const colon = value.indexOf(':')
    if (colon < 1) throw new UsageError(`--header must look like "Name: value" (got ${JSON.stringify(value)})`)
    headers[value.slice(0, colon).trim().toLowerCase()] = value.slice(colon + 1).trim()
  }
  return headers
}

/** The whole body, refusing past `limit` bytes: a server that streams without end is cut off, not buffered. */
async function readLimited (response: Response, limit: number, url: string): Promise<string> {
  const declared = Number(response.headers.get('content-length'))
  if (declared > limit) throw new TargetError(`${url} answered ${declared} bytes, more than the ${limit} a page may have; stopped`)
  const reader = response.body?.getReader()
  if (reader === undefined) return ''
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > limit) {
      await reader.cancel().catch(() => {})
      throw new TargetError(`${url} answered more than ${limit} bytes, more than a page may have; stopped`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Read through a running app's admin JSON API, trusting none of what it answers. */
export function serverSource (server: string, headerValues: string[], timeout: number): Source {
  const base = adminBase(server)
  const headers = headersOf(headerValues)

  /** One exchange, request and whole answer, within `timeout`. */
  async function call<T> (path: string, init: { method?: string, body?: string } = {}): Promise<T> {
    const url = `${base.href}${path}`
    const signal = AbortSignal.timeout(timeout)
    let response: Response
    let text: string
    try {
      response = await fetch(url, {
        method: init.method ?? 'GET',
        body: init.body,
        headers: init.body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        redirect: 'error',
        signal
      })
    } catch (err) {
      throw new TargetError(`cannot reach ${base.href}: ${causeOf(err)}`)
    }
    try {
      text = await readLimited(response, MAX_BODY, url)
    } catch (err) {
      if (err instanceof TargetError) throw err
      throw new TargetError(`${url} did not finish answering: ${signal.aborted ? `timed out after ${timeout} ms` : causeOf(err)}`)
    }
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined
    }
    if (!response.ok) {
      const message = (body as { message?: unknown } | undefined)?.message
      const hint = response.status === 404
        ? ` (is ${base.href} the admin page's URL, and is the admin option on?)`
        : response.status === 403 ? ' (without admin.authorize only clients on the same machine get in; see --header)' : ''
      throw new TargetError(`${url} answered ${response.status}${typeof message === 'string' ? `: ${message}` : ''}${hint}`)
    }
    if (body === undefined || body === null || typeof body !== 'object') {
      throw new TargetError(`${url} did not answer JSON: is ${base.href} a fancy-cache admin page?`)
    }
    return body as T
  }

  const source: Source = {
    purged: 0,
    async * urls (patterns, purge) {
      yield * walk(`${base.href}/api/urls`, async (cursor) => {
        const query = new URLSearchParams({ limit: String(PAGE) })
        for (const pattern of patterns) query.append('q', pattern)
        if (cursor !== '0') query.set('cursor', cursor)
        const page: { cursor?: unknown, urls?: unknown, totals?: { entries?: unknown } } = await call(`/api/urls?${query}`)
        if (!Array.isArray(page.urls)) throw new TargetError(`${base.href}/api/urls did not answer a page of URLs`)
        const next = typeof page.cursor === 'string' ? page.cursor : undefined
        return { next, items: page.urls as UrlRow[], entries: Number(page.totals?.entries ?? 0) }
      })
      if (purge) {
        for (const batch of batches(patterns.length === 0 ? ['*'] : patterns)) {
          const answer: { purged: number } = await call('/api/purge', { method: 'POST', body: JSON.stringify({ urls: batch }) })
          source.purged += answer.purged
        }
      }
    },
    async * tags () {
      yield * walk(`${base.href}/api/tags`, async (cursor) => {
        const query = new URLSearchParams({ limit: String(PAGE) })
        if (cursor !== '0') query.set('cursor', cursor)
        const page: { cursor?: unknown, tags?: unknown } = await call(`/api/tags?${query}`)
        if (!Array.isArray(page.tags)) throw new TargetError(`${base.href}/api/tags did not answer a page of tags`)
        return { next: typeof page.cursor === 'string' ? page.cursor : undefined, items: page.tags as TagRow[], entries: 0 }
      })
    },
    async purgeTags (tags) {
      let purged = 0
      for (const batch of batches(tags)) {
        const answer: { purged: number } = await call('/api/purge', { method: 'POST', body: JSON.stringify({ tags: batch }) })
        purged += answer.purged
      }
      return purged
    },
    async stats () {
      return call<StatsReport>('/api/stats')
    },
    async close () {}
  }
  return source
}
