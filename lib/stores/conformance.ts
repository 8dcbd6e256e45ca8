import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { makeEntry, meta, scanAll, type WithStore } from './conformance-kit.ts'
import { purgeConformance, scanConformance } from './conformance-purges.ts'
import type { Store } from './store.ts'

export { makeEntry, meta, scanAll, type WithStore } from './conformance-kit.ts'

/** Options of the conformance suite. */
export interface ConformanceOptions {
  /** Called after each test with the store it made (close connections, stop servers). */
  teardown?: (store: Store) => Promise<void> | void
}

/**
 * The behaviour every `Store` must have. Run it with `storeConformance('my store', async () => new MyStore())`
 * under `node --test`; each test gets a fresh, empty store.
 */
export function storeConformance (name: string, make: () => Promise<Store>, options: ConformanceOptions = {}): void {
  const withStore: WithStore = (title, fn) =>
    test(`${name}: ${title}`, async () => {
      const store = await make()
      try {
        await fn(store)
      } finally {
        await options.teardown?.(store)
      }
    })

  withStore('an unknown key is undefined', async (store) => {
    assert.equal(await store.get('nope', ''), undefined)
  })

  withStore('an entry round-trips with status, headers, binary body and times', async (store) => {
    const body = Buffer.from([0, 255, 1, 254, 0x80, 0x0a])
    const entry = { ...makeEntry(body), status: 203 }
    assert.equal(await store.set('k1', '', entry, meta(await store.epoch())), true)
    const found = await store.get('k1', '')
    assert.ok(found?.entry)
    assert.deepEqual(found.vary, [])
    assert.equal(found.entry.status, 203)
    assert.deepEqual(found.entry.headers, entry.headers)
    assert.deepEqual(Buffer.compare(found.entry.body, body), 0)
    assert.equal(found.entry.etag, '"e1"')
    assert.equal(found.entry.storedAt, entry.storedAt)
    assert.equal(found.entry.expiresAt, entry.expiresAt)
    assert.equal(found.entry.staleUntil, entry.staleUntil)
  })

  withStore('variants of one key are kept apart and share its vary list', async (store) => {
    const epoch = await store.epoch()
    const m = meta(epoch, { vary: ['accept-encoding'] })
    await store.set('k', 'gzip', makeEntry('zipped'), m)
    await store.set('k', 'plain', makeEntry('plain'), m)
    assert.equal((await store.get('k', 'gzip'))?.entry?.body.toString(), 'zipped')
    assert.equal((await store.get('k', 'plain'))?.entry?.body.toString(), 'plain')
    const other = await store.get('k', 'br')
    assert.equal(other?.entry, undefined)
    assert.deepEqual(other?.vary, ['accept-encoding'])
  })

  withStore('storing with another vary list replaces the old variants', async (store) => {
    const epoch = await store.epoch()
    await store.set('k', 'a', makeEntry('a'), meta(epoch, { vary: ['accept'] }))
    await store.set('k', '', makeEntry('none'), meta(epoch))
    assert.equal((await store.get('k', 'a'))?.entry, undefined)
    assert.equal((await store.get('k', ''))?.entry?.body.toString(), 'none')
  })

  withStore('an entry past staleUntil is gone; one within it is returned', async (store) => {
    const epoch = await store.epoch()
    await store.set('old', '', makeEntry('old', 30, 0), meta(epoch, { url: '/old' }))
    await store.set('stale', '', makeEntry('stale', 30, 60_000), meta(epoch))
    await sleep(80)
    assert.equal((await store.get('old', ''))?.entry, undefined)
    const stale = await store.get('stale', '')
    assert.equal(stale?.entry?.body.toString(), 'stale')
    assert.ok(stale.entry.expiresAt < Date.now())
    assert.deepEqual((await scanAll(store, 10)).map((e) => e.url), [])
  })

  withStore('delete removes every variant and the remembered URL, and says whether it found any', async (store) => {
    const epoch = await store.epoch()
    await store.set('k', 'x', makeEntry('x'), meta(epoch, { vary: ['accept'], url: '/page?a=1' }))
    await store.set('k', 'y', makeEntry('y'), meta(epoch, { vary: ['accept'], url: '/page?a=1' }))
    assert.equal(await store.delete('k'), true)
    assert.equal(await store.get('k', 'x'), undefined)
    assert.equal(await store.get('k', 'y'), undefined)
    assert.deepEqual(await scanAll(store, 10), [])
    assert.equal(await store.delete('k'), false)
  })

  withStore('deleteTags removes exactly the tagged keys and counts them', async (store) => {
    const epoch = await store.epoch()
    await store.set('a', '', makeEntry('a'), meta(epoch, { tags: ['post:1', 'posts'] }))
    await store.set('b', '', makeEntry('b'), meta(epoch, { tags: ['post:2', 'posts'] }))
    await store.set('c', '', makeEntry('c'), meta(epoch))
    assert.equal(await store.deleteTags(['post:1']), 1)
    assert.equal(await store.get('a', ''), undefined)
    assert.ok((await store.get('b', ''))?.entry)
    assert.equal(await store.deleteTags(['posts', 'post:2', 'nothing']), 1)
    assert.equal(await store.get('b', ''), undefined)
    assert.ok((await store.get('c', ''))?.entry)
  })

  withStore('counting is atomic and stats outlive the entry until clear', async (store) => {
    assert.equal(await store.statsOf('k'), null)
    await Promise.all(Array.from({ length: 200 }, () => store.count('k', 'hits')))
    await store.count('k', 'misses')
    assert.deepEqual(await store.statsOf('k'), { hits: 200, misses: 1 })
    await store.set('k', '', makeEntry('x'), meta(await store.epoch(), { url: '/k' }))
    await store.delete('k')
    assert.deepEqual(await store.statsOf('k'), { hits: 200, misses: 1 })
    await store.clear()
    assert.equal(await store.statsOf('k'), null)
  })

  withStore('scan visits every remembered, stored URL exactly once with its stats', async (store) => {
    const epoch = await store.epoch()
    for (let i = 0; i < 57; i++) {
      await store.set(`k${i}`, '', makeEntry(`body ${i}`), meta(epoch, { url: `/page/${i}?q=${i}` }))
    }
    await store.set('not-remembered', '', makeEntry('x'), meta(epoch))
    await store.count('k3', 'misses')
    await store.count('k3', 'hits')
    const all = await scanAll(store, 10)
    assert.equal(all.length, 57)
    assert.equal(new Set(all.map((e) => e.url)).size, 57)
    const third = all.find((e) => e.key === 'k3')
    assert.equal(third?.url, '/page/3?q=3')
    assert.deepEqual(third?.stats, { hits: 1, misses: 1 })
    assert.ok(third.bytes >= 'body 3'.length)
    assert.ok(third.expiresAt > Date.now() && third.storedAt <= Date.now())
    assert.equal(all.find((e) => e.key === 'k4')?.stats, null)
  })

  withStore('clear empties the namespace', async (store) => {
    const epoch = await store.epoch()
    await store.set('a', '', makeEntry('a'), meta(epoch, { url: '/a', tags: ['t'] }))
    await store.count('a', 'misses')
    await store.clear()
    assert.equal(await store.get('a', ''), undefined)
    assert.deepEqual(await scanAll(store, 10), [])
    assert.deepEqual(await store.summary(), { entries: 0, bytes: 0, hits: 0, misses: 0 })
  })

  withStore('summary counts entries, bytes, hits and misses', async (store) => {
    const epoch = await store.epoch()
    await store.set('a', '', makeEntry('x'.repeat(1000)), meta(epoch, { url: '/a' }))
    await store.set('b', 'v1', makeEntry('y'.repeat(500)), meta(epoch, { vary: ['accept'] }))
    await store.set('b', 'v2', makeEntry('z'.repeat(500)), meta(epoch, { vary: ['accept'] }))
    await store.count('a', 'misses')
    await store.count('a', 'hits')
    await store.count('a', 'hits')
    const summary = await store.summary()
    assert.equal(summary.entries, 3)
    assert.ok(summary.bytes >= 2000, `bytes ${summary.bytes}`)
    assert.equal(summary.hits, 2)
    assert.equal(summary.misses, 1)
  })

  withStore('a lock, when the store has locks, is held by one caller until released or expired', async (store) => {
    if (store.lock === undefined || store.unlock === undefined) return
    assert.equal(await store.lock('k', 'v', 5000), true)
    assert.equal(await store.lock('k', 'v', 5000), false)
    assert.equal(await store.lock('k', 'other variant', 5000), true, 'locks are per variant')
    await store.unlock('k', 'v')
    assert.equal(await store.lock('k', 'v', 50), true)
    await sleep(120)
    assert.equal(await store.lock('k', 'v', 5000), true)
  })

  purgeConformance(withStore)
  scanConformance(withStore)
}
