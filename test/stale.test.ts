import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cachedApp, eventually, sleep } from './helpers/app.ts'

test('stale-while-revalidate: 20 concurrent requests after expiry are all answered from the stale copy while one handler run refreshes it', async () => {
  const { app, run, runs } = await cachedApp({ staleWhileRevalidate: 30 })
  app.get('/news', { config: { fancyCache: 1 } }, async () => {
    const n = run('news')
    if (n > 1) await sleep(200)
    return `news v${n}`
  })
  await app.inject('/news')
  await sleep(1100)
  const responses = await Promise.all(Array.from({ length: 20 }, () => app.inject('/news')))
  for (const response of responses) {
    assert.equal(response.statusCode, 200)
    assert.equal(response.body, 'news v1')
    assert.match(String(response.headers['cache-status']), /^fancy-cache; hit; ttl=-\d+; detail=stale-while-revalidate$/)
  }
  // The background run takes 200 ms; wait for its entry to be the fresh one (HEAD requests neither store nor run).
  await eventually(async () => /^fancy-cache; hit; ttl=\d+$/.test(String((await app.inject({ method: 'HEAD', url: '/news' })).headers['cache-status'])))
  assert.equal(runs('news'), 2, 'one background run refreshed it')
  const fresh = await app.inject('/news')
  assert.equal(fresh.body, 'news v2')
  assert.match(String(fresh.headers['cache-status']), /^fancy-cache; hit; ttl=\d+$/)
})

test('stale-while-revalidate: past the window the request waits for a fresh page', async () => {
  const { app, run } = await cachedApp()
  app.get('/news', { config: { fancyCache: { ttl: 1, staleWhileRevalidate: 1 } } }, async () => `news v${run('news')}`)
  await app.inject('/news')
  await sleep(2100)
  const response = await app.inject('/news')
  assert.equal(response.body, 'news v2')
  assert.equal(response.headers['cache-status'], 'fancy-cache; fwd=miss; stored')
})

test('stale-while-revalidate keeps the revalidation key: keyPrefix and Vary variants refresh their own entry', async () => {
  const { app, run, runs } = await cachedApp({ staleWhileRevalidate: 30 })
  app.get('/me', {
    config: { fancyCache: { ttl: 1, keyPrefix: (request) => String(request.headers['x-user']) } }
  }, async (request) => `${String(request.headers['x-user'])} v${run(String(request.headers['x-user']))}`)
  await app.inject({ url: '/me', headers: { 'x-user': 'ann' } })
  await app.inject({ url: '/me', headers: { 'x-user': 'bob' } })
  await sleep(1100)
  assert.equal((await app.inject({ url: '/me', headers: { 'x-user': 'ann' } })).body, 'ann v1')
  await eventually(() => runs('ann') === 2)
  await eventually(async () => (await app.inject({ url: '/me', headers: { 'x-user': 'ann' } })).body === 'ann v2')
  assert.equal((await app.inject({ url: '/me', headers: { 'x-user': 'bob' } })).body, 'bob v1', 'bob\'s stale copy')
})

test('stale-if-error: a handler that throws or answers 5xx gets the stale entry instead', async () => {
  const { app, run } = await cachedApp({ staleIfError: 30 })
  let failure: 'throw' | '503' | 'none' = 'none'
  app.get('/page', { config: { fancyCache: 1 } }, async (request, reply) => {
    const n = run('page')
    if (failure === 'throw') throw new Error('database down')
    if (failure === '503') return reply.code(503).header('set-cookie', 'x=1').send('maintenance')
    reply.header('x-version', String(n))
    return `page v${n}`
  })
  await app.inject('/page')
  await sleep(1100)
  for (const mode of ['throw', '503'] as const) {
    failure = mode
    const response = await app.inject('/page')
    assert.equal(response.statusCode, 200, mode)
    assert.equal(response.body, 'page v1', mode)
    assert.equal(response.headers['x-version'], '1')
    assert.equal(response.headers['set-cookie'], undefined)
    assert.match(String(response.headers['cache-status']), /hit; ttl=-\d+; detail=stale-if-error/)
  }
  failure = 'none'
  const recovered = await app.inject('/page')
  assert.equal(recovered.body, 'page v4')
})

test('stale-if-error: without the option, or past its window, the error goes through', async () => {
  const { app } = await cachedApp()
  let fail = false
  app.get('/off', { config: { fancyCache: 1 } }, async () => { if (fail) throw new Error('down'); return 'ok' })
  app.get('/window', { config: { fancyCache: { ttl: 1, staleIfError: 1 } } }, async () => { if (fail) throw new Error('down'); return 'ok' })
  await app.inject('/off')
  await app.inject('/window')
  await sleep(1100)
  fail = true
  assert.equal((await app.inject('/off')).statusCode, 500)
  assert.equal((await app.inject('/window')).statusCode, 200)
  await sleep(1000)
  assert.equal((await app.inject('/window')).statusCode, 500)
})
