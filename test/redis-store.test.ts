import assert from 'node:assert/strict'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { after, before, test } from 'node:test'
import fastifyRedis from '@fastify/redis'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import fancyCache, { type FancyCacheOptions } from '../index.ts'
import { makeEntry, storeConformance } from '../lib/stores/conformance.ts'
import { KeyLayout, shardOf } from '../lib/stores/redis/codec.ts'
import { RedisStore } from '../lib/stores/redis/store.ts'
import type { Store } from '../lib/stores/store.ts'
import { RedisServer } from './helpers/redis-server.ts'

let server: RedisServer
const clients: Redis[] = []
let namespaces = 0

before(async () => {
  server = await RedisServer.start()
})

after(async () => {
  for (const client of clients) client.disconnect()
  await server?.stop()
})

async function connect (): Promise<Redis> {
  const client = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 })
  clients.push(client)
  await client.connect()
  return client
}

/** A store on the shared server, in a namespace of its own so that tests never see each other's keys. */
async function makeStore (l1 = false): Promise<RedisStore> {
  return new RedisStore({ client: await connect(), namespace: `test-${++namespaces}`, l1: l1 ? {} : false })
}

async function ready (store: RedisStore): Promise<RedisStore> {
  // L1 serves only once subscribed; wait for it so the L1 tests exercise it.
  for (let i = 0; i < 100 && !store.l1Active; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return store
}

const teardown = async (store: Store) => { await store.close?.() }

storeConformance('redis store', () => makeStore(), { teardown })
storeConformance('redis store with l1', async () => ready(await makeStore(true)), { teardown })

test('redis store: a value someone else wrote under a cache key is a miss, and the next set replaces it', async () => {
  const store = await makeStore()
  const client = await connect()
  await client.set(`${store.namespace}:{${shardOf('k1')}}:e:k1`, 'not a hash')
  assert.equal(await store.get('k1', ''), undefined)
  await client.hset(`${store.namespace}:{${shardOf('k2')}}:e:k2`, 'v', '', '=', 'garbage')
  assert.equal((await store.get('k2', ''))?.entry, undefined)
  await client.hset(`${store.namespace}:{${shardOf('k3')}}:e:k3`, 'v', 'not a header name!', '=', 'garbage')
  assert.equal(await store.get('k3', ''), undefined)
  assert.equal(await store.set('k1', '', makeEntry('mine'), { vary: [], epoch: await store.epoch(), maxVariants: 64 }), true)
  assert.equal((await store.get('k1', ''))?.entry?.body.toString(), 'mine')
})

test('redis store: clear() leaves keys outside the namespace alone', async () => {
  const store = await makeStore()
  const client = await connect()
  await client.set('foreign', 'keep me')
  await client.set(`${store.namespace}-other:{x}:e`, 'keep me too')
  await client.set(`${store.namespace}:plain`, 'and me')
  await store.set('a', '', makeEntry('a'), { vary: [], epoch: await store.epoch(), maxVariants: 64, url: '/a', tags: ['t'] })
  await store.count('a', 'hits')
  await store.clear()
  assert.equal(await client.get('foreign'), 'keep me')
  assert.equal(await client.get(`${store.namespace}-other:{x}:e`), 'keep me too')
  assert.equal(await client.get(`${store.namespace}:plain`), 'and me')
  assert.equal(await store.get('a', ''), undefined)
})

async function redisApp (options: FancyCacheOptions = {}) {
  const app = Fastify()
  await app.register(fastifyRedis, { host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 1 })
  await app.register(fancyCache, { store: 'redis', namespace: `app-${++namespaces}`, rememberAllUrls: true, rememberStatsAllUrls: true, ...options })
  let runs = 0
  app.get('/*', { config: { fancyCache: true } }, async (request) => `${request.url} run ${++runs}`)
  return { app, runs: () => runs }
}

async function found (app: FastifyInstance, patterns?: string | string[], options?: { purge?: boolean }) {
  const all = []
  for await (const entry of app.fancyCache.findUrls(patterns, options)) all.push(entry)
  return all.sort((a, b) => a.url < b.url ? -1 : 1)
}

test('plugin on redis (@fastify/redis): a miss is stored, the next request is a hit without the handler', async (t) => {
  const { app, runs } = await redisApp()
  t.after(() => app.close())
  const first = await app.inject('/page?b=2&a=1')
  assert.equal(first.headers['cache-status'], 'fancy-cache; fwd=miss; stored')
  const second = await app.inject('/page?a=1&b=2')
  assert.match(String(second.headers['cache-status']), /^fancy-cache; hit; ttl=\d+$/)
  assert.equal(second.body, first.body)
  assert.equal(runs(), 1)
})

test('plugin on redis: findUrls lists remembered URLs with stats, and purge makes them misses', async (t) => {
  const { app, runs } = await redisApp()
  t.after(() => app.close())
  for (const url of ['/page1.html', '/page2.html', '/page2.html?a=1', '/other']) await app.inject(url)
  await app.inject('/page1.html')
  const all = await found(app)
  assert.deepEqual(all.map((e) => e.url), ['/other', '/page1.html', '/page2.html', '/page2.html?a=1'])
  assert.deepEqual(all.find((e) => e.url === '/page1.html')?.stats, { hits: 1, misses: 1 })
  assert.deepEqual((await found(app, '/page2.html*', { purge: true })).map((e) => e.url), ['/page2.html', '/page2.html?a=1'])
  assert.deepEqual((await found(app)).map((e) => e.url), ['/other', '/page1.html'])
  const before = runs()
  assert.equal((await app.inject('/page2.html')).headers['cache-status'], 'fancy-cache; fwd=miss; stored')
  assert.equal(runs(), before + 1)
  assert.equal(await app.fancyCache.purgeUrls('/other'), 1)
  assert.equal(await app.fancyCache.purgeKey('nope'), false)
})

test('plugin on redis: stats survive a purge and regeneration; totals; clear resets them', async (t) => {
  const { app } = await redisApp()
  t.after(() => app.close())
  for (let i = 0; i < 5; i++) {
    await app.inject('/regenerated')
    await app.fancyCache.purgeUrls('/regenerated')
  }
  await app.inject('/regenerated')
  await app.inject('/regenerated')
  assert.deepEqual((await found(app))[0]?.stats, { hits: 1, misses: 6 })
  await Promise.all(Array.from({ length: 100 }, () => app.inject('/regenerated')))
  const totals = await app.fancyCache.stats()
  assert.equal(totals.entries, 1)
  assert.equal(totals.hits, 101)
  assert.equal(totals.misses, 6)
  assert.ok(totals.bytes > 0)
  await app.fancyCache.clear()
  assert.deepEqual(await app.fancyCache.stats(), { entries: 0, bytes: 0, hits: 0, misses: 0 })
  assert.deepEqual(await found(app), [])
})

test('plugin on redis: purgeTags removes exactly the tagged pages', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyRedis, { host: '127.0.0.1', port: server.port })
  await app.register(fancyCache, { store: 'redis', namespace: `app-${++namespaces}` })
  app.get('/post/:id', { config: { fancyCache: { tags: (request) => [`post:${(request.params as { id: string }).id}`, 'posts'] } } },
    async (request) => `post ${(request.params as { id: string }).id} at ${Date.now()}`)
  await app.inject('/post/1')
  await app.inject('/post/2')
  assert.equal(await app.fancyCache.purgeTags('post:1'), 1)
  assert.equal((await app.inject('/post/1')).headers['cache-status'], 'fancy-cache; fwd=miss; stored')
  assert.match(String((await app.inject('/post/2')).headers['cache-status']), /hit/)
  assert.equal(await app.fancyCache.purgeTags(['posts']), 2)
})

test('plugin on redis: the `redis` option takes a client, and closing the app leaves it open', async () => {
  const client = await connect()
  const app = Fastify()
  await app.register(fancyCache, { store: 'redis', redis: client, namespace: `app-${++namespaces}`, l1: true })
  app.get('/', { config: { fancyCache: true } }, async () => 'home')
  await app.inject('/')
  assert.match(String((await app.inject('/')).headers['cache-status']), /hit/)
  await app.close()
  assert.equal(client.status, 'ready')
  assert.equal(await client.ping(), 'PONG')
})

test('redis store: a client with a keyPrefix is refused with a clear error', async () => {
  const client = new Redis({ port: server.port, lazyConnect: true, keyPrefix: 'app:' })
  assert.throws(() => new RedisStore({ client }), /keyPrefix cannot be used.*namespace/)
})

test('redis store: findUrls streams 1,000,000 remembered URLs with flat memory', { timeout: 180_000 }, async (t) => {
  const client = await connect()
  const store = new RedisStore({ client, namespace: 'million' })
  const layout = new KeyLayout('million')
  const total = 1_000_000
  const now = Date.now()
  const seedStarted = performance.now()
  // Seeded in bulk as the store's own index records (docs/redis.md, key layout): a million Lua sets would take
  // minutes on a small CI machine, and the walk reads only these records.
  for (let start = 0; start < total; start += 50_000) {
    const shards = new Map<number, string[]>()
    for (let i = start; i < start + 50_000; i++) {
      const key = `article-${i}`
      const shard = shardOf(key)
      let records = shards.get(shard)
      if (records === undefined) shards.set(shard, records = [])
      records.push(key, `${now} ${now + 3_600_000} ${now + 3_600_000} 300 1 ${i % 3} 1 ${now} /articles/${i}?page=${i % 7}`)
    }
    const pipeline = client.pipeline()
    for (const [shard, records] of shards) pipeline.hset(layout.index(shard), ...records)
    await pipeline.exec()
  }
  const seedSeconds = (performance.now() - seedStarted) / 1000
  const app = Fastify()
  t.after(async () => {
    await store.clear()
    await app.close()
  })
  await app.register(fancyCache, { store })
  // Retained memory, measured after a full collection (heapUsed alone also counts garbage not yet collected).
  v8.setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const retained = () => {
    gc()
    return process.memoryUsage().heapUsed
  }
  let early = 0
  let late = 0
  let rssPeak = process.memoryUsage().rss
  const walk = async (pattern?: string) => {
    const started = performance.now()
    let count = 0
    let hits = 0
    for await (const entry of app.fancyCache.findUrls(pattern)) {
      hits += entry.stats?.hits ?? 0
      if (++count % 50_000 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss)
      if (pattern === undefined && count === 100_000) early = retained()
      if (pattern === undefined && count === 900_000) late = retained()
    }
    return { count, hits, seconds: (performance.now() - started) / 1000 }
  }
  const all = await walk()
  assert.equal(all.count, total)
  assert.equal(all.hits, 999_999)
  const matching = await walk('/articles/12*')
  assert.equal(matching.count, 11_111)
  const growth = late - early
  t.diagnostic(`seeded in ${seedSeconds.toFixed(1)} s; walked ${total} URLs in ${all.seconds.toFixed(2)} s ` +
    `(${Math.round(total / all.seconds)} URLs/s), pattern walk ${matching.seconds.toFixed(2)} s ` +
    `(${Math.round(total / matching.seconds)} URLs/s); retained heap ${(early / 2 ** 20).toFixed(1)} MiB after 100,000 URLs, ` +
    `${(late / 2 ** 20).toFixed(1)} MiB after 900,000; peak RSS ${(rssPeak / 2 ** 20).toFixed(0)} MiB`)
  // Walking 800,000 more URLs must not keep anything of them: a page at a time, whatever the total.
  assert.ok(growth < 8 * 2 ** 20, `retained heap grew by ${growth} bytes between 100,000 and 900,000 URLs`)
})
