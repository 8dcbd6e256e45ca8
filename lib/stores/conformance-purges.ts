import assert from 'node:assert/strict'
import { makeEntry, meta, scanAll, type WithStore } from './conformance-kit.ts'
import type { Store } from './store.ts'

async function body (store: Store, key: string, variant = ''): Promise<string | undefined> {
  return (await store.get(key, variant))?.entry?.body.toString()
}

/** Which purges refuse a write started before them (only those that covered it), and soft purges. */
export function purgeConformance (withStore: WithStore): void {
  withStore('epoch is an opaque string, and a write with the current one is stored', async (store) => {
    const epoch = await store.epoch()
    assert.equal(typeof epoch, 'string')
    assert.equal(await store.set('k', '', makeEntry('x'), meta(epoch)), true)
    assert.equal(await body(store, 'k'), 'x')
  })

  withStore('a purge of one key refuses a write of that key started before it, and no other key', async (store) => {
    const before = await store.epoch()
    await store.delete('a')
    assert.equal(await store.set('a', '', makeEntry('outdated a'), meta(before)), false)
    assert.equal(await store.get('a', ''), undefined)
    assert.equal(await store.set('b', '', makeEntry('b'), meta(before)), true)
    assert.equal(await body(store, 'b'), 'b')
    assert.equal(await store.set('a', '', makeEntry('fresh a'), meta(await store.epoch())), true)
  })

  withStore('a soft purge of a key refuses its earlier writes too', async (store) => {
    await store.set('a', '', makeEntry('v1'), meta(await store.epoch()))
    const before = await store.epoch()
    await store.delete('a', { soft: true, graceMs: 60_000 })
    assert.equal(await store.set('a', '', makeEntry('outdated'), meta(before)), false)
    assert.equal(await body(store, 'a'), 'v1')
    assert.equal(await store.set('b', '', makeEntry('b'), meta(before)), true)
  })

  withStore('a tag purge refuses writes carrying one of its tags, and only those', async (store) => {
    const before = await store.epoch()
    await store.deleteTags(['post:1', 'post:9'])
    assert.equal(await store.set('a', '', makeEntry('a'), meta(before, { tags: ['posts', 'post:1'] })), false)
    assert.equal(await store.set('b', '', makeEntry('b'), meta(before, { tags: ['posts', 'post:2'] })), true)
    assert.equal(await store.set('c', '', makeEntry('c'), meta(before)), true)
    assert.equal(await store.get('a', ''), undefined)
  })

  withStore('notePurge refuses writes whose URL matches a pattern, and only those', async (store) => {
    const before = await store.epoch()
    await store.notePurge(['/posts/*', '/exact'])
    assert.equal(await store.set('a', '', makeEntry('a'), meta(before, { url: '/posts/1?page=2' })), false)
    assert.equal(await store.set('b', '', makeEntry('b'), meta(before, { url: '/exact' })), false)
    assert.equal(await store.set('c', '', makeEntry('c'), meta(before, { url: '/exact?x' })), true)
    assert.equal(await store.set('d', '', makeEntry('d'), meta(before, { url: '/other/posts/1' })), true)
    assert.equal(await store.set('e', '', makeEntry('e'), meta(before)), true)
    assert.equal(await store.get('a', ''), undefined)
  })

  withStore('clear refuses every write started before it', async (store) => {
    const before = await store.epoch()
    await store.clear()
    assert.equal(await store.set('a', '', makeEntry('a'), meta(before)), false)
    assert.equal(await store.set('b', '', makeEntry('b'), meta(before, { url: '/b', tags: ['t'] })), false)
    assert.equal(await store.set('a', '', makeEntry('a'), meta(await store.epoch())), true)
  })

  withStore('an epoch the store never handed out is refused', async (store) => {
    assert.equal(await store.set('a', '', makeEntry('a'), meta('not an epoch')), false)
    assert.equal(await store.get('a', ''), undefined)
  })

  withStore('a stream of purges of other keys never refuses a write', async (store) => {
    const before = await store.epoch()
    for (let i = 0; i < 100; i++) {
      await store.delete(`comment-${i}`)
      if (i % 10 === 0) await store.deleteTags([`thread:${i}`])
      if (i % 25 === 0) await store.notePurge([`/comments/${i}*`])
    }
    assert.equal(await store.set('page', '', makeEntry('page'), meta(before, { url: '/page', tags: ['pages'] })), true)
    assert.equal(await body(store, 'page'), 'page')
  })

  withStore('a soft purge keeps the entry, stale from now, servable for the grace period', async (store) => {
    const epoch = await store.epoch()
    await store.set('k', 'a', makeEntry('old a', 60_000, 0), meta(epoch, { vary: ['accept'], url: '/k' }))
    await store.set('k', 'b', makeEntry('old b', 60_000, 0), meta(epoch, { vary: ['accept'], url: '/k' }))
    const started = Date.now()
    assert.equal(await store.delete('k', { soft: true, graceMs: 30_000 }), true)
    const ended = Date.now()
    for (const variant of ['a', 'b']) {
      const entry = (await store.get('k', variant))?.entry
      assert.equal(entry?.body.toString(), `old ${variant}`)
      assert.equal(entry.softPurged, true)
      assert.ok(entry.expiresAt <= ended, 'stale from the purge on')
      assert.ok(entry.staleUntil >= started + 30_000 && entry.staleUntil <= ended + 30_000, `staleUntil ${entry.staleUntil}`)
    }
    assert.deepEqual((await scanAll(store, 10)).map((e) => e.url), ['/k'], 'still listed while kept')
    assert.equal(await store.delete('k'), true, 'a hard purge after a soft one finds it')
    assert.equal(await store.get('k', 'a'), undefined)
  })

  withStore('a soft purge keeps a longer stale window the entry already had', async (store) => {
    await store.set('k', '', makeEntry('x', 60_000, 600_000), meta(await store.epoch()))
    const started = Date.now()
    await store.delete('k', { soft: true, graceMs: 1000 })
    const entry = (await store.get('k', ''))?.entry
    assert.equal(entry?.softPurged, true)
    assert.ok(entry.staleUntil >= started + 600_000, `staleUntil ${entry.staleUntil}`)
  })

  withStore('soft purges count like hard ones: keys that had entries', async (store) => {
    const epoch = await store.epoch()
    await store.set('a', '', makeEntry('a'), meta(epoch, { tags: ['t', 'u'] }))
    await store.set('b', '', makeEntry('b'), meta(epoch, { tags: ['t'] }))
    await store.set('c', '', makeEntry('c'), meta(epoch, { tags: ['other'] }))
    assert.equal(await store.deleteTags(['t', 'u'], { soft: true, graceMs: 60_000 }), 2)
    assert.equal((await store.get('a', ''))?.entry?.softPurged, true)
    assert.equal((await store.get('b', ''))?.entry?.softPurged, true)
    assert.equal((await store.get('c', ''))?.entry?.softPurged, undefined)
    assert.equal(await store.delete('nothing', { soft: true, graceMs: 60_000 }), false)
    assert.equal(await store.deleteTags(['nothing'], { soft: true, graceMs: 60_000 }), 0)
    assert.equal(await store.deleteTags(['t', 'u']), 2, 'the soft-purged entries were still there')
    assert.equal(await store.get('a', ''), undefined)
  })

  withStore('a key at maxVariants drops its least recently written variant for a new one', async (store) => {
    const epoch = await store.epoch()
    const m = meta(epoch, { vary: ['user-agent'], maxVariants: 3 })
    for (const ua of ['one', 'two', 'three']) await store.set('k', ua, makeEntry(ua), m)
    await store.set('k', 'one', makeEntry('one again'), m)
    await store.set('k', 'four', makeEntry('four'), m)
    assert.equal((await store.get('k', 'two'))?.entry, undefined, 'the least recently used variant went')
    assert.equal(await body(store, 'k', 'one'), 'one again')
    assert.equal(await body(store, 'k', 'three'), 'three')
    assert.equal(await body(store, 'k', 'four'), 'four')
    assert.equal((await store.summary()).entries, 3)
  })
}

/** Scan cursors with Redis SCAN semantics, and the optional listing methods. */
export function scanConformance (withStore: WithStore): void {
  withStore('a scan cursor can be used again and outlives other scans', async (store) => {
    const epoch = await store.epoch()
    for (let i = 0; i < 40; i++) await store.set(`k${i}`, '', makeEntry(`${i}`), meta(epoch, { url: `/p/${i}` }))
    let first = await store.scan('0', 10)
    while (first.cursor !== '0' && first.entries.length === 0) first = await store.scan(first.cursor, 10)
    assert.notEqual(first.cursor, '0', 'the first page does not hold all 40 URLs')
    const urls = async (cursor: string) => (await store.scan(cursor, 10)).entries.map((e) => e.url)
    const again = await urls(first.cursor)
    assert.deepEqual(await urls(first.cursor), again, 'the same cursor gives the same page')
    for (let i = 0; i < 100; i++) await store.scan('0', 5)
    assert.deepEqual(await urls(first.cursor), again, 'still after 100 other scans')
    const rest = []
    let cursor = first.cursor
    do {
      const page = await store.scan(cursor, 10)
      rest.push(...page.entries.map((e) => e.url))
      cursor = page.cursor
    } while (cursor !== '0')
    const all = [...first.entries.map((e) => e.url), ...rest]
    assert.equal(all.length, 40)
    assert.equal(new Set(all).size, 40)
  })

  withStore('a malformed scan cursor is a coded error', async (store) => {
    await assert.rejects(store.scan('not a cursor', 10), { code: 'FANCY_CACHE_ERR_INVALID_ARGUMENT' })
  })

  withStore('scanTags, when the store has it, lists tags in use with their key counts', async (store) => {
    if (store.scanTags === undefined) return
    const epoch = await store.epoch()
    await store.set('a', '', makeEntry('a'), meta(epoch, { tags: ['posts', 'post:1'] }))
    await store.set('b', 'x', makeEntry('b'), meta(epoch, { vary: ['accept'], tags: ['posts', 'post:2'] }))
    await store.set('b', 'y', makeEntry('b'), meta(epoch, { vary: ['accept'], tags: ['posts'] }))
    const tags = async () => {
      const found: Record<string, number> = {}
      let cursor = '0'
      do {
        const page = await store.scanTags!(cursor, 1)
        for (const { tag, keys } of page.tags) found[tag] = (found[tag] ?? 0) + keys
        cursor = page.cursor
      } while (cursor !== '0')
      return found
    }
    assert.deepEqual(await tags(), { posts: 2, 'post:1': 1, 'post:2': 1 })
    await store.delete('a')
    assert.deepEqual(await tags(), { posts: 1, 'post:2': 1 })
  })

  withStore('inspect, when the store has it, shows everything under a key', async (store) => {
    if (store.inspect === undefined) return
    assert.equal(await store.inspect('nothing'), undefined)
    const epoch = await store.epoch()
    const m = meta(epoch, { vary: ['accept'], url: '/page?a=1', tags: ['posts'] })
    await store.set('k', 'html', makeEntry('<p>'), m)
    await store.set('k', 'json', makeEntry('{}'), m)
    await store.count('k', 'misses')
    const detail = await store.inspect('k')
    assert.equal(detail?.key, 'k')
    assert.deepEqual(detail.vary, ['accept'])
    assert.equal(detail.url, '/page?a=1')
    assert.deepEqual(detail.tags, ['posts'])
    assert.deepEqual(detail.variants.map((v) => [v.variant, v.entry.body.toString()]).sort(), [['html', '<p>'], ['json', '{}']])
    assert.deepEqual(detail.stats, { hits: 0, misses: 1 })
    await store.delete('k')
    assert.equal(await store.inspect('k'), undefined)
  })

  withStore('health, when the store has it, names the store and its connection', async (store) => {
    if (store.health === undefined) return
    const health = store.health()
    assert.equal(typeof health.type, 'string')
    assert.equal(health.connected, true)
  })
}
