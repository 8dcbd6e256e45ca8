// Child process of the scale run: seed N remembered URLs through the store directly, then walk them with the
// public findUrls and report URLs/s and RSS to the parent. Arguments: <memory|redis> <N> [redis port].
import { hash } from 'node:crypto'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import fancyCache, { MemoryStore, type CacheEntry, type Store } from '../index.ts'
import { emptyFindUrls, type FindUrlsResult } from './scale.ts'

const PATTERN = '/articles/12*'
const SAMPLE_EVERY = 10_000

function entry (now: number): CacheEntry {
  return {
    status: 200,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: Buffer.from('<p>remembered</p>'),
    etag: '"bench"',
    storedAt: now,
    expiresAt: now + 3_600_000,
    staleUntil: now + 3_600_000
  }
}

const urlOf = (i: number) => `/articles/${i}?page=${i % 7}`

async function seed (store: Store, urls: number, concurrency: number): Promise<void> {
  const epoch = await store.epoch()
  const now = Date.now()
  for (let start = 0; start < urls; start += concurrency) {
    const batch: Promise<boolean>[] = []
    for (let i = start; i < Math.min(urls, start + concurrency); i++) {
      const url = urlOf(i)
      batch.push(store.set(hash('sha256', url, 'base64url'), '', entry(now), { vary: [], epoch, url, maxVariants: 1 }))
    }
    await Promise.all(batch)
  }
}

async function main () {
  const [kind, count, port] = process.argv.slice(2) as ['memory' | 'redis', string, string]
  const urls = Number(count)
  const result: FindUrlsResult = { ...emptyFindUrls(kind, null), urls, pattern: PATTERN }
  const why = (err: unknown) => err instanceof Error ? err.message.slice(0, 300) : String(err)
  let store: Store
  let redis: Redis | undefined
  if (kind === 'memory') {
    store = new MemoryStore({ maxEntries: urls, maxBytes: 2 ** 40 })
  } else {
    redis = new Redis({ host: '127.0.0.1', port: Number(port), maxRetriesPerRequest: 1 })
    const { RedisStore } = await import('../lib/stores/redis/store.ts')
    store = new RedisStore({ client: redis, namespace: 'bench-find-urls' })
  }
  const app = Fastify({ logger: false })
  try {
    try {
      await app.register(fancyCache, { store })
      await app.ready()
    } catch (err) {
      result.skipped = `the plugin refused the store: ${why(err)}`
      return result
    }
    const seedStarted = performance.now()
    try {
      await seed(store, urls, kind === 'memory' ? 1 : 1000)
    } catch (err) {
      result.skipped = `seeding through the store failed: ${why(err)}`
      return result
    }
    result.seedSeconds = (performance.now() - seedStarted) / 1000
    globalThis.gc?.()
    const before = process.memoryUsage()
    result.rssBeforeWalk = result.rssPeakWalk = before.rss
    result.heapBeforeWalk = result.heapPeakWalk = before.heapUsed
    const walkStarted = performance.now()
    let walked = 0
    for await (const found of app.fancyCache.findUrls()) {
      if (found.url === '') throw new Error('empty URL')
      if (++walked % SAMPLE_EVERY === 0) {
        const memory = process.memoryUsage()
        result.rssPeakWalk = Math.max(result.rssPeakWalk, memory.rss)
        result.heapPeakWalk = Math.max(result.heapPeakWalk, memory.heapUsed)
      }
    }
    result.walkSeconds = (performance.now() - walkStarted) / 1000
    if (walked !== urls) throw new Error(`findUrls yielded ${walked} URLs, ${urls} were seeded`)
    result.urlsPerSecond = walked / result.walkSeconds
    const patternStarted = performance.now()
    for await (const found of app.fancyCache.findUrls(PATTERN)) if (found.url !== '') result.matched++
    result.patternSeconds = (performance.now() - patternStarted) / 1000
    return result
  } finally {
    if (kind === 'redis') await store.clear().catch(() => {})
    await app.close()
    await redis?.quit()
  }
}

main().then((result) => {
  process.send!(result, () => process.exit(0))
}, (err: unknown) => {
  console.error(err)
  process.exit(1)
})
