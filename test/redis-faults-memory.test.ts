import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import Fastify, { LogController } from 'fastify'
import { Redis } from 'ioredis'
import fancyCache from '../index.ts'
import { RedisStore } from '../lib/stores/redis/store.ts'
import { eventually } from './helpers/app.ts'
import { faultFixtures, RedisServer } from './helpers/redis-server.ts'

const { servers, clients, apps } = faultFixtures()

async function start (...args: string[]): Promise<{ server: RedisServer, client: Redis }> {
  const server = await RedisServer.start(args)
  servers.push(server)
  const client = new Redis({ port: server.port, host: '127.0.0.1', maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  clients.push(client)
  return { server, client }
}

/** A pino destination that keeps every line, to count warnings. */
function logLines () {
  const lines: Array<{ level: number, msg: string }> = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line))
      done()
    }
  })
  return { lines, logger: { level: 'info', stream }, warnings: () => lines.filter((l) => l.level === 40) }
}

/** An app whose pages are about 8 KB and carry the current data version, tagged 'pages'. */
async function pagesApp (client: Redis, namespace: string, logger?: object) {
  const app = Fastify({ logger: logger ?? false, logController: new LogController({ disableRequestLogging: true }) })
  apps.push(app)
  await app.register(fancyCache, { store: 'redis', redis: client, namespace, rememberAllUrls: true, storeTimeout: 200 })
  const state = { version: 1, runs: 0 }
  app.get('/p/:n', { config: { fancyCache: { ttl: 600, tags: () => ['pages'] } } }, async (request) => {
    state.runs++
    return `version ${state.version} of ${(request.params as { n: string }).n} ${'x'.repeat(8000)}`
  })
  await app.ready()
  return { app, state }
}

test('an allkeys-* Redis is refused at start-up with a coded error, unless allowEvictingPolicy', async () => {
  const { client } = await start('--maxmemory-policy', 'allkeys-lru')
  const app = Fastify()
  apps.push(app)
  const starting = (async () => {
    await app.register(fancyCache, { store: 'redis', redis: client })
    await app.ready()
  })()
  await assert.rejects(starting, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'FANCY_CACHE_ERR_EVICTING_REDIS')
    assert.match(err.message, /allkeys-lru.*allowEvictingPolicy/)
    return true
  })
  await new RedisStore({ client, namespace: 'allowed', allowEvictingPolicy: true }).init()
})

test('a Redis with CONFIG disabled starts, with one warning that the policy could not be checked', async () => {
  const { client } = await start('--rename-command', 'CONFIG', '')
  const warned: string[] = []
  const store = new RedisStore({ client, namespace: 'no-config', log: { warn: (message) => warned.push(message) } })
  await store.init()
  await store.init()
  assert.equal(warned.length, 1)
  assert.match(warned[0]!, /maxmemory-policy/)
})

test('two apps in the default namespace on one Redis: a warning, once', async () => {
  const { client } = await start()
  const warned: string[] = []
  const log = { warn: (message: string) => warned.push(message) }
  await new RedisStore({ client, app: 'shop', log }).init()
  assert.deepEqual(warned, [])
  await new RedisStore({ client, app: 'shop', log }).init()
  assert.deepEqual(warned, [], 'instances of one app share it silently')
  const blog = new RedisStore({ client, app: 'blog', log })
  await blog.init()
  await blog.init()
  assert.equal(warned.length, 1)
  assert.match(warned[0]!, /default namespace 'fancy-cache' is also used by 'shop'/)
})

test('volatile-lru at maxmemory evicts pages, never what purges walk: after purgeUrls no old page is served', { timeout: 60_000 }, async (t) => {
  const { server, client } = await start('--maxmemory', '3mb', '--maxmemory-policy', 'volatile-lru')
  const { app, state } = await pagesApp(client, 'volatile')
  for (let n = 0; n < 400; n++) assert.equal((await app.inject(`/p/${n}`)).statusCode, 200)
  const evicted = Number(/evicted_keys:(\d+)/.exec(await server.cli('INFO', 'stats'))![1])
  t.diagnostic(`${evicted} keys evicted while storing 400 pages of 8 KB in 3 MB`)
  assert.ok(evicted > 0, 'Redis had to evict')
  state.version = 2
  await app.fancyCache.purgeUrls('/p/*')
  for (let n = 0; n < 400; n++) {
    const body = (await app.inject(`/p/${n}`)).body
    assert.ok(body.startsWith('version 2'), `/p/${n} served ${body.slice(0, 20)} after the purge`)
  }
  state.version = 3
  await app.fancyCache.purgeTags('pages')
  for (let n = 0; n < 400; n++) assert.ok((await app.inject(`/p/${n}`)).body.startsWith('version 3'))
})

test('noeviction at maxmemory: writes fail, hits go on, one warning for the outage; caching resumes', { timeout: 60_000 }, async (t) => {
  const { server, client } = await start('--maxmemory', '2mb', '--maxmemory-policy', 'noeviction')
  const logs = logLines()
  const { app, state } = await pagesApp(client, 'full', logs.logger)
  for (let n = 0; n < 300; n++) await app.inject(`/p/${n}`)
  // What Redis kept is what the next round hits; the rest could not be written.
  const stored: number[] = []
  for (let n = 0; n < 300; n++) {
    if (String((await app.inject(`/p/${n}`)).headers['cache-status']).includes('hit')) stored.push(n)
  }
  assert.ok(stored.length > 10 && stored.length < 250, `${stored.length} of 300 pages stored before Redis was full`)
  const runs = state.runs
  let hits = 0
  for (let round = 0; round < 3; round++) {
    for (const n of stored) if (String((await app.inject(`/p/${n}`)).headers['cache-status']).includes('hit')) hits++
  }
  t.diagnostic(`${stored.length} pages stored before Redis filled up; ${hits} of ${stored.length * 3} requests for them were hits`)
  assert.equal(hits, stored.length * 3, 'every stored page is still a hit')
  assert.equal(state.runs, runs)
  assert.equal(logs.warnings().length, 1, logs.warnings().map((w) => w.msg).join('; '))
  // Purges still work on the full Redis.
  state.version = 2
  assert.equal(await app.fancyCache.purgeUrls(`/p/${stored[0]}`), 1)
  assert.ok((await app.inject(`/p/${stored[0]}`)).body.startsWith('version 2'))

  await server.cli('CONFIG', 'SET', 'maxmemory', '0')
  await eventually(async () => String((await app.inject('/p/299')).headers['cache-status']).includes('hit'), 10_000)
  // The outage ends once the store has been quiet for a moment: an info line, and still the one warning.
  await eventually(async () => {
    await app.inject('/p/1')
    return logs.lines.some((l) => l.level === 30 && /recovered/.test(l.msg))
  }, 10_000)
  assert.equal(logs.warnings().length, 1)
})
