import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { test } from 'node:test'
import { createApi, type ApiOptions, type FancyCacheApi } from '../lib/api.ts'
import { storeTimeout } from '../lib/errors.ts'
import type { PurgeEvent } from '../lib/events.ts'
import { MemoryStore } from '../lib/stores/memory.ts'
import { makeEntry, meta } from '../lib/stores/conformance.ts'
import type { Store } from '../lib/stores/store.ts'

const options = (extra: Partial<ApiOptions> = {}): ApiOptions => ({
  softPurgeGrace: 60,
  bounded: (op) => op(),
  health: () => ({ up: true, circuitOpen: false }),
  ...extra
})

/** A memory store holding /posts/1 (two variants, tag post:1), /posts/2 (tag post:2) and /about (no tag). */
async function filled (extra: Partial<ApiOptions> = {}): Promise<{ store: MemoryStore, api: FancyCacheApi }> {
  const store = new MemoryStore()
  const epoch = await store.epoch()
  const varied = meta(epoch, { vary: ['accept'], url: '/posts/1', tags: ['post:1', 'posts'] })
  await store.set('k-post-1', 'html', makeEntry('post 1 html'), varied)
  await store.set('k-post-1', 'json', makeEntry('post 1 json'), varied)
  await store.set('k-post-2', '', makeEntry('post 2'), meta(epoch, { url: '/posts/2', tags: ['post:2', 'posts'] }))
  await store.set('k-about', '', makeEntry('about'), meta(epoch, { url: '/about' }))
  return { store, api: createApi(store, options(extra)) }
}

/** The purge events `fn` publishes, each checked to name a store and shown without it. */
async function purgeEvents (fn: () => Promise<unknown>): Promise<Array<Omit<PurgeEvent, 'store'>>> {
  const events: Array<Omit<PurgeEvent, 'store'>> = []
  const listener = (event: unknown) => {
    const { store, ...rest } = event as PurgeEvent
    assert.equal(typeof store.get, 'function')
    events.push(rest)
  }
  subscribe('fastify-fancy-cache:purge', listener)
  try {
    await fn()
  } finally {
    unsubscribe('fastify-fancy-cache:purge', listener)
  }
  return events
}

const entryOf = async (store: Store, key: string, variant = '') => (await store.get(key, variant))?.entry

test('api: a hard purge deletes every variant; a soft one keeps them stale for softPurgeGrace', async () => {
  const { store, api } = await filled({ softPurgeGrace: 120 })
  const started = Date.now()
  assert.equal(await api.purgeKey('k-post-1', { soft: true }), true)
  for (const variant of ['html', 'json']) {
    const entry = await entryOf(store, 'k-post-1', variant)
    assert.equal(entry?.softPurged, true)
    assert.ok(entry.expiresAt <= Date.now())
    assert.ok(entry.staleUntil >= started + 120_000 && entry.staleUntil <= Date.now() + 120_000)
  }
  assert.equal(await api.purgeKey('k-post-1'), true)
  assert.equal(await store.get('k-post-1', 'html'), undefined)
  assert.equal(await api.purgeKey('k-post-1', { soft: true }), false)
})

test('api: purgeUrls, purgeTags and findUrls purge softly with { soft: true }, counting like hard purges', async () => {
  const { store, api } = await filled()
  assert.equal(await api.purgeUrls('/posts/*', { soft: true }), 2)
  assert.equal((await entryOf(store, 'k-post-2'))?.softPurged, true)
  assert.equal((await entryOf(store, 'k-about'))?.softPurged, undefined)
  assert.equal(await api.purgeTags(['post:1', 'post:2'], { soft: true }), 2)
  const found = []
  for await (const url of api.findUrls('/about', { purge: true, soft: true })) found.push(url.url)
  assert.deepEqual(found, ['/about'])
  assert.equal((await entryOf(store, 'k-about'))?.softPurged, true)
  assert.equal(await api.purgeUrls('*'), 3, 'soft-purged entries are still there for a hard purge')
  assert.equal((await api.stats()).entries, 0)
})

test('api: purgeUrls refuses the write of a matching page regenerated while it ran, not of others', async () => {
  const { store, api } = await filled()
  const started = await store.epoch()
  await api.purgeUrls('/posts/*')
  assert.equal(await store.set('k-post-3', '', makeEntry('outdated'), meta(started, { url: '/posts/3' })), false)
  assert.equal(await store.set('k-other', '', makeEntry('other'), meta(started, { url: '/other' })), true)
})

test('api: every purge is published on fastify-fancy-cache:purge with its count', async () => {
  const { api } = await filled()
  const events = await purgeEvents(async () => {
    await api.purgeTags('post:2', { soft: true })
    await api.purgeUrls(['/posts/*', '/nothing'])
    await api.purgeKey('k-about', { soft: true })
    await api.purgeKey('k-about')
    await api.purgeKey('k-missing')
    await api.clear()
  })
  assert.deepEqual(events, [
    { kind: 'tags', soft: true, tags: ['post:2'], count: 1 },
    { kind: 'urls', soft: false, urls: ['/posts/*', '/nothing'], count: 2 },
    { kind: 'key', soft: true, key: 'k-about', count: 1 },
    { kind: 'key', soft: false, key: 'k-about', count: 1 },
    { kind: 'key', soft: false, key: 'k-missing', count: 0 },
    { kind: 'clear', soft: false, count: 0 }
  ])
})

test('api: clear announces how many entries it removed; findUrls with purge announces once, even when stopped early', async () => {
  const { api } = await filled()
  const events = await purgeEvents(async () => {
    const walk = api.findUrls('/posts/*', { purge: true })[Symbol.asyncIterator]()
    assert.ok((await walk.next()).value?.url.startsWith('/posts/'))
    await walk.return?.()
    await api.clear()
  })
  assert.deepEqual(events, [
    { kind: 'urls', soft: false, urls: ['/posts/*'], count: 1 },
    { kind: 'clear', soft: false, count: 2 }
  ])
})

test('api: purgeWrite purges exactly the written URLs, through keysOfUrl and the remembered index', async () => {
  const keysOfUrl = (url: string) => url === '/unremembered' ? ['k-unremembered'] : []
  const { store, api } = await filled({ keysOfUrl })
  const epoch = await store.epoch()
  await store.set('k-unremembered', '', makeEntry('not listed'), meta(epoch))
  await store.set('k-post-10', '', makeEntry('post 10'), meta(epoch, { url: '/posts/10' }))
  await store.set('k-post-1-alice', '', makeEntry('alice\'s post 1'), meta(epoch, { url: '/posts/1' }))
  const events = await purgeEvents(async () => {
    assert.equal(await api.purgeWrite(['/posts/1', '/unremembered']), 3)
  })
  assert.equal(await store.get('k-post-1', 'json'), undefined, 'every variant')
  assert.equal(await store.get('k-post-1-alice', ''), undefined, 'also stored under another key')
  assert.equal(await store.get('k-unremembered', ''), undefined)
  assert.ok(await entryOf(store, 'k-post-10'), 'no wildcard: /posts/10 stays')
  assert.deepEqual(events, [{ kind: 'write', soft: false, urls: ['/posts/1', '/unremembered'], count: 3 }])
  assert.equal(await api.purgeWrite([]), 0)
})

test('api: purgeWrite with { index: false } purges only the keys keysOfUrl gives', async () => {
  const { store, api } = await filled({ keysOfUrl: (url) => url === '/posts/2' ? ['k-post-2'] : [] })
  assert.equal(await api.purgeWrite(['/posts/1', '/posts/2'], { index: false }), 1)
  assert.ok(await entryOf(store, 'k-post-1', 'html'))
  assert.equal(await store.get('k-post-2', ''), undefined)
})

test('api: more than 1,000 patterns or a pattern over 4,096 characters is a coded error', async () => {
  const { api } = await filled()
  const many = Array.from({ length: 1001 }, (_, i) => `/p/${i}`)
  const long = `/${'a'.repeat(4096)}`
  const code = { code: 'FANCY_CACHE_ERR_INVALID_ARGUMENT' }
  for (const bad of [many, [long]]) {
    await assert.rejects(api.purgeUrls(bad), code)
    await assert.rejects(api.purgeTags(bad), code)
    await assert.rejects(api.purgeWrite(bad), code)
    await assert.rejects(api.scanUrls({ urls: bad }), code)
    await assert.rejects(api.findUrls(bad)[Symbol.asyncIterator]().next(), code)
  }
  assert.equal(await api.purgeUrls(many.slice(0, 1000)), 0, '1,000 patterns are fine')
  assert.equal(await api.purgeUrls(long.slice(0, 4096)), 0)
})

/** A custom store whose every call hangs, recording whether it was called inside `bounded`. */
function hangingStore (): { store: Store, calls: string[], unbounded: string[], inside: { now: boolean } } {
  const calls: string[] = []
  const unbounded: string[] = []
  const inside = { now: false }
  const store = new Proxy({}, {
    get (_target, name) {
      if (name === 'then' || typeof name === 'symbol') return undefined
      return () => {
        calls.push(name)
        if (!inside.now) unbounded.push(name)
        return new Promise(() => {})
      }
    }
  }) as Store
  return { store, calls, unbounded, inside }
}

test('api: every store call goes through bounded, so a hanging store rejects with a coded error', async () => {
  const { store, calls, unbounded, inside } = hangingStore()
  const bounded = <T>(op: () => Promise<T>): Promise<T> => {
    inside.now = true
    let pending: Promise<T>
    try {
      pending = op()
    } finally {
      inside.now = false
    }
    return Promise.race([pending, new Promise<never>((_resolve, reject) => setTimeout(() => reject(storeTimeout(20)), 20))])
  }
  const api = createApi(store, options({ bounded, keysOfUrl: () => ['k'] }))
  const code = { code: 'FANCY_CACHE_ERR_STORE_TIMEOUT' }
  await assert.rejects(api.stats(), code)
  await assert.rejects(api.purgeUrls('/a*'), code)
  await assert.rejects(api.purgeTags('t'), code)
  await assert.rejects(api.purgeKey('k'), code)
  await assert.rejects(api.purgeWrite(['/a']), code)
  await assert.rejects(api.clear(), code)
  await assert.rejects(api.scanUrls(), code)
  await assert.rejects(api.scanTags(), code)
  await assert.rejects(api.inspect('k'), code)
  await assert.rejects(api.findUrls()[Symbol.asyncIterator]().next(), code)
  await assert.rejects(api.findUrls('/a', { purge: true })[Symbol.asyncIterator]().next(), code)
  assert.deepEqual(unbounded, [])
  assert.deepEqual(new Set(calls), new Set(['summary', 'notePurge', 'deleteTags', 'delete', 'clear', 'scan', 'scanTags', 'inspect']))
})

test('api: scanTags and inspect page through the store, and are a coded error when it cannot', async () => {
  const { api } = await filled()
  const page = await api.scanTags({ count: 1000 })
  assert.equal(page.cursor, '0')
  assert.deepEqual(page.tags.sort((a, b) => a.tag.localeCompare(b.tag)),
    [{ tag: 'post:1', keys: 1 }, { tag: 'post:2', keys: 1 }, { tag: 'posts', keys: 2 }])
  const detail = await api.inspect('k-post-1')
  assert.equal(detail?.url, '/posts/1')
  assert.equal(detail.variants.length, 2)
  assert.equal(await api.inspect('nothing'), undefined)
  const { store } = await filled()
  const bare = createApi({ ...bind(store), scanTags: undefined, inspect: undefined, health: undefined }, options())
  await assert.rejects(bare.scanTags(), { code: 'FANCY_CACHE_ERR_INVALID_ARGUMENT' })
  await assert.rejects(bare.inspect('k-post-1'), { code: 'FANCY_CACHE_ERR_INVALID_ARGUMENT' })
})

test('api: health merges the store\'s own with the guard\'s state', async () => {
  const { store } = await filled()
  const api = createApi(store, options({ health: () => ({ up: false, circuitOpen: true }) }))
  assert.deepEqual(api.health(), { type: 'memory', up: false, circuitOpen: true, connected: true })
  const custom = createApi({ ...bind(store), health: undefined }, options())
  assert.deepEqual(custom.health(), { type: 'custom', up: true, circuitOpen: false, connected: true })
  const remote = createApi({ ...bind(store), health: () => ({ type: 'redis', connected: false, l1: { hits: 1, misses: 2, entries: 3 } }) }, options())
  assert.deepEqual(remote.health(), { type: 'redis', up: true, circuitOpen: false, connected: false, l1: { hits: 1, misses: 2, entries: 3 } })
})

/** The store's methods as a plain object, as a custom store would be. */
function bind (store: MemoryStore): Store {
  const methods = ['get', 'set', 'epoch', 'notePurge', 'delete', 'deleteTags', 'count', 'statsOf', 'scan', 'clear', 'summary',
    'scanTags', 'inspect', 'health'] as const
  return Object.fromEntries(methods.map((name) => [name, (store[name] as (...args: unknown[]) => unknown).bind(store)])) as unknown as Store
}
