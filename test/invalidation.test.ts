import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import type { FancyCacheOptions } from '../index.ts'
import { cachedApp, eventually, sleep } from './helpers/app.ts'
import { RedisServer } from './helpers/redis-server.ts'

// Every test runs on the memory store and on a Redis store of its own namespace on a private redis-server.
let server: RedisServer
let namespaces = 0
const apps: Array<{ close: () => Promise<unknown> }> = []
before(async () => { server = await RedisServer.start() })
after(async () => {
  await Promise.all(apps.map((app) => app.close()))
  await server?.stop()
})

type Kind = 'memory' | 'redis'

async function appOn (kind: Kind, options: FancyCacheOptions = {}) {
  if (kind === 'memory') return cachedApp(options)
  const client = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: false })
  client.on('error', () => {})
  const made = await cachedApp({ store: 'redis', redis: client, namespace: `invalidation-${++namespaces}`, ...options })
  made.app.addHook('onClose', async () => { client.disconnect() })
  apps.push(made.app)
  return made
}

function both (title: string, fn: (kind: Kind) => Promise<void>) {
  for (const kind of ['memory', 'redis'] as const) test(`${kind}: ${title}`, () => fn(kind))
}

both('reply.fancyCache.tag() tags the entry with what the handler read; purgeTags removes it', async (kind) => {
  const { app, run } = await appOn(kind)
  app.get('/posts/:id', { config: { fancyCache: { tags: () => ['posts'] } } }, async (request, reply) => {
    const id = (request.params as { id: string }).id
    reply.fancyCache.tag(`post:${id}`, 'author:7')
    return `post ${id} run ${run(id)}`
  })
  await app.inject('/posts/1')
  await app.inject('/posts/2')
  assert.equal(await app.fancyCache.purgeTags('post:1'), 1)
  assert.equal((await app.inject('/posts/1')).body, 'post 1 run 2')
  assert.equal((await app.inject('/posts/2')).body, 'post 2 run 1')
  assert.equal(await app.fancyCache.purgeTags('author:7'), 2)
  assert.equal(await app.fancyCache.purgeTags('posts'), 0)
})

both('reply.fancyCache.ttl() sets this response\'s ttl; 0 stores nothing; noStore() sends without storing', async (kind) => {
  const { app, run, runs } = await appOn(kind)
  app.get('/t/:mode', { config: { fancyCache: 600 } }, async (request, reply) => {
    const mode = (request.params as { mode: string }).mode
    if (mode === 'short') reply.fancyCache.ttl(5)
    if (mode === 'zero') reply.fancyCache.ttl(0)
    if (mode === 'skip') reply.fancyCache.noStore()
    return `${mode} ${run(mode)}`
  })
  await app.inject('/t/short')
  const short = await app.inject('/t/short')
  assert.match(String(short.headers['cache-status']), /hit; ttl=[45]\b/)
  assert.match(String(short.headers['cache-control']), /max-age=5/)
  for (const mode of ['zero', 'skip']) {
    await app.inject(`/t/${mode}`)
    assert.equal((await app.inject(`/t/${mode}`)).body, `${mode} 2`)
  }
  assert.equal(runs('short'), 1)
})

both('reply.fancyCache calls on a hit or a bypass are harmless; invalid arguments throw a coded error', async (kind) => {
  const { app } = await appOn(kind)
  app.get('/any', { config: { fancyCache: true } }, async (request, reply) => {
    reply.fancyCache.tag('x')
    reply.fancyCache.ttl(1)
    reply.fancyCache.noStore()
    return 'any'
  })
  app.get('/bad/:what', { config: { fancyCache: true } }, async (request, reply) => {
    const what = (request.params as { what: string }).what
    if (what === 'tag') reply.fancyCache.tag('has space')
    if (what === 'ttl') reply.fancyCache.ttl(-1)
    return 'unreachable'
  })
  const bypassed = await app.inject({ url: '/any', headers: { authorization: 'Bearer x' } })
  assert.equal(bypassed.body, 'any')
  for (const what of ['tag', 'ttl']) {
    const response = await app.inject(`/bad/${what}`)
    assert.equal(response.json().code, 'FANCY_CACHE_ERR_INVALID_ARGUMENT')
  }
})

both('invalidateOnWrite: a 2xx/3xx POST purges the GET of its URL and of a same-host Location', async (kind) => {
  const { app, run } = await appOn(kind, { invalidateOnWrite: true })
  app.get('/posts/:id', { config: { fancyCache: true } }, async (request) => `post ${(request.params as { id: string }).id} v${run('post')}`)
  app.post('/posts/:id/comments', async (request, reply) => reply.code(303).header('location', `/posts/${(request.params as { id: string }).id}`).send())
  app.post('/posts/:id/fail', async (_request, reply) => reply.code(422).header('location', '/posts/1').send())
  app.put('/posts/:id', async () => 'saved')
  await app.inject('/posts/1')
  await app.inject('/posts/1?utm_source=mail')
  await app.inject('/posts/2')
  assert.equal((await app.inject({ method: 'POST', url: '/posts/1/fail' })).statusCode, 422)
  assert.match(String((await app.inject('/posts/1')).headers['cache-status']), /hit/)
  await app.inject({ method: 'POST', url: '/posts/1/comments' })
  assert.equal((await app.inject('/posts/1')).body, 'post 1 v3')
  assert.match(String((await app.inject('/posts/2')).headers['cache-status']), /hit/)
  await app.inject({ method: 'PUT', url: '/posts/2' })
  assert.equal((await app.inject('/posts/2')).body, 'post 2 v4')
})

both('invalidateOnWrite: another host in Location purges nothing there; the route can opt in or out', async (kind) => {
  const { app, run } = await appOn(kind)
  app.get('/a', { config: { fancyCache: true } }, async () => `a ${run('a')}`)
  app.post('/elsewhere', { config: { fancyCache: { invalidateOnWrite: true } } },
    async (_request, reply) => reply.code(302).header('location', 'https://other.example/a').send())
  app.post('/a', { config: { fancyCache: { invalidateOnWrite: true } } }, async () => 'ok')
  app.delete('/a', async () => 'gone')
  await app.inject('/a')
  await app.inject({ method: 'POST', url: '/elsewhere' })
  await app.inject({ method: 'DELETE', url: '/a' })
  assert.match(String((await app.inject('/a')).headers['cache-status']), /hit/)
  await app.inject({ method: 'POST', url: '/a' })
  assert.equal((await app.inject('/a')).body, 'a 2')
})

both('invalidateOnWrite is published on the purge channel as kind write', async (kind) => {
  const { app } = await appOn(kind, { invalidateOnWrite: true })
  app.get('/x', { config: { fancyCache: true } }, async () => 'x')
  app.post('/x', async () => 'ok')
  const events: unknown[] = []
  const listener = (event: unknown) => {
    const { store, ...rest } = event as { store: unknown }
    assert.equal(store, app.fancyCache.store)
    events.push(rest)
  }
  subscribe('fastify-fancy-cache:purge', listener)
  try {
    await app.inject('/x')
    await app.inject({ method: 'POST', url: '/x' })
  } finally {
    unsubscribe('fastify-fancy-cache:purge', listener)
  }
  assert.deepEqual(events, [{ kind: 'write', soft: false, urls: ['/x'], count: 1 }])
})

both('tagsHeader sends each response\'s tags for a CDN, hit or miss', async (kind) => {
  const { app } = await appOn(kind, { tagsHeader: 'surrogate-key' })
  app.get('/t', { config: { fancyCache: { tags: () => ['a', 'b'] } } }, async (_request, reply) => {
    reply.fancyCache.tag('c')
    return 't'
  })
  assert.equal((await app.inject('/t')).headers['surrogate-key'], 'a b c')
  const hit = await app.inject('/t')
  assert.match(String(hit.headers['cache-status']), /hit/)
  assert.equal(hit.headers['surrogate-key'], 'a b c')
  const cloudflare = await appOn(kind, { tagsHeader: 'cache-tag' })
  cloudflare.app.get('/t', { config: { fancyCache: { tags: () => ['a', 'b'] } } }, async () => 't')
  assert.equal((await cloudflare.app.inject('/t')).headers['cache-tag'], 'a,b')
})

both('ignoreQueryParams: tracking parameters never split the cache; [] keeps every parameter', async (kind) => {
  const { app, run, runs } = await appOn(kind)
  app.get('/post', { config: { fancyCache: true } }, async () => `post ${run('post')}`)
  await app.inject('/post')
  for (const query of ['utm_source=x&utm_medium=y', 'gclid=1', 'fbclid=2&_ga=3', 'msclkid=4']) {
    assert.match(String((await app.inject(`/post?${query}`)).headers['cache-status']), /hit/)
  }
  await app.inject('/post?page=2')
  assert.equal(runs('post'), 2)
  const keepAll = await appOn(kind, { ignoreQueryParams: [] })
  keepAll.app.get('/post', { config: { fancyCache: true } }, async () => 'p')
  await keepAll.app.inject('/post')
  assert.doesNotMatch(String((await keepAll.app.inject('/post?utm_source=x')).headers['cache-status']), /hit/)
})

both('soft purge: the old copy is served at once while one request regenerates it, then the new one', async (kind) => {
  const { app, run, runs } = await appOn(kind, { rememberAllUrls: true })
  let version = 1
  app.get('/news', { config: { fancyCache: { tags: () => ['news'] } } }, async () => {
    await sleep(50)
    run('news')
    return `news v${version}`
  })
  await app.inject('/news')
  version = 2
  assert.equal(await app.fancyCache.purgeTags('news', { soft: true }), 1)
  const during = await Promise.all(Array.from({ length: 10 }, () => app.inject('/news')))
  for (const response of during) {
    assert.equal(response.body, 'news v1')
    assert.match(String(response.headers['cache-status']), /detail=stale-while-revalidate/)
  }
  await eventually(async () => (await app.inject('/news')).body === 'news v2')
  assert.equal(runs('news'), 2)
  assert.match(String((await app.inject('/news')).headers['cache-status']), /hit; ttl=/)
})

both('soft purge: past softPurgeGrace the soft-purged entry is a miss', async (kind) => {
  const { app, run } = await appOn(kind, { softPurgeGrace: 1, rememberAllUrls: true })
  app.get('/g', { config: { fancyCache: true } }, async () => `g ${run('g')}`)
  await app.inject('/g')
  await app.fancyCache.purgeUrls('/g', { soft: true })
  await sleep(1100)
  const after = await app.inject('/g')
  assert.equal(after.body, 'g 2')
  assert.doesNotMatch(String(after.headers['cache-status']), /stale/)
})
