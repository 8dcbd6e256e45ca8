import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryStore } from '../../lib/stores/memory.ts'
import { makeEntry, meta } from '../../lib/stores/conformance.ts'

// 20,000 distinct User-Agents on a route with `Vary: User-Agent` once made 20,000 entries and 25.9 MiB in a store
// limited to 100 entries and 2 MiB: the key being written was never evicted, nor its variants one by one.
const MAX_ENTRIES = 100
const MAX_BYTES = 2 * 1024 * 1024

async function flood (maxVariants: number): Promise<MemoryStore> {
  const store = new MemoryStore({ maxEntries: MAX_ENTRIES, maxBytes: MAX_BYTES })
  const m = meta(await store.epoch(), { vary: ['user-agent'], url: '/page', tags: ['page'], maxVariants })
  const page = 'x'.repeat(1300)
  for (let i = 0; i < 20_000; i++) {
    await store.set('page', `Mozilla/5.0 (agent ${i})`, makeEntry(page), m)
    if (i % 500 === 0) {
      const { entries, bytes } = await store.summary()
      assert.ok(entries <= MAX_ENTRIES && bytes <= MAX_BYTES, `after ${i + 1} variants: ${entries} entries, ${bytes} bytes`)
    }
  }
  return store
}

test('vary variants exceed bounds: 20,000 variants of one key stay within 100 entries and 2 MiB', async () => {
  const store = await flood(1_000_000)
  const { entries, bytes } = await store.summary()
  assert.equal(entries, MAX_ENTRIES)
  assert.ok(bytes <= MAX_BYTES, `${bytes} bytes`)
  assert.ok((await store.get('page', 'Mozilla/5.0 (agent 19999)'))?.entry, 'the newest variant is served')
  assert.equal((await store.get('page', 'Mozilla/5.0 (agent 0)'))?.entry, undefined)
})

test('vary variants exceed bounds: maxVariants caps one key below the store bounds', async () => {
  const store = await flood(64)
  assert.equal((await store.summary()).entries, 64)
  assert.ok((await store.get('page', 'Mozilla/5.0 (agent 19936)'))?.entry)
  assert.equal((await store.get('page', 'Mozilla/5.0 (agent 19935)'))?.entry, undefined)
})

test('vary variants exceed bounds: a flood of variants on one key evicts other keys\' old variants too', async () => {
  const store = new MemoryStore({ maxEntries: MAX_ENTRIES, maxBytes: MAX_BYTES })
  const epoch = await store.epoch()
  await store.set('home', '', makeEntry('home'), meta(epoch, { url: '/' }))
  const m = meta(epoch, { vary: ['origin'], maxVariants: 1_000_000 })
  for (let i = 0; i < 1000; i++) await store.set('api', `https://site-${i}.example`, makeEntry('{}'), m)
  assert.equal(await store.get('home', ''), undefined, 'home was least recently used')
  assert.equal((await store.summary()).entries, MAX_ENTRIES)
})
