import assert from 'node:assert/strict'
import { channel } from 'node:diagnostics_channel'
import { test } from 'node:test'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import fancyCache, { MemoryStore, type FancyCacheOptions } from '../index.ts'
import { RedisServer } from './helpers/redis-server.ts'

/** An app with three cached routes (one never storable) and one plain route. */
async function metricsApp (options: FancyCacheOptions = { metrics: true }) {
  const app = Fastify()
  await app.register(fancyCache, options)
  app.get('/a', { config: { fancyCache: true } }, async () => 'a')
  app.get('/items/:id', { config: { fancyCache: true } }, async (request) => `item ${(request.params as { id: string }).id}`)
  app.get('/nostore', { config: { fancyCache: true } }, async (_request, reply) => reply.header('cache-control', 'no-store').send('x'))
  app.get('/plain', async () => 'plain')
  return app
}

async function traffic (app: Awaited<ReturnType<typeof metricsApp>>) {
  for (const url of ['/a', '/a', '/a', '/items/1', '/items/2', '/items/1', '/nostore', '/nostore', '/plain', '/plain']) {
    assert.equal((await app.inject(url)).statusCode, 200, url)
  }
  // A request with credentials and no keyPrefix on the route is never served from the cache.
  await app.inject({ url: '/a', headers: { authorization: 'Bearer x' } })
}

/** Every sample of a scrape: `name{labels}` → value. */
function samples (text: string): Map<string, number> {
  const map = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    map.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return map
}

async function scrape (app: Awaited<ReturnType<typeof metricsApp>>, url = '/fancy-cache/metrics') {
  const response = await app.inject(url)
  assert.equal(response.statusCode, 200, response.body)
  assert.equal(response.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  return { text: response.body, values: samples(response.body) }
}

test('after known traffic /metrics counts requests per route pattern and outcome exactly', async () => {
  const app = await metricsApp()
  await traffic(app)
  const { text, values } = await scrape(app)
  const requests = (route: string, outcome: string) => values.get(`fancy_cache_requests_total{route="${route}",outcome="${outcome}"}`)
  assert.equal(requests('/a', 'stored'), 1)
  assert.equal(requests('/a', 'hit'), 2)
  assert.equal(requests('/a', 'bypass'), 1)
  assert.equal(requests('/a', 'miss'), 0)
  assert.equal(requests('/items/:id', 'stored'), 2)
  assert.equal(requests('/items/:id', 'hit'), 1)
  assert.equal(requests('/nostore', 'miss'), 2)
  assert.equal(requests('/nostore', 'stale'), 0)
  assert.equal(requests('/nostore', 'store_error'), 0)
  // The route label is the pattern: no raw URL, and the uncached route has no series.
  assert.doesNotMatch(text, /\/items\/1|\/plain/)
  assert.match(text, /# TYPE fancy_cache_requests_total counter/)
  assert.equal(values.get('fancy_cache_entries'), 3)
  assert.ok(values.get('fancy_cache_bytes')! > 0)
  assert.equal(values.get('fancy_cache_store_up'), 1)
  assert.equal(values.get('fancy_cache_circuit_open'), 0)
  for (const kind of ['urls', 'tags', 'key', 'clear', 'write']) assert.equal(values.get(`fancy_cache_purges_total{kind="${kind}"}`), 0)
  assert.equal(values.get('fancy_cache_purged_entries_total'), 0)
  await app.close()
})

test('the response time histogram has one observation per request, by outcome, in cumulative buckets', async () => {
  const app = await metricsApp()
  await traffic(app)
  const { text, values } = await scrape(app)
  assert.match(text, /# TYPE fancy_cache_response_seconds histogram/)
  const expected: Record<string, number> = { hit: 3, stored: 3, miss: 2, bypass: 1, stale: 0, store_error: 0 }
  for (const [outcome, count] of Object.entries(expected)) {
    assert.equal(values.get(`fancy_cache_response_seconds_count{outcome="${outcome}"}`), count, outcome)
    assert.equal(values.get(`fancy_cache_response_seconds_bucket{outcome="${outcome}",le="+Inf"}`), count, outcome)
    const buckets = [...values].filter(([name]) => name.startsWith(`fancy_cache_response_seconds_bucket{outcome="${outcome}",`)).map(([, v]) => v)
    assert.deepEqual(buckets, [...buckets].sort((x, y) => x - y), `${outcome} buckets are cumulative`)
  }
  assert.ok(values.get('fancy_cache_response_seconds_sum{outcome="hit"}')! > 0)
  await app.close()
})

test('a cacheable route declared but never requested is listed with zeros', async () => {
  const app = await metricsApp()
  const { values } = await scrape(app)
  assert.equal(values.get('fancy_cache_requests_total{route="/items/:id",outcome="hit"}'), 0)
  assert.equal(values.get('fancy_cache_requests_total{route="/a",outcome="stored"}'), 0)
  await app.close()
})

test('purges published on the purge channel are counted by kind, with the entries they covered', async () => {
  const app = await metricsApp()
  await app.ready()
  const purges = channel('fastify-fancy-cache:purge')
  purges.publish({ kind: 'urls', soft: false, count: 2, urls: ['/a*'] })
  purges.publish({ kind: 'tags', soft: true, count: 5, tags: ['t'] })
  purges.publish({ kind: 'urls', soft: false, count: 0, urls: ['/none'] })
  const { values } = await scrape(app)
  assert.equal(values.get('fancy_cache_purges_total{kind="urls"}'), 2)
  assert.equal(values.get('fancy_cache_purges_total{kind="tags"}'), 1)
  assert.equal(values.get('fancy_cache_purges_total{kind="key"}'), 0)
  assert.equal(values.get('fancy_cache_purged_entries_total'), 7)
  await app.close()
})

test('two apps in one process count only their own traffic, and a closed app stops listening', async () => {
  const one = await metricsApp()
  const two = await metricsApp()
  await traffic(one)
  const { values } = await scrape(two)
  assert.equal(values.get('fancy_cache_requests_total{route="/a",outcome="hit"}'), 0)
  assert.equal(values.get('fancy_cache_response_seconds_count{outcome="hit"}'), 0)
  assert.equal((await scrape(one)).values.get('fancy_cache_requests_total{route="/a",outcome="hit"}'), 2)
  await one.close()
  await two.close()
  assert.equal(channel('fastify-fancy-cache').hasSubscribers, false)
  assert.equal(channel('fastify-fancy-cache:purge').hasSubscribers, false)
})

test('metrics follow the admin page\'s access rules: loopback only, or authorize', async () => {
  const app = await metricsApp({ metrics: true })
  assert.equal((await app.inject({ url: '/fancy-cache/metrics', remoteAddress: '203.0.113.9' })).statusCode, 403)
  assert.equal((await app.inject({ url: '/fancy-cache/metrics', headers: { 'x-forwarded-for': '203.0.113.9' } })).statusCode, 403)
  assert.equal((await app.inject({ url: '/fancy-cache/metrics', headers: { host: 'rebind.attacker.example' } })).statusCode, 403)
  const authorized = await metricsApp({ admin: { authorize: (request) => request.headers.authorization === 'Bearer scrape' }, metrics: true })
  assert.equal((await authorized.inject({ url: '/fancy-cache/metrics', remoteAddress: '203.0.113.9' })).statusCode, 403)
  const response = await authorized.inject({ url: '/fancy-cache/metrics', remoteAddress: '203.0.113.9', headers: { authorization: 'Bearer scrape' } })
  assert.equal(response.statusCode, 200)
  assert.match(response.body, /fancy_cache_store_up 1/)
  await app.close()
  await authorized.close()
})

test('metrics at their own prefix without the admin page, and under the admin prefix with it', async () => {
  const alone = await metricsApp({ metrics: { prefix: '/ops' } })
  assert.equal((await alone.inject('/ops/metrics')).statusCode, 200)
  assert.equal((await alone.inject('/fancy-cache')).statusCode, 404, 'no admin page')
  const both = await metricsApp({ admin: { prefix: '/cache-admin' }, metrics: { prefix: '/ops' } })
  assert.equal((await both.inject('/ops/metrics')).statusCode, 200)
  assert.equal((await both.inject('/cache-admin/metrics')).statusCode, 200)
  const adminOnly = await metricsApp({ admin: true })
  assert.match((await scrape(adminOnly)).text, /fancy_cache_requests_total/)
  for (const app of [alone, both, adminOnly]) await app.close()
})

test('a prom-client Registry receives the same metrics, and loses them when the app closes', async () => {
  const registry = new Registry()
  const app = await metricsApp({ metrics: { registry } })
  await traffic(app)
  const text = await registry.metrics()
  assert.match(text, /^fancy_cache_requests_total\{route="\/a",outcome="hit"\} 2$/m)
  assert.match(text, /^fancy_cache_response_seconds_bucket\{outcome="hit",le="\+Inf"\} 3$/m)
  assert.match(text, /^fancy_cache_entries 3$/m)
  assert.deepEqual(samples(text), (await scrape(app)).values)
  await app.close()
  assert.equal(registry.getSingleMetric('fancy_cache_requests_total'), undefined)
})

test('bad metrics options fail at start-up naming the field', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [5, /metrics: true, false or/],
    [{ prefix: 'ops' }, /metrics\.prefix: a path/],
    [{ registry: {} }, /metrics\.registry: a prom-client Registry/],
    [{ authorize: 'yes' }, /metrics\.authorize: a function/],
    [{ path: '/x' }, /unknown option "metrics\.path"/]
  ]
  for (const [metrics, message] of cases) {
    const app = Fastify()
    app.register(fancyCache, { metrics } as FancyCacheOptions)
    await assert.rejects(async () => { await app.ready() }, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'FANCY_CACHE_ERR_INVALID_OPTION')
      assert.match(err.message, message)
      return true
    }, JSON.stringify(metrics))
  }
})

test('purges through fastify.fancyCache are counted by kind, soft or hard, with the entries they covered', async () => {
  const app = await metricsApp({ metrics: true, rememberAllUrls: true })
  await traffic(app)
  assert.equal(await app.fancyCache.purgeUrls('/items/*'), 2)
  await app.fancyCache.purgeUrls('/nothing-here')
  await app.fancyCache.purgeUrls('/a', { soft: true })
  await app.fancyCache.clear()
  const { values } = await scrape(app)
  assert.equal(values.get('fancy_cache_purges_total{kind="urls"}'), 3)
  assert.equal(values.get('fancy_cache_purges_total{kind="clear"}'), 1)
  // Two items, nothing, /a softly (it stays, stale), then clear() removed the one entry left.
  assert.equal(values.get('fancy_cache_purged_entries_total'), 2 + 0 + 1 + 1)
  assert.equal(values.get('fancy_cache_entries'), 0)
  await app.close()
})

test('a failing store shows as down, and the circuit breaker as open', async () => {
  class DownStore extends MemoryStore {
    override async get (): Promise<never> { throw new Error('down') }
    override async summary (): Promise<never> { throw new Error('down') }
  }
  const app = await metricsApp({ metrics: true, store: new DownStore() })
  for (let i = 0; i < 5; i++) assert.equal((await app.inject('/a')).statusCode, 200)
  const { values } = await scrape(app)
  assert.equal(values.get('fancy_cache_store_up'), 0)
  assert.equal(values.get('fancy_cache_circuit_open'), 1)
  assert.equal(values.get('fancy_cache_entries'), undefined, 'no gauge the store could not give')
  assert.ok(values.get('fancy_cache_requests_total{route="/a",outcome="store_error"}')! >= 1)
  await app.close()
})

test('with Redis and an L1, the L1\'s hits and misses are counted and the store is up', async () => {
  const redis = await RedisServer.start()
  const client = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  const app = await metricsApp({ metrics: true, store: 'redis', redis: client, namespace: 'metrics-l1', l1: true })
  try {
    for (let i = 0; i < 4; i++) await app.inject('/a')
    const { values } = await scrape(app)
    const l1 = app.fancyCache.health().l1!
    assert.ok(l1.hits > 0)
    assert.equal(values.get('fancy_cache_l1_hits_total'), l1.hits)
    assert.equal(values.get('fancy_cache_l1_misses_total'), l1.misses)
    assert.equal(values.get('fancy_cache_requests_total{route="/a",outcome="hit"}'), 3)
    assert.equal(values.get('fancy_cache_store_up'), 1)
    assert.equal(values.get('fancy_cache_entries'), 1)
  } finally {
    await app.close()
    client.disconnect()
    await redis.stop()
  }
})

test('metrics.authorize lets a scraper in at its own prefix; at the admin prefix it would be ambiguous, so it fails at start-up', async () => {
  const scraper = (request: { headers: Record<string, unknown> }) => request.headers.authorization === 'Bearer prometheus'
  const app = await metricsApp({ admin: true, metrics: { prefix: '/ops', authorize: scraper } })
  const remote = { remoteAddress: '198.51.100.7', headers: { authorization: 'Bearer prometheus' } }
  assert.equal((await app.inject({ url: '/ops/metrics', ...remote })).statusCode, 200)
  assert.equal((await app.inject({ url: '/fancy-cache/metrics', ...remote })).statusCode, 403, 'the admin page keeps its own rule')
  assert.equal((await app.inject({ url: '/ops/metrics', remoteAddress: '198.51.100.7' })).statusCode, 403)
  await app.close()
  const clash = Fastify()
  clash.register(fancyCache, { admin: true, metrics: { authorize: scraper } })
  await assert.rejects(async () => { await clash.ready() }, /metrics\.authorize: at the admin page's prefix the metrics follow admin\.authorize/)
})

test('two apps given one prom-client Registry: the second fails at start-up saying what to do', async () => {
  const registry = new Registry()
  const one = await metricsApp({ metrics: { registry } })
  const two = Fastify()
  two.register(fancyCache, { metrics: { registry } })
  await assert.rejects(async () => { await two.ready() }, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'FANCY_CACHE_ERR_INVALID_OPTION')
    assert.match(err.message, /metrics\.registry: .*already been registered.*a Registry of its own/)
    return true
  })
  assert.match(await registry.metrics(), /fancy_cache_requests_total\{route="\/a",outcome="hit"\} 0/, 'the first app\'s metrics stay')
  await one.close()
})
