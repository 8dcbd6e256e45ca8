import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import fastifyRedis from '@fastify/redis'
import Fastify, { type FastifyInstance } from 'fastify'
import fancyCache from '../index.ts'
import { shardOf } from '../lib/stores/redis/codec.ts'
import { RedisServer } from './helpers/redis-server.ts'

const STORE_TIMEOUT = 100
const HANDLER_MS = 10

let server: RedisServer
let namespaces = 0
const apps: FastifyInstance[] = []

before(async () => {
  server = await RedisServer.start(['--enable-debug-command', 'yes'])
})

after(async () => {
  await Promise.all(apps.map((app) => app.close().catch(() => {})))
  await server?.stop()
})

/** An app on the test Redis with a slow-ish handler, and the warnings it logged. */
async function faultyApp () {
  const warnings: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      const line = JSON.parse(chunk.toString()) as { level: number, msg: string }
      if (line.level === 40) warnings.push(line.msg)
      done()
    }
  })
  const app = Fastify({ logger: { level: 'warn', stream } })
  apps.push(app)
  await app.register(fastifyRedis, { host: '127.0.0.1', port: server.port })
  // The test kills Redis on purpose: its connection errors are expected (the plugin logs one warning per outage).
  app.redis.on('error', () => {})
  const namespace = `faults-${++namespaces}`
  await app.register(fancyCache, { store: 'redis', namespace, storeTimeout: STORE_TIMEOUT, rememberAllUrls: true })
  let runs = 0
  app.get('/p/:n', { config: { fancyCache: true } }, async (request) => {
    runs++
    await sleep(HANDLER_MS)
    return `page ${(request.params as { n: string }).n}`
  })
  await app.ready()
  return { app, warnings, namespace, runs: () => runs }
}

interface Outcome { status: number, ms: number, cache: string }

/** Requests from `workers` concurrent loops until `stop` resolves. */
async function load (app: FastifyInstance, stop: Promise<unknown>, workers = 8): Promise<Outcome[]> {
  const state = { done: false }
  stop.then(() => { state.done = true }, () => { state.done = true })
  const outcomes: Outcome[] = []
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; !state.done; i++) {
      const started = performance.now()
      const response = await app.inject(`/p/${(w * 7 + i) % 20}`)
      outcomes.push({ status: response.statusCode, ms: performance.now() - started, cache: String(response.headers['cache-status']) })
      await sleep(5)
    }
  }))
  return outcomes
}

async function untilHit (app: FastifyInstance, url: string, withinMs: number): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < withinMs) {
    if (String((await app.inject(url)).headers['cache-status']).includes('hit')) return Date.now() - started
    await sleep(100)
  }
  return -1
}

test('kill -9 of Redis during requests: every request answered within 2 s; hits again within 10 s of the restart', { timeout: 60_000 }, async (t) => {
  const { app, warnings } = await faultyApp()
  for (let n = 0; n < 20; n++) await app.inject(`/p/${n}`)
  const outcomes = await load(app, (async () => {
    await sleep(500)
    await server.kill()
    await sleep(2500)
  })())
  const failed = outcomes.filter((o) => o.status !== 200)
  const slowest = Math.max(...outcomes.map((o) => o.ms))
  const bypassed = outcomes.filter((o) => o.cache.includes('detail=store-error')).length
  t.diagnostic(`${outcomes.length} requests during the outage, ${failed.length} failed, ${bypassed} served uncached, slowest ${slowest.toFixed(0)} ms`)
  assert.equal(failed.length, 0)
  assert.ok(slowest < 2000, `slowest request took ${slowest} ms`)
  assert.ok(bypassed > 0, 'requests were served by their handlers while Redis was down')
  assert.equal(warnings.filter((w) => w.includes('store failing')).length, 1, 'one warning per outage')

  await server.restart()
  const back = await untilHit(app, '/p/1', 10_000)
  t.diagnostic(`hits again ${back} ms after the restart`)
  assert.ok(back >= 0, 'caching resumed within 10 s')
})

test('DEBUG SLEEP 2 on Redis: requests answer within the bound of a miss\'s store calls plus the handler\'s time', { timeout: 60_000 }, async (t) => {
  const { app, warnings } = await faultyApp()
  for (let n = 0; n < 20; n++) await app.inject(`/p/${n}`)
  const sleeping = server.cli('DEBUG', 'SLEEP', '2')
  await sleep(50)
  const outcomes = await load(app, sleep(1500))
  await sleeping
  const slowest = Math.max(...outcomes.map((o) => o.ms))
  t.diagnostic(`${outcomes.length} requests while Redis slept, slowest ${slowest.toFixed(0)} ms`)
  assert.ok(outcomes.every((o) => o.status === 200))
  // The documented bound (three store calls of at most storeTimeout, then the handler), with room for a busy machine.
  assert.ok(slowest < 3 * STORE_TIMEOUT + HANDLER_MS + 2000, `slowest request took ${slowest} ms`)
  assert.equal(warnings.filter((w) => w.includes('store failing')).length, 1)
  assert.ok(await untilHit(app, '/p/3', 10_000) >= 0, 'caching resumed')
})

test('garbage under a cache key is a miss, never a crash, and the page is stored again', async () => {
  const { app, runs, namespace } = await faultyApp()
  await app.inject('/p/1')
  await app.inject('/p/2')
  const keys = new Map<string, string>()
  for await (const entry of app.fancyCache.findUrls()) keys.set(entry.url, entry.key)
  const group = (url: string) => `${namespace}:{${shardOf(keys.get(url)!)}}:e:${keys.get(url)!}`
  await app.redis.set(group('/p/1'), 'written by someone else')
  await app.redis.hset(group('/p/2'), '=', Buffer.from([0, 1, 2, 255]))
  const before = runs()
  for (const url of ['/p/1', '/p/2']) {
    const response = await app.inject(url)
    assert.equal(response.statusCode, 200)
    assert.equal(response.body, `page ${url.slice(3)}`)
    assert.equal(response.headers['cache-status'], 'fancy-cache; fwd=miss; stored')
    assert.match(String((await app.inject(url)).headers['cache-status']), /hit/)
  }
  assert.equal(runs(), before + 2)
})

test('clear() deletes only this namespace: foreign keys survive', async () => {
  const { app, namespace } = await faultyApp()
  await app.inject('/p/1')
  await app.redis.set('foreign', 'kept')
  await app.redis.hset(`${namespace}x:{1}:e:k`, 'v', '')
  await app.redis.set(`other:{${namespace}}`, 'kept')
  await app.fancyCache.clear()
  assert.equal(await app.redis.get('foreign'), 'kept')
  assert.equal(await app.redis.exists(`${namespace}x:{1}:e:k`), 1)
  assert.equal(await app.redis.get(`other:{${namespace}}`), 'kept')
  assert.equal((await app.inject('/p/1')).headers['cache-status'], 'fancy-cache; fwd=miss; stored')
})

test('CLIENT PAUSE WRITE on Redis: hits go on while writes wait, and no request waits past its bound', { timeout: 60_000 }, async (t) => {
  const { app } = await faultyApp()
  for (let n = 0; n < 20; n++) await app.inject(`/p/${n}`)
  await server.cli('CLIENT', 'PAUSE', '1500', 'WRITE')
  const outcomes = await load(app, sleep(1000))
  const hits = outcomes.filter((o) => o.cache.includes('hit')).length
  const slowest = Math.max(...outcomes.map((o) => o.ms))
  t.diagnostic(`${outcomes.length} requests while writes were paused: ${hits} hits, slowest ${slowest.toFixed(0)} ms`)
  assert.ok(outcomes.every((o) => o.status === 200))
  assert.equal(hits, outcomes.length, 'every stored page is still a hit')
  assert.ok(slowest < 3 * STORE_TIMEOUT + HANDLER_MS + 2000, `slowest request took ${slowest} ms`)
})
