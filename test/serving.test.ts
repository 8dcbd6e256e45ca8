import assert from 'node:assert/strict'
import { test } from 'node:test'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { CacheEvent } from '../index.ts'
import { cachedApp, sleep } from './helpers/app.ts'

test('a hit carries Age, Cache-Status with the ttl left, and the stored headers', async () => {
  const { app } = await cachedApp()
  app.get('/page', { config: { fancyCache: 60 } }, async (request, reply) => {
    reply.header('x-powered-by', 'blog').type('text/html')
    return '<p>page</p>'
  })
  const miss = await app.inject('/page')
  assert.equal(miss.headers['cache-status'], 'fancy-cache; fwd=miss; stored')
  assert.equal(miss.headers.age, undefined)
  await sleep(1100)
  const hit = await app.inject('/page')
  // About a second has passed; a slow machine may make it two.
  assert.match(String(hit.headers['cache-status']), /^fancy-cache; hit; ttl=5[78]$/)
  assert.match(String(hit.headers.age), /^[12]$/)
  assert.equal(hit.headers['x-powered-by'], 'blog')
  assert.equal(hit.headers['content-type'], 'text/html')
  assert.equal(hit.headers.etag, miss.headers.etag)
  assert.equal(hit.headers['content-length'], '11')
})

test('stored responses get Cache-Control max-age=min(own, ttl) and a matching Expires, as Django does', async () => {
  const { app } = await cachedApp()
  app.get('/default', { config: { fancyCache: 300 } }, async () => 'x')
  app.get('/longer', { config: { fancyCache: 300 } }, async (request, reply) => reply.header('cache-control', 'public, max-age=86400').send('x'))
  app.get('/shorter', { config: { fancyCache: 300 } }, async (request, reply) => reply.header('cache-control', 'max-age=30').send('x'))
  const before = Date.now()
  const plain = await app.inject('/default')
  assert.equal(plain.headers['cache-control'], 'max-age=300')
  const expires = Date.parse(String(plain.headers.expires))
  assert.ok(expires >= Math.floor(before / 1000) * 1000 + 299_000 && expires <= Date.now() + 300_000, String(plain.headers.expires))
  assert.equal((await app.inject('/longer')).headers['cache-control'], 'public, max-age=300')
  assert.equal((await app.inject('/shorter')).headers['cache-control'], 'max-age=30')
  assert.equal((await app.inject('/shorter')).headers['cache-control'], 'max-age=30', 'and on the hit')
})

test('cacheHeaders: false leaves the response headers alone', async () => {
  const { app } = await cachedApp({ cacheHeaders: false })
  app.get('/page', { config: { fancyCache: 300 } }, async () => 'x')
  const response = await app.inject('/page')
  assert.equal(response.headers['cache-control'], undefined)
  assert.equal(response.headers.expires, undefined)
})

test('every stored entry has an ETag, and a matching If-None-Match gets 304 with no body', async () => {
  const { app } = await cachedApp()
  app.get('/hashed', { config: { fancyCache: true } }, async () => 'hashed body')
  app.get('/own', { config: { fancyCache: true } }, async (request, reply) => reply.header('etag', 'W/"v42"').send('own etag'))
  const hashed = await app.inject('/hashed')
  assert.match(String(hashed.headers.etag), /^"[\w-]+"$/)
  const notModified = await app.inject({ url: '/hashed', headers: { 'if-none-match': String(hashed.headers.etag) } })
  assert.equal(notModified.statusCode, 304)
  assert.equal(notModified.body, '')
  assert.equal(notModified.headers.etag, hashed.headers.etag)
  assert.equal((await app.inject('/own')).headers.etag, 'W/"v42"')
  for (const header of ['"v42"', 'W/"v42"', '"other", W/"v42"', '*']) {
    assert.equal((await app.inject({ url: '/own', headers: { 'if-none-match': header } })).statusCode, 304, header)
  }
  const changed = await app.inject({ url: '/own', headers: { 'if-none-match': '"v41"' } })
  assert.equal(changed.statusCode, 200)
  assert.equal(changed.body, 'own etag')
})

test('HEAD is served from the GET entry and never stores a body-less entry', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/page', { config: { fancyCache: true } }, async () => `page ${run('page')}`)
  const headFirst = await app.inject({ method: 'HEAD', url: '/page' })
  assert.equal(headFirst.headers['cache-status'], 'fancy-cache; fwd=miss')
  const get = await app.inject('/page')
  assert.equal(get.body, 'page 2', 'the HEAD stored nothing')
  const head = await app.inject({ method: 'HEAD', url: '/page' })
  assert.match(String(head.headers['cache-status']), /hit/)
  assert.equal(head.body, '')
  assert.equal(head.headers['content-length'], String(get.body.length))
  assert.equal(runs('page'), 2)
  assert.equal((await app.inject('/page')).body, 'page 2')
})

test('a bypassed request says so in Cache-Status', async () => {
  const { app } = await cachedApp()
  app.get('/page', { config: { fancyCache: true } }, async () => 'page')
  const response = await app.inject({ url: '/page', headers: { authorization: 'Basic x' } })
  assert.equal(response.headers['cache-status'], 'fancy-cache; fwd=bypass')
})

test('a hit runs no handler, preHandler or body parsing', async () => {
  const { app, run, runs } = await cachedApp()
  app.addHook('preHandler', async () => { run('preHandler') })
  app.addHook('preValidation', async () => { run('preValidation') })
  app.get('/page', { config: { fancyCache: true } }, async () => `page ${run('handler')}`)
  await app.inject('/page')
  await app.inject('/page')
  await app.inject('/page')
  assert.equal(runs('handler'), 1)
  assert.equal(runs('preHandler'), 1)
  assert.equal(runs('preValidation'), 1)
})

test('JSON responses are cached with their content type', async () => {
  const { app, run } = await cachedApp()
  app.get('/api', { config: { fancyCache: true } }, async () => ({ run: run('api'), items: [1, 2] }))
  await app.inject('/api')
  const hit = await app.inject('/api')
  assert.deepEqual(hit.json(), { run: 1, items: [1, 2] })
  assert.equal(hit.headers['content-type'], 'application/json; charset=utf-8')
})

test('every outcome is published on the fastify-fancy-cache diagnostics channel', async () => {
  const { app } = await cachedApp({ staleWhileRevalidate: 60 })
  app.get('/page', { config: { fancyCache: 1 } }, async () => 'page')
  app.get('/private', { config: { fancyCache: true } }, async (request, reply) => reply.header('cache-control', 'private').send('p'))
  const seen: string[] = []
  const listener = (message: unknown) => {
    const event = message as CacheEvent
    seen.push(`${event.outcome} ${event.request.url} ${event.key === undefined ? 'no key' : 'key'}`)
  }
  subscribe('fastify-fancy-cache', listener)
  try {
    await app.inject('/page')
    await app.inject('/page')
    await app.inject({ url: '/page', headers: { authorization: 'Basic x' } })
    await app.inject('/private')
    await sleep(1100)
    await app.inject('/page')
  } finally {
    unsubscribe('fastify-fancy-cache', listener)
  }
  assert.deepEqual(seen.slice(0, 5), [
    'stored /page key', 'hit /page key', 'bypass /page no key', 'miss /private key', 'stale /page key'
  ])
})
