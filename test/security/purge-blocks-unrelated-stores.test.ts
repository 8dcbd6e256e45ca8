import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createApi } from '../../lib/api.ts'
import { MemoryStore } from '../../lib/stores/memory.ts'
import { makeEntry, meta } from '../../lib/stores/conformance.ts'

// One global purge counter let any purge cancel every write in flight: posting a comment every 100 ms (each purging
// its post) kept an unrelated page from ever being stored. Purges now refuse only the writes they cover.

test('purge blocks unrelated stores: a purge of key A does not refuse a write of key B started before it', async () => {
  const store = new MemoryStore()
  const started = await store.epoch()
  await store.delete('A')
  assert.equal(await store.set('B', '', makeEntry('page b'), meta(started, { url: '/b' })), true)
  assert.equal((await store.get('B', ''))?.entry?.body.toString(), 'page b')
})

test('purge blocks unrelated stores: a purge of key A refuses a write of A started before it', async () => {
  const store = new MemoryStore()
  const started = await store.epoch()
  await store.delete('A')
  assert.equal(await store.set('A', '', makeEntry('outdated a'), meta(started, { url: '/a' })), false)
  assert.equal(await store.get('A', ''), undefined)
})

test('purge blocks unrelated stores: a slow page is stored while comments purge other posts all along', async () => {
  const store = new MemoryStore()
  const api = createApi(store)
  const epoch = await store.epoch()
  await store.set('post-1', '', makeEntry('post 1'), meta(epoch, { url: '/posts/1', tags: ['post:1'] }))
  // The slow page's render starts, then comments keep purging post 1 by URL, tag and key while it runs.
  const started = await store.epoch()
  for (let i = 0; i < 50; i++) {
    await api.purgeUrls('/posts/1')
    await api.purgeTags('post:1')
    await api.purgeKey('post-1')
  }
  assert.equal(await store.set('slow', '', makeEntry('slow page'), meta(started, { url: '/slow', tags: ['pages'] })), true)
  assert.equal((await store.get('slow', ''))?.entry?.body.toString(), 'slow page')
  assert.equal(await store.set('post-1', '', makeEntry('outdated'), meta(started, { url: '/posts/1' })), false,
    'the purged post itself is still refused')
})
