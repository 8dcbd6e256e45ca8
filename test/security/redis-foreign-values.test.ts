import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import Fastify from 'fastify'
import fancyCache from '../../index.ts'
import { KeyLayout, shardOf } from '../../lib/stores/redis/codec.ts'
import { redisForFile } from '../helpers/redis-server.ts'

const redis = redisForFile()

test('foreign values under the index, the purge record and a tag set: pages are cached, listed and purged, one warning', async (t) => {
  const warnings: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue
        const parsed = JSON.parse(line) as { level: number, msg: string }
        if (parsed.level === 40) warnings.push(parsed.msg)
      }
      done()
    }
  })
  const app = Fastify({ logger: { level: 'warn', stream } })
  t.after(() => app.close())
  const namespace = 'foreign'
  await app.register(fancyCache, { store: 'redis', redis: redis.client, namespace, rememberAllUrls: true, rememberStatsAllUrls: true, admin: true })
  let runs = 0
  app.get('/*', { config: { fancyCache: { tags: () => ['all'] } } }, async (request) => `${request.url} ${++runs}`)
  await app.ready()
  await app.inject('/a')
  const keys = new Map<string, string>()
  for await (const entry of app.fancyCache.findUrls()) keys.set(entry.url, entry.key)
  const key = keys.get('/a')!
  // Another program writes plain strings where the store keeps its index shard, its purge record and a tag set.
  await redis.client.set(`${namespace}:{${shardOf(key)}}:i`, 'not a hash')
  await redis.client.set(`${namespace}:{purge}`, 'not a number')
  await redis.client.set(`${namespace}:{epoch}`, 'nonsense')
  await redis.client.set(new KeyLayout(namespace).tag('all'), 'not a set')
  await app.fancyCache.purgeKey(key)

  for (const url of ['/a', '/b']) {
    assert.equal((await app.inject(url)).headers['cache-status'], 'fancy-cache; fwd=miss; stored', url)
    assert.match(String((await app.inject(url)).headers['cache-status']), /^fancy-cache; hit/, url)
  }
  const listed = await app.inject('/fancy-cache/api/urls')
  assert.equal(listed.statusCode, 200)
  assert.equal((await app.inject('/fancy-cache')).statusCode, 200)
  const stats = await app.fancyCache.stats()
  assert.ok(stats.entries >= 1)
  await app.fancyCache.purgeUrls('/*')
  await app.fancyCache.purgeTags('all')
  assert.equal((await app.inject('/b')).headers['cache-status'], 'fancy-cache; fwd=miss; stored')
  const ours = warnings.filter((w) => /did not write/.test(w))
  assert.equal(ours.length, 1, warnings.join('; '))
  assert.equal(warnings.filter((w) => /store failing/.test(w)).length, 0, 'caching never switched off')
})
