import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryStore } from '../lib/stores/memory.ts'
import { makeEntry, storeConformance } from '../lib/stores/conformance.ts'

storeConformance('memory store', async () => new MemoryStore())

test('memory store: never holds more than maxEntries, evicting the least recently used', async () => {
  const store = new MemoryStore({ maxEntries: 3 })
  const meta = { vary: [], epoch: await store.epoch() }
  await store.set('a', '', makeEntry('a'), meta)
  await store.set('b', '', makeEntry('b'), meta)
  await store.set('c', '', makeEntry('c'), meta)
  await store.get('a', '')
  await store.set('d', '', makeEntry('d'), meta)
  assert.equal((await store.summary()).entries, 3)
  assert.equal(await store.get('b', ''), undefined, 'b was least recently used')
  assert.ok((await store.get('a', ''))?.entry)
  assert.ok((await store.get('d', ''))?.entry)
})

test('memory store: never holds more than maxBytes, counting headers too', async () => {
  const store = new MemoryStore({ maxBytes: 10_000 })
  const meta = { vary: [], epoch: await store.epoch() }
  for (let i = 0; i < 100; i++) {
    await store.set(`k${i}`, '', makeEntry('x'.repeat(900)), meta)
    assert.ok((await store.summary()).bytes <= 10_000)
  }
  const { entries, bytes } = await store.summary()
  assert.ok(entries >= 5 && entries < 11, `entries ${entries}`)
  assert.ok(bytes > 900 * entries, 'bytes count more than bodies')
  assert.ok((await store.get('k99', ''))?.entry, 'the newest entry is kept')
})

test('memory store: an entry larger than maxBytes is not stored', async () => {
  const store = new MemoryStore({ maxBytes: 1000 })
  assert.equal(await store.set('big', '', makeEntry('x'.repeat(2000)), { vary: [], epoch: 0 }), false)
  assert.equal(await store.get('big', ''), undefined)
})

test('memory store: a scan survives concurrent hits reordering the LRU', async () => {
  const store = new MemoryStore()
  const meta = { vary: [], epoch: 0 }
  for (let i = 0; i < 30; i++) await store.set(`k${i}`, '', makeEntry('x'), { ...meta, url: `/${i}` })
  const seen: string[] = []
  let cursor = '0'
  do {
    const page = await store.scan(cursor, 7)
    for (const e of page.entries) {
      seen.push(e.url)
      await store.get(e.key, '')
    }
    cursor = page.cursor
  } while (cursor !== '0')
  assert.equal(seen.length, 30)
  assert.equal(new Set(seen).size, 30)
})

test('memory store: an unknown scan cursor is a clear error', async () => {
  await assert.rejects(new MemoryStore().scan('12345', 10), { code: 'FANCY_CACHE_ERR_INVALID_ARGUMENT' })
})

test('memory store: stats stay bounded by maxEntries, and the totals follow what is kept', async () => {
  const store = new MemoryStore({ maxEntries: 3 })
  for (const key of ['a', 'b', 'c', 'd']) {
    await store.count(key, 'misses')
    await store.count(key, 'hits')
  }
  assert.equal(await store.statsOf('a'), null, 'the oldest counters are forgotten')
  assert.deepEqual(await store.statsOf('d'), { hits: 1, misses: 1 })
  const { hits, misses } = await store.summary()
  assert.deepEqual({ hits, misses }, { hits: 3, misses: 3 })
})
