import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { compilePattern } from '../lib/patterns.ts'
import { makeEntry } from '../lib/stores/conformance.ts'
import { shardOf } from '../lib/stores/redis/codec.ts'
import { PURGE_LOG } from '../lib/stores/redis/prelude.ts'
import { RedisStore } from '../lib/stores/redis/store.ts'
import type { EntryMeta } from '../lib/stores/store.ts'
import { eventually } from './helpers/app.ts'
import { RedisServer } from './helpers/redis-server.ts'

let server: RedisServer
const clients: Redis[] = []
const stores: RedisStore[] = []
let namespaces = 0

before(async () => {
  server = await RedisServer.start()
})

after(async () => {
  for (const store of stores) await store.close()
  for (const client of clients) client.disconnect()
  await server?.stop()
})

function connect (): Redis {
  const client = new Redis({ port: server.port, host: '127.0.0.1', maxRetriesPerRequest: 1 })
  clients.push(client)
  return client
}

/** A store in a namespace of its own (or a given one, to play a second instance of the same app). */
async function makeStore (options: { l1?: boolean, namespace?: string } = {}): Promise<RedisStore> {
  const store = new RedisStore({ client: connect(), namespace: options.namespace ?? `contract-${++namespaces}`, l1: options.l1 === true ? {} : false })
  stores.push(store)
  await store.init()
  if (options.l1 === true) await eventually(() => store.l1Active)
  return store
}

const meta = (epoch: string, more: Partial<EntryMeta> = {}): EntryMeta => ({ vary: [], epoch, maxVariants: 64, ...more })

test('redis store: the epoch is an opaque string, and a set with an epoch it never handed out is refused', async () => {
  const store = await makeStore()
  const epoch = await store.epoch()
  assert.equal(typeof epoch, 'string')
  assert.equal(await store.set('k', '', makeEntry('a'), meta('made-up:0')), false)
  assert.equal(await store.set('k', '', makeEntry('a'), meta('')), false)
  assert.equal(await store.set('k', '', makeEntry('a'), meta(epoch)), true)
})

test('redis store: a purge of key A refuses a set of A begun before it, never a concurrent set of B', async () => {
  const store = await makeStore()
  const epoch = await store.epoch()
  assert.equal(await store.delete('a'), false)
  assert.equal(await store.set('a', '', makeEntry('old a'), meta(epoch)), false)
  assert.equal(await store.set('b', '', makeEntry('b'), meta(epoch)), true)
  assert.equal(await store.get('a', ''), undefined)
  // A soft purge refuses the same way.
  const later = await store.epoch()
  await store.delete('b', { soft: true, graceMs: 1000 })
  assert.equal(await store.set('b', '', makeEntry('old b'), meta(later)), false)
  assert.equal(await store.set('c', '', makeEntry('c'), meta(later)), true)
})

test('redis store: deleteTags refuses sets carrying one of its tags, and only those', async () => {
  const store = await makeStore()
  const epoch = await store.epoch()
  await store.deleteTags(['post:1'])
  assert.equal(await store.set('a', '', makeEntry('a'), meta(epoch, { tags: ['posts', 'post:1'] })), false)
  assert.equal(await store.set('b', '', makeEntry('b'), meta(epoch, { tags: ['posts', 'post:2'] })), true)
  assert.equal(await store.set('c', '', makeEntry('c'), meta(epoch)), true)
})

test('redis store: notePurge refuses sets whose URL matches a pattern, and no others', async () => {
  const store = await makeStore()
  const epoch = await store.epoch()
  await store.notePurge(['/news/*', '/exact', '*.html?*'])
  const refused = ['/news/1', '/news/', '/exact', '/a/b.html?x=1']
  const kept = ['/newsroom', '/exact/', '/b.html', '/other']
  for (const url of refused) assert.equal(await store.set(url, '', makeEntry(url), meta(epoch, { url })), false, url)
  for (const url of kept) assert.equal(await store.set(url, '', makeEntry(url), meta(epoch, { url })), true, url)
  // An entry with no URL is found by no pattern.
  assert.equal(await store.set('no-url', '', makeEntry('x'), meta(epoch)), true)
})

test('redis store: the Lua pattern matcher agrees with findUrls\' matcher', async () => {
  const store = await makeStore()
  // A small alphabet makes overlaps, empty pieces and repeated stars common.
  let seed = 7
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  const word = (alphabet: string, max: number) => Array.from({ length: random(max + 1) }, () => alphabet[random(alphabet.length)]).join('')
  for (let i = 0; i < 150; i++) {
    const pattern = word('ab/*', 6)
    const url = word('ab/', 8)
    const epoch = await store.epoch()
    await store.notePurge([pattern])
    const stored = await store.set(`k${i}`, '', makeEntry('x'), meta(epoch, { url }))
    assert.equal(stored, !compilePattern(pattern)(url), `pattern ${JSON.stringify(pattern)} against ${JSON.stringify(url)}`)
  }
})

test('redis store: a hostile pattern is matched in linear time', async () => {
  const store = await makeStore()
  const epoch = await store.epoch()
  await store.notePurge([`${'*a'.repeat(200)}*b`])
  const url = `/${'a'.repeat(20_000)}`
  assert.equal(await store.set('k', '', makeEntry('x'), meta(epoch, { url })), true)
})

test('redis store: clear refuses every set begun before it', async () => {
  const store = await makeStore()
  const epoch = await store.epoch()
  await store.clear()
  assert.notEqual(await store.epoch(), epoch)
  assert.equal(await store.set('k', '', makeEntry('x'), meta(epoch)), false)
})

test('redis store: when the list of purges no longer reaches back to a set\'s epoch, the set is refused', async () => {
  const store = await makeStore()
  const epoch = await store.epoch()
  for (let i = 0; i < PURGE_LOG + 5; i += 500) {
    await store.notePurge(Array.from({ length: 500 }, (_, j) => `/unrelated/${i + j}`))
  }
  assert.equal(await store.set('k', '', makeEntry('x'), meta(epoch, { url: '/page' })), false)
  assert.equal(await store.set('k', '', makeEntry('x'), meta(await store.epoch(), { url: '/page' })), true)
})

test('redis store: a soft purge marks every variant stale with the grace window, and returns what a hard one does', async () => {
  const store = await makeStore()
  const epoch = await store.epoch()
  const m = meta(epoch, { vary: ['accept'], url: '/p', tags: ['t'] })
  await store.set('k', 'a', makeEntry('a', 60_000, 5000), m)
  await store.set('k', 'b', makeEntry('b', 60_000, 120_000), m)
  const before = Date.now()
  assert.equal(await store.delete('k', { soft: true, graceMs: 30_000 }), true)
  const after = Date.now()
  const a = (await store.get('k', 'a'))?.entry
  const b = (await store.get('k', 'b'))?.entry
  assert.equal(a?.softPurged, true)
  assert.equal(b?.softPurged, true)
  assert.ok(a.expiresAt <= after && b.expiresAt <= after)
  // staleUntil = now + max(grace, the entry's own stale window)
  assert.ok(a.staleUntil >= before + 30_000 && a.staleUntil <= after + 30_000)
  assert.ok(b.staleUntil >= before + 120_000 && b.staleUntil <= after + 120_000)
  assert.equal(a.body.toString(), 'a')
  assert.equal(await store.delete('nothing', { soft: true, graceMs: 1000 }), false)
  assert.equal(await store.deleteTags(['t'], { soft: true, graceMs: 1000 }), 1)
  assert.equal(await store.deleteTags(['none'], { soft: true, graceMs: 1000 }), 0)
  assert.equal((await store.get('k', 'a'))?.entry?.softPurged, true)
  // Still listed (the entry is there, stale), then gone after a hard purge.
  assert.equal((await store.scan('0', 10)).entries.length, 1)
  assert.equal(await store.deleteTags(['t']), 1)
  assert.equal(await store.get('k', 'a'), undefined)
})

test('redis store with L1: a soft purge on another instance reaches this instance\'s L1 copy', async () => {
  const a = await makeStore({ l1: true })
  const b = await makeStore({ l1: true, namespace: a.namespace })
  await a.set('k', '', makeEntry('page'), meta(await a.epoch()))
  await eventually(async () => (await b.get('k', ''))?.entry !== undefined && b.peek('k', '') !== undefined)
  assert.equal(b.peek('k', '')?.entry?.softPurged, undefined)
  await a.delete('k', { soft: true, graceMs: 10_000 })
  // Local L1 at once, the other instance's through pub/sub.
  assert.notEqual(a.peek('k', '')?.entry?.softPurged, false)
  await eventually(async () => (b.peek('k', '') ?? await b.get('k', ''))?.entry?.softPurged === true, 1000)
  assert.ok((b.health().l1?.hits ?? 0) > 0)
})

test('redis store: maxVariants keeps the most recently stored variants; 3,002 variants stay a bounded hash', async () => {
  const store = await makeStore()
  const client = connect()
  const epoch = await store.epoch()
  const m = meta(epoch, { vary: ['user-agent'], maxVariants: 2 })
  await store.set('k', 'v1', makeEntry('1'), m)
  await store.set('k', 'v2', makeEntry('2'), m)
  await store.set('k', 'v3', makeEntry('3'), m)
  assert.equal((await store.get('k', 'v1'))?.entry, undefined)
  assert.equal((await store.get('k', 'v2'))?.entry?.body.toString(), '2')
  assert.equal((await store.get('k', 'v3'))?.entry?.body.toString(), '3')
  for (let i = 0; i < 3002; i++) await store.set('big', `ua-${i}`, makeEntry(`ua ${i}`), meta(epoch, { vary: ['user-agent'] }))
  const fields = await client.hlen(`${store.namespace}:{${shardOf('big')}}:e:big`)
  assert.ok(fields <= 64 * 2 + 10, `${fields} fields in one group`)
  assert.equal((await store.summary()).entries, 2 + 64)
  assert.equal((await store.get('big', 'ua-3001'))?.entry?.body.toString(), 'ua 3001')
  assert.equal((await store.get('big', 'ua-0'))?.entry, undefined)
})

test('redis store: a variant read since goes after the others: maxVariants drops the least recently used', async () => {
  const store = await makeStore()
  const m = meta(await store.epoch(), { vary: ['accept-encoding'], maxVariants: 3 })
  for (const v of ['gzip', 'br', 'identity']) await store.set('k', v, makeEntry(v), m)
  assert.equal((await store.get('k', 'gzip'))?.entry?.body.toString(), 'gzip')
  await store.set('k', 'zstd', makeEntry('zstd'), m)
  assert.equal((await store.get('k', 'br'))?.entry, undefined, 'the least recently used variant went')
  assert.equal((await store.get('k', 'gzip'))?.entry?.body.toString(), 'gzip')
  assert.equal((await store.get('k', 'identity'))?.entry?.body.toString(), 'identity')
})

test('redis store: a flood of new variants never pushes out the one visitors keep asking for', async () => {
  const store = await makeStore()
  const m = meta(await store.epoch(), { vary: ['user-agent'], maxVariants: 8 })
  await store.set('page', 'popular browser', makeEntry('popular'), m)
  for (let i = 0; i < 200; i++) {
    await store.set('page', `bot ${i}`, makeEntry(`bot ${i}`), m)
    if (i % 3 === 0) assert.equal((await store.get('page', 'popular browser'))?.entry?.body.toString(), 'popular', `after ${i} bots`)
  }
  assert.equal((await store.summary()).entries, 8)
})

test('redis store: writing 5,000 variants of one URL costs the same per write whatever the count', async (t) => {
  const store = await makeStore()
  const epoch = await store.epoch()
  const timed = async (maxVariants: number) => {
    const started = performance.now()
    for (let i = 0; i < 5000; i++) {
      await store.set(`url-${maxVariants}`, `v${i}`, makeEntry(`variant ${i}`), meta(epoch, { vary: ['user-agent'], maxVariants }))
    }
    return (performance.now() - started) / 1000
  }
  const capped = await timed(64)
  const all = await timed(5000)
  t.diagnostic(`5,000 variants of one URL: ${capped.toFixed(2)} s with maxVariants 64, ${all.toFixed(2)} s keeping all 5,000`)
  assert.equal((await store.get('url-5000', 'v0'))?.entry?.body.toString(), 'variant 0')
})

test('redis store: locks are per variant, held by one process, released only by it', async () => {
  const a = await makeStore()
  const b = await makeStore({ namespace: a.namespace })
  assert.equal(await a.lock('k', 'gzip', 5000), true)
  assert.equal(await a.lock('k', 'br', 5000), true)
  assert.equal(await b.lock('k', 'gzip', 5000), false)
  await b.unlock('k', 'gzip')
  assert.equal(await b.lock('k', 'gzip', 5000), false, 'another process cannot release our lock')
  await a.unlock('k', 'gzip')
  assert.equal(await b.lock('k', 'gzip', 5000), true)
  assert.equal(await a.lock('k', 'gzip', 5000), false)
})

test('redis store: health reports the connection and the L1 counters', async () => {
  const plain = await makeStore()
  assert.deepEqual(plain.health(), { type: 'redis', connected: true })
  const cached = await makeStore({ l1: true })
  await cached.set('k', '', makeEntry('x'), meta(await cached.epoch()))
  // The store's own announcement of the write evicts L1 when it arrives: read once it has.
  await eventually(async () => {
    await cached.get('k', '')
    return cached.peek('k', '') !== undefined
  })
  const health = cached.health()
  assert.equal(health.connected, true)
  assert.equal(health.l1?.entries, 1)
  assert.ok((health.l1?.hits ?? 0) >= 1)
  assert.ok((health.l1?.misses ?? 0) >= 1)
})

test('redis store: scanTags lists tags with their key counts, inspect shows everything under a key', async () => {
  const store = await makeStore()
  const epoch = await store.epoch()
  await store.set('a', 'x', makeEntry('a'), meta(epoch, { vary: ['accept'], url: '/a', tags: ['posts', 'post:1'] }))
  await store.set('b', '', makeEntry('b'), meta(epoch, { url: '/b', tags: ['posts'] }))
  await store.count('a', 'misses')
  const tags = []
  let cursor = '0'
  do {
    const page = await store.scanTags(cursor, 10)
    tags.push(...page.tags)
    cursor = page.cursor
  } while (cursor !== '0')
  assert.deepEqual(tags.sort((x, y) => x.tag < y.tag ? -1 : 1), [{ tag: 'post:1', keys: 1 }, { tag: 'posts', keys: 2 }])
  const detail = await store.inspect('a')
  assert.equal(detail?.url, '/a')
  assert.deepEqual(detail.vary, ['accept'])
  assert.deepEqual(detail.tags.sort(), ['post:1', 'posts'])
  assert.deepEqual(detail.variants.map((v) => [v.variant, v.entry.body.toString()]), [['x', 'a']])
  assert.deepEqual(detail.stats, { hits: 0, misses: 1 })
  assert.equal(await store.inspect('nothing'), undefined)
  await store.deleteTags(['post:1'])
  assert.equal(await store.inspect('a'), undefined)
})
