import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import Fastify from 'fastify'
import { Redis, type RedisOptions } from 'ioredis'
import fancyCache from '../index.ts'
import { FAILED, StoreGuard } from '../lib/guard.ts'
import { shardOf } from '../lib/stores/redis/codec.ts'
import { RedisStore } from '../lib/stores/redis/store.ts'
import { eventually, sleep } from './helpers/app.ts'
import { RedisServer } from './helpers/redis-server.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'

const STORE_TIMEOUT = 100
const HANDLER_MS = 20
/** What docs/redis.md states for one miss: three store calls of at most storeTimeout each, then the handler. */
const MISS_BOUND = 3 * STORE_TIMEOUT + HANDLER_MS
/** Room for a busy CI machine on top of a documented bound. */
const SLACK = 2000

const cleanups: Array<() => Promise<void> | void> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const silent = { warn () {}, info () {}, error () {}, debug () {}, fatal () {}, trace () {}, child () { return silent }, level: 'silent', silent () {} }

/** A private Redis behind a misbehaving proxy, a client through the proxy and one straight to Redis. */
async function setup (clientOptions: RedisOptions = {}) {
  const server = await RedisServer.start()
  const proxy = await TcpProxy.start(server.port)
  const client = new Redis({ port: proxy.port, host: '127.0.0.1', maxRetriesPerRequest: 1, ...clientOptions })
  client.on('error', () => {})
  const direct = new Redis({ port: server.port, host: '127.0.0.1' })
  cleanups.push(async () => {
    client.disconnect()
    direct.disconnect()
    await proxy.close()
    await server.stop()
  })
  return { server, proxy, client, direct }
}

async function app (client: Redis, namespace: string) {
  const app = Fastify()
  cleanups.push(() => app.close().catch(() => {}))
  await app.register(fancyCache, { store: 'redis', redis: client, namespace, storeTimeout: STORE_TIMEOUT })
  let runs = 0
  app.get('/p/:n', { config: { fancyCache: true } }, async (request) => {
    runs++
    await sleep(HANDLER_MS)
    return `page ${(request.params as { n: string }).n}`
  })
  await app.ready()
  return { app, runs: () => runs }
}

async function timed<T> (work: Promise<T>): Promise<{ ms: number, value: T | undefined, error: unknown }> {
  const started = performance.now()
  try {
    const value = await work
    return { ms: performance.now() - started, value, error: undefined }
  } catch (error) {
    return { ms: performance.now() - started, value: undefined, error }
  }
}

test('redis store: a lock granted after its call timed out is released, and only ours is', async () => {
  const { proxy, client, direct } = await setup()
  const store = new RedisStore({ client, namespace: 'late-lock' })
  await store.init()
  const other = new RedisStore({ client: direct, namespace: 'late-lock' })
  const guard = new StoreGuard(STORE_TIMEOUT, silent as never)
  const lockKey = `late-lock:{${shardOf('k')}}:l:k:v`
  proxy.delayMs = 150
  const released: boolean[] = []
  const taken = await guard.call(() => store.lock('k', 'v', 5000), {
    write: true,
    late: (granted) => { if (granted) store.unlock('k', 'v').then(() => released.push(true), () => {}) }
  })
  assert.equal(taken, FAILED, 'the lock call timed out')
  await eventually(() => released.length === 1, 3000)
  assert.equal(await direct.exists(lockKey), 0, 'the late lock was released')
  // A lock held by another process is never released by ours.
  proxy.delayMs = 0
  assert.equal(await other.lock('k', 'v', 5000), true)
  await store.unlock('k', 'v')
  assert.equal(await direct.exists(lockKey), 1)
})

test('latency above storeTimeout during misses leaves no lock behind: once healthy, no request waits', { timeout: 60_000 }, async (t) => {
  const { proxy, client, direct } = await setup()
  const { app: a } = await app(client, 'jitter')
  proxy.delayMs = 80
  const during = await Promise.all(Array.from({ length: 60 }, (_, i) => timed(a.inject(`/p/${i % 30}`))))
  assert.ok(during.every((r) => r.value?.statusCode === 200))
  proxy.delayMs = 0
  // Late replies arrive, and late locks are released, within a round trip of the network healing.
  await sleep(500)
  let cursor = '0'
  let locks = 0
  do {
    const [next, found] = await direct.scan(cursor, 'MATCH', 'jitter:{*}:l:*', 'COUNT', 1000)
    cursor = next
    locks += found.length
  } while (cursor !== '0')
  const healed = await Promise.all(Array.from({ length: 30 }, (_, i) => timed(a.inject(`/p/${i}`))))
  const slowest = Math.max(...healed.map((r) => r.ms))
  t.diagnostic(`slowest request during the latency ${Math.max(...during.map((r) => r.ms)).toFixed(0)} ms; ` +
    `after it: ${locks} locks left, slowest request ${slowest.toFixed(0)} ms`)
  assert.equal(locks, 0)
  assert.ok(healed.every((r) => r.value?.statusCode === 200))
  assert.ok(slowest < MISS_BOUND + SLACK, `a request took ${slowest} ms once the network was healthy`)
})

test('a black-holed connection: every request and every API call is answered within its bound', { timeout: 60_000 }, async (t) => {
  const { proxy, client } = await setup()
  const { app: a } = await app(client, 'blackhole')
  for (let n = 0; n < 10; n++) await a.inject(`/p/${n}`)
  proxy.silenceConnections()
  const requests = await Promise.all(Array.from({ length: 30 }, (_, i) => timed(a.inject(`/p/${i % 15}`))))
  const slowest = Math.max(...requests.map((r) => r.ms))
  assert.ok(requests.every((r) => r.value?.statusCode === 200), 'served by the handler')
  assert.ok(slowest < MISS_BOUND + SLACK, `a request took ${slowest} ms`)
  const stats = await timed(a.fancyCache.stats())
  const purge = await timed(a.fancyCache.purgeUrls('/p/*'))
  t.diagnostic(`client still "${client.status}"; slowest request ${slowest.toFixed(0)} ms; stats() ${stats.error === undefined ? 'answered' : 'rejected'} ` +
    `after ${stats.ms.toFixed(0)} ms, purgeUrls after ${purge.ms.toFixed(0)} ms`)
  assert.ok(stats.error !== undefined && stats.ms < 2000 + SLACK, `stats() took ${stats.ms} ms`)
  assert.ok(purge.error !== undefined && purge.ms < 2000 + SLACK, `purgeUrls() took ${purge.ms} ms`)
})

test('a black-holed connection with socketTimeout: ioredis reconnects and hits come back', { timeout: 60_000 }, async (t) => {
  const { proxy, client } = await setup({ socketTimeout: 1000 })
  const { app: a, runs } = await app(client, 'blackhole-timeout')
  await a.inject('/p/1')
  proxy.silenceConnections()
  const cut = Date.now()
  let firstHit = -1
  while (Date.now() - cut < 15_000) {
    const response = await a.inject('/p/1')
    assert.equal(response.statusCode, 200)
    if (String(response.headers['cache-status']).includes('hit')) {
      firstHit = Date.now() - cut
      break
    }
    await sleep(50)
  }
  t.diagnostic(`hits back ${firstHit} ms after the connection went silent (socketTimeout 1000); ${runs()} handler runs`)
  assert.ok(firstHit >= 0, 'hits came back within 15 s')
})
