import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import Fastify from 'fastify'
import { Cluster } from 'ioredis'
import fancyCache from '../index.ts'
import { storeConformance } from '../lib/stores/conformance.ts'
import { RedisStore } from '../lib/stores/redis/store.ts'
import type { Store } from '../lib/stores/store.ts'
import { RedisCluster } from './helpers/redis-server.ts'

let cluster: RedisCluster
const clients: Cluster[] = []
let namespaces = 0

before(async () => {
  cluster = await RedisCluster.start(3)
})

after(async () => {
  for (const client of clients) client.disconnect()
  await cluster?.stop()
})

async function connect (): Promise<Cluster> {
  const client = new Cluster(cluster.nodes, { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 1 } })
  clients.push(client)
  await client.connect()
  return client
}

async function makeStore (l1 = false): Promise<RedisStore> {
  const store = new RedisStore({ client: await connect(), namespace: `cluster-${++namespaces}`, l1: l1 ? {} : false })
  if (l1) {
    for (let i = 0; i < 200 && !store.l1Active; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return store
}

const teardown = async (store: Store) => { await store.close?.() }

storeConformance('redis cluster store', () => makeStore(), { teardown })
storeConformance('redis cluster store with l1', () => makeStore(true), { teardown })

test('on a 3-master cluster: pages are cached, found and purged across slots, and clear empties every master', async (t) => {
  const client = await connect()
  const app = Fastify()
  t.after(() => app.close())
  const namespace = `cluster-app-${++namespaces}`
  // A set on a Cluster takes three round trips; a generous storeTimeout keeps a busy machine from failing them open.
  await app.register(fancyCache, { store: 'redis', redis: client, namespace, rememberAllUrls: true, rememberStatsAllUrls: true, storeTimeout: 2000 })
  let runs = 0
  app.get('/*', { config: { fancyCache: { tags: (request) => [request.url.startsWith('/news') ? 'news' : 'other'] } } },
    async (request) => `${request.url} ${++runs}`)
  const urls = Array.from({ length: 60 }, (_, i) => i % 2 === 0 ? `/news/${i}` : `/page/${i}`)
  for (const url of urls) await app.inject(url)
  for (const url of urls) assert.match(String((await app.inject(url)).headers['cache-status']), /hit/, url)
  assert.equal(runs, 60)

  // The entries are spread over every master, not piled on one slot.
  const perMaster = await Promise.all(client.nodes('master').map(async (node) => {
    let cursor = '0'
    let keys = 0
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', `${namespace}:{*`, 'COUNT', 1000)
      cursor = next
      keys += found.length
    } while (cursor !== '0')
    return keys
  }))
  assert.equal(perMaster.length, 3)
  assert.ok(perMaster.every((keys) => keys > 0), `keys per master: ${perMaster.join(', ')}`)

  const found = []
  for await (const entry of app.fancyCache.findUrls('/news/*')) found.push(entry)
  assert.equal(found.length, 30)
  assert.ok(found.every((entry) => entry.stats?.hits === 1 && entry.stats.misses === 1))
  assert.equal(await app.fancyCache.purgeUrls('/news/1*'), 5)
  assert.equal(await app.fancyCache.purgeTags('other'), 30)
  assert.equal((await app.fancyCache.stats()).entries, 25)
  assert.equal((await app.inject('/page/1')).headers['cache-status'], 'fancy-cache; fwd=miss; stored')
  await app.fancyCache.clear()
  assert.deepEqual(await app.fancyCache.stats(), { entries: 0, bytes: 0, hits: 0, misses: 0 })
  assert.equal((await app.inject('/news/2')).headers['cache-status'], 'fancy-cache; fwd=miss; stored')
})
