import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import fastifyRedis from '@fastify/redis'
import Fastify, { type FastifyInstance } from 'fastify'
import fancyCache, { type FancyCacheOptions } from '../index.ts'
import { shardOf } from '../lib/stores/redis/codec.ts'
import type { RedisStore } from '../lib/stores/redis/store.ts'
import { eventually } from './helpers/app.ts'
import { RedisServer } from './helpers/redis-server.ts'

let server: RedisServer
let namespaces = 0
const apps: FastifyInstance[] = []

before(async () => {
  server = await RedisServer.start()
})

after(async () => {
  await Promise.all(apps.map((app) => app.close()))
  await server?.stop()
})

/** Two instances of one app (A and B) sharing a Redis and a namespace; `runs` counts handler runs across both. */
async function twoInstances (options: FancyCacheOptions = {}, handlerMs = 0, body?: () => string) {
  const namespace = `instances-${++namespaces}`
  let runs = 0
  const make = async () => {
    const app = Fastify()
    apps.push(app)
    await app.register(fastifyRedis, { host: '127.0.0.1', port: server.port })
    await app.register(fancyCache, { store: 'redis', namespace, rememberAllUrls: true, ...options })
    app.get('/*', { config: { fancyCache: true } }, async (request) => {
      runs++
      if (handlerMs > 0) await sleep(handlerMs)
      return body?.() ?? `${request.url} rendered at ${Date.now()}`
    })
    await app.ready()
    return app
  }
  const [a, b] = [await make(), await make()]
  return { a, b, runs: () => runs, namespace }
}

const status = async (app: FastifyInstance, url: string) => String((await app.inject(url)).headers['cache-status'])

test('a page stored by instance A is a hit on instance B', async () => {
  const { a, b, runs } = await twoInstances()
  const stored = await a.inject('/shared')
  assert.equal(stored.headers['cache-status'], 'fancy-cache; fwd=miss; stored')
  const served = await b.inject('/shared')
  assert.match(String(served.headers['cache-status']), /^fancy-cache; hit/)
  assert.equal(served.body, stored.body)
  assert.equal(runs(), 1)
})

test('a purge on A is seen by B: by URL, by key, and clear', async () => {
  const { a, b, runs } = await twoInstances()
  await a.inject('/one')
  await a.inject('/two')
  await a.inject('/three')
  assert.equal(await a.fancyCache.purgeUrls('/one'), 1)
  assert.equal(await status(b, '/one'), 'fancy-cache; fwd=miss; stored')
  const [two] = await collect(b, '/two')
  assert.equal(await a.fancyCache.purgeKey(two!.key), true)
  assert.equal(await status(b, '/two'), 'fancy-cache; fwd=miss; stored')
  await a.fancyCache.clear()
  assert.equal(await status(b, '/three'), 'fancy-cache; fwd=miss; stored')
  assert.equal(runs(), 6)
})

test('concurrent misses on A and B for one page run the handler once in total', async () => {
  const { a, b, runs } = await twoInstances({}, 300)
  const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).inject('/slow')))
  assert.equal(runs(), 1)
  assert.ok(responses.every((r) => r.statusCode === 200 && r.body === responses[0]!.body))
})

test('when the instance holding the lock dies, the others take over instead of waiting forever', async () => {
  const { a, runs, namespace } = await twoInstances()
  await a.inject('/orphan')
  const [entry] = await collect(a, '/orphan')
  await a.fancyCache.purgeKey(entry!.key)
  // The lock a crashed process left behind while regenerating the page (variant '': the page does not vary): it
  // expires, and a waiter regenerates.
  await a.redis.set(`${namespace}:{${shardOf(entry!.key)}}:l:${entry!.key}:`, 'a dead process', 'PX', 300)
  const response = await a.inject('/orphan')
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['cache-status'], 'fancy-cache; fwd=miss; stored')
  assert.equal(runs(), 2)
})

test('L1: hits are served in process; a purge on A evicts B\'s L1 within 100 ms', async (t) => {
  const { a, b, runs, namespace } = await twoInstances({ l1: true })
  for (const app of [a, b]) {
    const store = app.fancyCache.store as RedisStore
    for (let i = 0; i < 200 && !store.l1Active; i++) await sleep(10)
    assert.ok(store.l1Active, 'L1 subscribed')
  }
  await a.inject('/hot')
  // Let A's announcement of its write reach B first: a read that overlaps an announcement is not kept in L1.
  await sleep(50)
  assert.match(await status(b, '/hot'), /hit/)
  // Overwrite the entry in Redis behind the store's back (no announcement): B keeps serving its L1 copy, which shows
  // that its hits do not go to Redis.
  const [hot] = await collect(a, '/hot')
  await a.redis.set(`${namespace}:{${shardOf(hot!.key)}}:e:${hot!.key}`, 'not an entry')
  assert.match(await status(b, '/hot'), /hit/)
  assert.equal(runs(), 1)

  await a.inject('/hot2')
  await sleep(50)
  assert.match(await status(b, '/hot2'), /hit/)
  const [hot2] = await collect(a, '/hot2')
  await a.fancyCache.purgeKey(hot2!.key)
  const purged = Date.now()
  let latency = -1
  while (Date.now() - purged < 1000) {
    if ((await status(b, '/hot2')).includes('fwd=miss')) {
      latency = Date.now() - purged
      break
    }
    await sleep(2)
  }
  t.diagnostic(`B's L1 dropped the purged page ${latency} ms after the purge on A returned`)
  assert.ok(latency >= 0 && latency <= 100, `evicted after ${latency} ms`)
})

test('L1: a page regenerated on A replaces B\'s L1 copy', async () => {
  const { a, b } = await twoInstances({ l1: true, staleWhileRevalidate: 0 })
  for (const app of [a, b]) {
    const store = app.fancyCache.store as RedisStore
    for (let i = 0; i < 200 && !store.l1Active; i++) await sleep(10)
  }
  const first = await a.inject('/page')
  assert.equal((await b.inject('/page')).body, first.body)
  await a.fancyCache.purgeUrls('/page')
  const second = await a.inject('/page')
  assert.notEqual(second.body, first.body)
  await sleep(50)
  assert.equal((await b.inject('/page')).body, second.body)
})

test('soft purge on A with L1: B answers at once from the old copy, one regeneration in total, then the new page', async () => {
  let version = 1
  const { a, b, runs } = await twoInstances({ l1: true }, 0, () => `version ${version}`)
  for (const app of [a, b]) {
    const store = app.fancyCache.store as RedisStore
    for (let i = 0; i < 200 && !store.l1Active; i++) await sleep(10)
  }
  await a.inject('/soft')
  await sleep(50)
  assert.equal((await b.inject('/soft')).body, 'version 1')
  assert.ok(b.fancyCache.store.peek?.(((await collect(a, '/soft'))[0]!).key, '') !== undefined, 'B holds the page in L1')
  version = 2
  assert.equal(await a.fancyCache.purgeUrls('/soft', { soft: true }), 1)
  // B's L1 learns of the purge through pub/sub, within a few milliseconds (the L1 test above bounds it at 100 ms).
  const purged = Date.now()
  let stale = await b.inject('/soft')
  while (/^fancy-cache; hit; ttl=\d+$/.test(String(stale.headers['cache-status'])) && Date.now() - purged < 100) {
    await sleep(2)
    stale = await b.inject('/soft')
  }
  assert.equal(stale.body, 'version 1')
  assert.match(String(stale.headers['cache-status']), /stale/)
  await eventually(async () => (await a.inject('/soft')).body === 'version 2' && (await b.inject('/soft')).body === 'version 2', 3000)
  assert.equal(runs(), 2)
})

test('invalidateOnWrite with L1: a POST answered 303 on B purges the page on A and B', async () => {
  const namespace = `instances-${++namespaces}`
  let version = 1
  const make = async () => {
    const app = Fastify()
    apps.push(app)
    await app.register(fastifyRedis, { host: '127.0.0.1', port: server.port })
    await app.register(fancyCache, { store: 'redis', namespace, l1: true, invalidateOnWrite: true })
    app.get('/posts/:id', { config: { fancyCache: true } }, async (request) => `post ${(request.params as { id: string }).id} v${version}`)
    app.post('/posts/:id/comments', async (request, reply) => {
      version++
      return reply.code(303).header('location', `/posts/${(request.params as { id: string }).id}`).send()
    })
    await app.ready()
    const store = app.fancyCache.store as RedisStore
    for (let i = 0; i < 200 && !store.l1Active; i++) await sleep(10)
    return app
  }
  const [a, b] = [await make(), await make()]
  assert.equal((await a.inject('/posts/1')).body, 'post 1 v1')
  await sleep(50)
  assert.equal((await b.inject('/posts/1')).body, 'post 1 v1')
  assert.match(await status(b, '/posts/1'), /hit/)
  assert.equal((await b.inject({ method: 'POST', url: '/posts/1/comments' })).statusCode, 303)
  // B purged its own L1 at once; A's learns through pub/sub within the bound of the L1 test above.
  assert.equal((await b.inject('/posts/1')).body, 'post 1 v2')
  await eventually(async () => (await a.inject('/posts/1')).body === 'post 1 v2', 100)
})

async function collect (app: FastifyInstance, pattern: string) {
  const found = []
  for await (const entry of app.fancyCache.findUrls(pattern)) found.push(entry)
  return found
}
