import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Writable } from 'node:stream'
import rateLimit from '@fastify/rate-limit'
import Fastify from 'fastify'
import fancyCache from '../index.ts'
import { cachedApp } from './helpers/app.ts'

test('a header set for every request before the cache (a request id) is never stored, and hits carry their own', async () => {
  const app = Fastify()
  let id = 0
  app.addHook('onRequest', async (_request, reply) => { reply.header('x-request-id', `req-${++id}`) })
  await app.register(fancyCache)
  app.get('/page', { config: { fancyCache: true } }, async () => 'page')
  const miss = await app.inject('/page')
  assert.equal(miss.headers['x-request-id'], 'req-1')
  const hit = await app.inject('/page')
  assert.match(String(hit.headers['cache-status']), /hit/)
  assert.equal(hit.headers['x-request-id'], 'req-2')
  const hit2 = await app.inject('/page')
  assert.equal(hit2.headers['x-request-id'], 'req-3')
})

test('@fastify/rate-limit registered before the cache counts hits and sends each request its own headers', async () => {
  const app = Fastify()
  await app.register(rateLimit, { max: 3, timeWindow: 60_000 })
  await app.register(fancyCache)
  app.get('/limited', { config: { fancyCache: true } }, async () => 'limited')
  const remaining: unknown[] = []
  for (let i = 0; i < 3; i++) remaining.push((await app.inject('/limited')).headers['x-ratelimit-remaining'])
  assert.deepEqual(remaining, ['2', '1', '0'])
  assert.equal((await app.inject('/limited')).statusCode, 429)
})

test('a miss and the hits after it send the same ETag for the same bytes, with a pass-through postProcessResponseAlways', async () => {
  const { app } = await cachedApp()
  app.get('/same', { config: { fancyCache: { postProcessResponseAlways: (body) => body } } }, async () => 'same bytes')
  const miss = await app.inject('/same')
  const hit = await app.inject('/same')
  assert.ok(miss.headers.etag !== undefined)
  assert.equal(hit.headers.etag, miss.headers.etag)
  assert.equal((await app.inject({ url: '/same', headers: { 'if-none-match': String(miss.headers.etag) } })).statusCode, 304)
})

test('a postProcessResponseAlways that changes the body drops the ETag on the miss and on every hit', async () => {
  const { app } = await cachedApp()
  app.get('/visitor', {
    config: { fancyCache: { postProcessResponseAlways: (body) => String(body).replace('*VISITOR*', 'you') } }
  }, async () => 'hello *VISITOR*')
  const miss = await app.inject('/visitor')
  const hit = await app.inject('/visitor')
  assert.equal(miss.body, 'hello you')
  assert.equal(hit.body, 'hello you')
  assert.equal(miss.headers.etag, undefined)
  assert.equal(hit.headers.etag, undefined)
  assert.equal(hit.headers['content-length'], String('hello you'.length))
})

test('stale-if-error keeps the ETag the entry was stored with', async () => {
  const { app } = await cachedApp({ staleIfError: 60 })
  let fail = false
  app.get('/sie', { config: { fancyCache: 1 } }, async (_request, reply) => {
    if (fail) return reply.code(503).send('down')
    return 'fine'
  })
  const first = await app.inject('/sie')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  fail = true
  const stale = await app.inject('/sie')
  assert.equal(stale.body, 'fine')
  assert.match(String(stale.headers['cache-status']), /stale-if-error/)
  assert.equal(stale.headers.etag, first.headers.etag)
})

test('postProcessResponseAlways runs on every response of its route with a body: hit, miss, bypass, not stored, HEAD', async () => {
  const { app } = await cachedApp({ maxBodyBytes: 100 })
  const always = (body: string | Buffer) => String(body).replaceAll('*VISITOR*', 'you')
  app.get('/p/:kind', {
    config: { fancyCache: { postProcessResponseAlways: always, keyPrefix: (request) => request.headers['x-no-key'] !== undefined ? null : 'k' } }
  }, async (request, reply) => {
    const kind = (request.params as { kind: string }).kind
    if (kind === 'missing') return reply.code(404).send('no page for *VISITOR*')
    if (kind === 'nostore') reply.header('cache-control', 'no-store')
    if (kind === 'big') return `*VISITOR* ${'x'.repeat(200)}`
    return 'page for *VISITOR*'
  })
  const bodies = [
    (await app.inject('/p/a')).body,
    (await app.inject('/p/a')).body,
    (await app.inject({ url: '/p/a', headers: { 'x-no-key': '1' } })).body,
    (await app.inject('/p/missing')).body,
    (await app.inject('/p/nostore')).body,
    (await app.inject('/p/big')).body.slice(0, 3)
  ]
  for (const body of bodies) assert.doesNotMatch(body, /\*VISITOR\*/)
  const head = await app.inject({ method: 'HEAD', url: '/p/a' })
  assert.equal(head.headers['content-length'], String('page for you'.length))
})

test('hits still run onResponse hooks and request logging, with reply.sent and the status right', async () => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const app = Fastify({ logger: { level: 'info', stream } })
  await app.register(fancyCache)
  const seen: string[] = []
  app.addHook('onResponse', async (request, reply) => { seen.push(`${request.url} ${reply.statusCode} ${String(reply.sent)}`) })
  app.get('/logged', { config: { fancyCache: true } }, async () => 'logged')
  await app.inject('/logged')
  const hit = await app.inject('/logged')
  assert.match(String(hit.headers['cache-status']), /hit/)
  assert.deepEqual(seen, ['/logged 200 true', '/logged 200 true'])
  assert.equal(lines.filter((line) => line.includes('request completed')).length, 2)
})

test('a route in scope that is not cached is answered as if the plugin were not there', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/plain', async () => `plain ${run('plain')}`)
  for (let i = 0; i < 3; i++) {
    const response = await app.inject('/plain')
    assert.equal(response.headers['cache-status'], undefined)
  }
  assert.equal(runs('plain'), 3)
})

test('a hit keeps repeated stored headers and headers an earlier hook set on the raw response', async () => {
  const app = Fastify()
  let n = 0
  app.addHook('onRequest', async (_request, reply) => { reply.raw.setHeader('x-trace', `t${++n}`) })
  await app.register(fancyCache)
  app.get('/links', { config: { fancyCache: true } }, async (_request, reply) => {
    reply.header('link', ['</a.css>; rel=preload', '</b.js>; rel=preload'])
    return 'links'
  })
  await app.inject('/links')
  const hit = await app.inject('/links')
  assert.match(String(hit.headers['cache-status']), /hit/)
  assert.equal(hit.headers['x-trace'], 't2')
  assert.deepEqual(String(hit.headers.link).split(/,\s*/), ['</a.css>; rel=preload', '</b.js>; rel=preload'])
})
