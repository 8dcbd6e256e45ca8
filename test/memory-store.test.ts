import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryStore } from '../lib/stores/memory.ts'
import { makeEntry, meta, scanAll, storeConformance } from '../lib/stores/conformance.ts'

storeConformance('memory store', async () => new MemoryStore())

const body = async (store: MemoryStore, key: string, variant = '') => (await store.get(key, variant))?.entry?.body.toString()

test('memory store: never holds more than maxEntries, evicting the least recently used', async () => {
  const store = new MemoryStore({ maxEntries: 3 })
  const m = meta(await store.epoch())
  await store.set('a', '', makeEntry('a'), m)
  await store.set('b', '', makeEntry('b'), m)
  await store.set('c', '', makeEntry('c'), m)
  await store.get('a', '')
  await store.set('d', '', makeEntry('d'), m)
  assert.equal((await store.summary()).entries, 3)
  assert.equal(await store.get('b', ''), undefined, 'b was least recently used')
  assert.ok((await store.get('a', ''))?.entry)
  assert.ok((await store.get('d', ''))?.entry)
})

test('memory store: eviction takes single variants, least recently used first, whichever key they belong to', async () => {
  const store = new MemoryStore({ maxEntries: 3 })
  const m = meta(await store.epoch(), { vary: ['accept'] })
  await store.set('k', 'html', makeEntry('k html'), m)
  await store.set('k', 'json', makeEntry('k json'), m)
  await store.set('j', 'html', makeEntry('j html'), m)
  await store.get('k', 'html')
  await store.set('n', 'html', makeEntry('n html'), m)
  assert.equal((await store.get('k', 'json'))?.entry, undefined, 'k json was least recently used')
  assert.equal(await body(store, 'k', 'html'), 'k html', 'the key keeps its other variant')
  assert.equal(await body(store, 'j', 'html'), 'j html')
  assert.equal(await body(store, 'n', 'html'), 'n html')
})

test('memory store: the key being written loses its own older variants to the bounds', async () => {
  const store = new MemoryStore({ maxEntries: 3 })
  const m = meta(await store.epoch(), { vary: ['user-agent'], maxVariants: 1000 })
  for (let i = 0; i < 10; i++) await store.set('k', `ua${i}`, makeEntry(`${i}`), m)
  assert.equal((await store.summary()).entries, 3)
  assert.deepEqual([await body(store, 'k', 'ua7'), await body(store, 'k', 'ua8'), await body(store, 'k', 'ua9')], ['7', '8', '9'])
  assert.equal(await store.get('k', 'ua6').then((l) => l?.entry), undefined)
})

test('memory store: maxVariants drops the variant least recently read, not only written', async () => {
  const store = new MemoryStore()
  const m = meta(await store.epoch(), { vary: ['user-agent'], maxVariants: 2 })
  await store.set('k', 'old', makeEntry('old'), m)
  await store.set('k', 'new', makeEntry('new'), m)
  await store.get('k', 'old')
  await store.set('k', 'newest', makeEntry('newest'), m)
  assert.equal(await body(store, 'k', 'old'), 'old', 'read last, so kept')
  assert.equal((await store.get('k', 'new'))?.entry, undefined)
  assert.equal(await body(store, 'k', 'newest'), 'newest')
})

test('memory store: never holds more than maxBytes, counting headers too', async () => {
  const store = new MemoryStore({ maxBytes: 10_000 })
  const m = meta(await store.epoch())
  for (let i = 0; i < 100; i++) {
    await store.set(`k${i}`, '', makeEntry('x'.repeat(900)), m)
    assert.ok((await store.summary()).bytes <= 10_000)
  }
  const { entries, bytes } = await store.summary()
  assert.ok(entries >= 4 && entries < 11, `entries ${entries}`)
  assert.ok(bytes > 900 * entries, 'bytes count more than bodies')
  assert.ok((await store.get('k99', ''))?.entry, 'the newest entry is kept')
})

test('memory store: remembered URLs, tags and stats count toward maxBytes', async () => {
  const store = new MemoryStore()
  const epoch = await store.epoch()
  await store.set('plain', '', makeEntry('x'), meta(epoch))
  const plain = (await store.summary()).bytes
  await store.set('url', '', makeEntry('x'), meta(epoch, { url: `/${'u'.repeat(1000)}` }))
  const withUrl = (await store.summary()).bytes - plain
  assert.ok(withUrl >= plain + 1000, `a remembered URL adds its length (${withUrl} vs ${plain})`)
  const before = (await store.summary()).bytes
  await store.set('tagged', '', makeEntry('x'), meta(epoch, { tags: Array.from({ length: 100 }, (_, i) => `tag-${i}`) }))
  assert.ok((await store.summary()).bytes - before >= plain + 100 * 'tag-00'.length, 'tags add bytes')
  const counted = (await store.summary()).bytes
  await store.count('never-stored', 'misses')
  assert.ok((await store.summary()).bytes > counted, 'a stats record adds bytes')
  await store.clear()
  assert.equal((await store.summary()).bytes, 0)
})

test('memory store: stats records are forgotten, oldest first, to stay within maxBytes, never crowding out entries', async () => {
  const store = new MemoryStore({ maxBytes: 20_000 })
  await store.set('page', '', makeEntry('x'.repeat(5000)), meta(await store.epoch()))
  for (let i = 0; i < 1000; i++) await store.count(`key-${i}`, 'misses')
  assert.ok((await store.summary()).bytes <= 20_000)
  assert.equal(await store.statsOf('key-0'), null)
  assert.deepEqual(await store.statsOf('key-999'), { hits: 0, misses: 1 })
  assert.ok(await store.get('page', '').then((l) => l?.entry), 'the page is still cached')
})

test('memory store: an entry larger than maxBytes is not stored', async () => {
  const store = new MemoryStore({ maxBytes: 1000 })
  assert.equal(await store.set('big', '', makeEntry('x'.repeat(2000)), meta(await store.epoch())), false)
  assert.equal(await store.get('big', ''), undefined)
})

test('memory store: a scan survives concurrent hits reordering the LRU', async () => {
  const store = new MemoryStore()
  const epoch = await store.epoch()
  for (let i = 0; i < 30; i++) await store.set(`k${i}`, '', makeEntry('x'), meta(epoch, { url: `/${i}` }))
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

test('memory store: a scan cursor survives purges and clear, resuming after what it returned', async () => {
  const store = new MemoryStore()
  const epoch = await store.epoch()
  for (let i = 0; i < 20; i++) await store.set(`k${i}`, '', makeEntry('x'), meta(epoch, { url: `/${i}` }))
  const first = await store.scan('0', 5)
  assert.deepEqual(first.entries.map((e) => e.url), ['/0', '/1', '/2', '/3', '/4'])
  for (let i = 0; i < 10; i++) await store.delete(`k${i}`)
  assert.deepEqual((await store.scan(first.cursor, 5)).entries.map((e) => e.url), ['/10', '/11', '/12', '/13', '/14'])
  await store.clear()
  await store.set('again', '', makeEntry('x'), meta(await store.epoch(), { url: '/again' }))
  assert.deepEqual((await store.scan(first.cursor, 5)).entries.map((e) => e.url), ['/again'])
  assert.deepEqual((await scanAll(store, 5)).map((e) => e.url), ['/again'])
})

test('memory store: a scan after thousands of evictions lists exactly the URLs still stored', async () => {
  const store = new MemoryStore({ maxEntries: 100 })
  const epoch = await store.epoch()
  for (let i = 0; i < 20_000; i++) await store.set(`k${i}`, '', makeEntry('x'), meta(epoch, { url: `/${i}` }))
  const urls = (await scanAll(store, 10)).map((e) => e.url)
  assert.deepEqual(urls, Array.from({ length: 100 }, (_, i) => `/${19_900 + i}`))
})

test('memory store: a write older than the purges it remembers is refused, as the store cannot tell', async () => {
  const store = new MemoryStore()
  const before = await store.epoch()
  for (let i = 0; i < 5000; i++) await store.delete(`other-${i}`)
  assert.equal(await store.set('page', '', makeEntry('x'), meta(before)), false)
  const recent = await store.epoch()
  await store.notePurge([`/${'x'.repeat(4000)}*`].concat(Array.from({ length: 99 }, (_, i) => `/${i}${'y'.repeat(4000)}`)))
  assert.equal(await store.set('page', '', makeEntry('x'), meta(recent, { url: '/page' })), false, 'too much to remember')
  assert.equal(await store.set('page', '', makeEntry('x'), meta(await store.epoch(), { url: '/page' })), true)
})

test('memory store: an epoch from another store is refused', async () => {
  const other = await new MemoryStore().epoch()
  assert.equal(await new MemoryStore().set('k', '', makeEntry('x'), meta(other)), false)
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

test('memory store: health says memory, connected', () => {
  assert.deepEqual(new MemoryStore().health(), { type: 'memory', connected: true })
})
