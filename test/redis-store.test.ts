import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { makeEntry, storeConformance } from '../lib/stores/conformance.ts'
import { shardOf } from '../lib/stores/redis-codec.ts'
import { RedisStore } from '../lib/stores/redis.ts'
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
  assert.equal(await store.set('k1', '', makeEntry('mine'), { vary: [], epoch: await store.epoch() }), true)
  assert.equal((await store.get('k1', ''))?.entry?.body.toString(), 'mine')
})

test('redis store: clear() leaves keys outside the namespace alone', async () => {
  const store = await makeStore()
  const client = await connect()
  await client.set('foreign', 'keep me')
  await client.set(`${store.namespace}-other:{x}:e`, 'keep me too')
  await client.set(`${store.namespace}:plain`, 'and me')
  await store.set('a', '', makeEntry('a'), { vary: [], epoch: await store.epoch(), url: '/a', tags: ['t'] })
  await store.count('a', 'hits')
  await store.clear()
  assert.equal(await client.get('foreign'), 'keep me')
  assert.equal(await client.get(`${store.namespace}-other:{x}:e`), 'keep me too')
  assert.equal(await client.get(`${store.namespace}:plain`), 'and me')
  assert.equal(await store.get('a', ''), undefined)
})
