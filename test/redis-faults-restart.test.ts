import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import fancyCache from '../index.ts'
import { makeEntry } from '../lib/stores/conformance.ts'
import { RedisStore } from '../lib/stores/redis/store.ts'
import { eventually, sleep } from './helpers/app.ts'
import { faultFixtures, RedisServer } from './helpers/redis-server.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'

const { servers, clients, apps } = faultFixtures()

async function start (): Promise<RedisServer> {
  const server = await RedisServer.start()
  servers.push(server)
  return server
}

function connect (server: RedisServer): Redis {
  const client = new Redis({ port: server.port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 50 })
  client.on('error', () => {})
  clients.push(client)
  return client
}

async function restartEmpty (server: RedisServer, ...clientsToWait: Redis[]): Promise<void> {
  await server.kill()
  await server.restart()
  await eventually(() => clientsToWait.every((c) => c.status === 'ready'), 10_000)
}

test('redis store: an epoch from before Redis restarted empty is refused, even after as many purges as before', async () => {
  const server = await start()
  const client = connect(server)
  const store = new RedisStore({ client, namespace: 'restart' })
  await store.init()
  await store.delete('x')
  const before = await store.epoch()
  await restartEmpty(server, client)
  await store.delete('x')
  const afterRestart = await store.epoch()
  assert.notEqual(afterRestart, before)
  assert.equal(await store.set('page', '', makeEntry('version 1'), { vary: [], epoch: before, maxVariants: 64 }), false)
  assert.equal(await store.get('page', ''), undefined)
  assert.equal(await store.set('page', '', makeEntry('version 2'), { vary: [], epoch: afterRestart, maxVariants: 64 }), true)
})

test('redis store: a set in flight when Redis dies, re-sent by ioredis to the restarted Redis, is refused', async (t) => {
  const server = await start()
  const proxy = await TcpProxy.start(server.port)
  // ioredis' defaults: commands in flight when the connection drops are sent again after it reconnects.
  const client = new Redis({ port: proxy.port, host: '127.0.0.1', retryStrategy: () => 50 })
  client.on('error', () => {})
  clients.push(client)
  const store = new RedisStore({ client, namespace: 'resent' })
  await store.init()
  const epoch = await store.epoch()
  proxy.blackhole = true
  const setting = store.set('page', '', makeEntry('rendered before the restart'), { vary: [], epoch, maxVariants: 64 })
  setting.catch(() => {})
  await sleep(50)
  await server.kill()
  proxy.drop()
  proxy.blackhole = false
  await server.restart()
  await eventually(() => client.status === 'ready', 10_000)
  const outcome = await setting.then((stored) => stored, () => 'failed')
  t.diagnostic(`the set in flight resolved ${String(outcome)}`)
  assert.equal(outcome, false, 're-sent and refused')
  assert.equal(await store.get('page', ''), undefined)
  await proxy.close()
})

test('a render begun before a Redis restart is not stored: after the purge, no instance serves the old page', { timeout: 60_000 }, async () => {
  const server = await start()
  const namespace = 'restart-app'
  let version = 1
  let runs = 0
  let hold: Promise<void> | undefined
  const make = async (client: Redis) => {
    const app = Fastify()
    apps.push(app)
    await app.register(fancyCache, { store: 'redis', redis: client, namespace, rememberAllUrls: true, storeTimeout: 500 })
    app.get('/page', { config: { fancyCache: 60 } }, async () => {
      const seen = version
      runs++
      if (hold !== undefined) await hold
      return `version ${seen}`
    })
    await app.ready()
    return app
  }
  const [ca, cb] = [connect(server), connect(server)]
  const [a, b] = [await make(ca), await make(cb)]
  assert.equal((await a.inject('/page')).body, 'version 1')
  await a.fancyCache.purgeUrls('/page')

  // B starts rendering version 1 and is held inside its handler, past every store call it makes before it.
  let release!: () => void
  hold = new Promise((resolve) => { release = resolve })
  const rendering = b.inject('/page')
  await eventually(() => runs === 2)
  await restartEmpty(server, ca, cb)
  version = 2
  await a.fancyCache.purgeUrls('/page')
  release()
  assert.equal((await rendering).body, 'version 1')
  hold = undefined
  for (const app of [a, b, a, b]) {
    assert.equal((await app.inject('/page')).body, 'version 2')
  }
})

test('while Redis is down, concurrent misses for one page in one process run the handler once', { timeout: 30_000 }, async () => {
  const server = await start()
  const client = connect(server)
  const app = Fastify()
  apps.push(app)
  await app.register(fancyCache, { store: 'redis', redis: client, namespace: 'stampede', storeTimeout: 100 })
  let runs = 0
  app.get('/slow', { config: { fancyCache: true } }, async () => {
    runs++
    await sleep(300)
    return 'slow page'
  })
  await app.ready()
  await server.kill()
  await eventually(() => client.status !== 'ready')
  const responses = await Promise.all(Array.from({ length: 20 }, () => app.inject('/slow')))
  assert.ok(responses.every((r) => r.statusCode === 200 && r.body === 'slow page'))
  assert.equal(runs, 1)
  await server.restart()
})

test('Redis down when the app starts: it starts, serves uncached, and caches once Redis is up', { timeout: 30_000 }, async () => {
  const server = await start()
  await server.kill()
  const client = connect(server)
  const warned: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { warned.push(JSON.parse(line).msg) } } } })
  apps.push(app)
  await app.register(fancyCache, { store: 'redis', redis: client, namespace: 'late-start' })
  app.get('/page', { config: { fancyCache: true } }, async () => 'page')
  await app.ready()
  assert.ok(warned.some((w) => /not reachable at start-up/.test(w)), warned.join('; '))
  const down = await app.inject('/page')
  assert.equal(down.statusCode, 200)
  assert.equal(down.headers['cache-status'], 'fancy-cache; fwd=bypass; detail=store-error')
  await server.restart()
  await eventually(() => client.status === 'ready', 10_000)
  await eventually(async () => String((await app.inject('/page')).headers['cache-status']).includes('hit'), 10_000)
})
