import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cachedApp, sleep } from './helpers/app.ts'

test('20 concurrent requests for one cold key run the handler once and all get the same body', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/slow', { config: { fancyCache: true } }, async () => {
    const n = run('slow')
    await sleep(50)
    return `slow page ${n}`
  })
  const responses = await Promise.all(Array.from({ length: 20 }, () => app.inject('/slow')))
  assert.equal(runs('slow'), 1)
  for (const response of responses) {
    assert.equal(response.statusCode, 200)
    assert.equal(response.body, 'slow page 1')
  }
  assert.equal(responses.filter((r) => r.headers['cache-status'] === 'fancy-cache; fwd=miss; stored').length, 1)
})

test('when the leader\'s response is not cacheable, every waiter runs its own handler and succeeds', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/personal', { config: { fancyCache: true } }, async (request, reply) => {
    const n = run('personal')
    await sleep(30)
    reply.header('cache-control', 'private')
    return `personal ${n}`
  })
  const responses = await Promise.all(Array.from({ length: 20 }, () => app.inject('/personal')))
  assert.equal(runs('personal'), 20)
  assert.deepEqual(responses.map((r) => r.statusCode), Array(20).fill(200))
  assert.equal(new Set(responses.map((r) => r.body)).size, 20)
})

test('when the leader fails, the waiters still get answers', async () => {
  const { app, run } = await cachedApp()
  app.get('/flaky', { config: { fancyCache: true } }, async () => {
    const n = run('flaky')
    await sleep(30)
    if (n === 1) throw new Error('database hiccup')
    return `flaky ${n}`
  })
  const responses = await Promise.all(Array.from({ length: 10 }, () => app.inject('/flaky')))
  assert.equal(responses.filter((r) => r.statusCode === 500).length, 1)
  assert.equal(responses.filter((r) => r.statusCode === 200).length, 9)
})

test('concurrent requests for different keys do not wait for each other', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/item/:id', { config: { fancyCache: true } }, async (request) => {
    run('item')
    await sleep(20)
    return `item ${(request.params as { id: string }).id}`
  })
  const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => app.inject(`/item/${i % 5}`)))
  assert.equal(runs('item'), 5)
  responses.forEach((r, i) => assert.equal(r.body, `item ${i % 5}`))
})

test('a waiter whose Vary headers differ from the leader\'s gets its own page', async () => {
  const { app, run } = await cachedApp()
  app.get('/lang', { config: { fancyCache: true } }, async (request, reply) => {
    run('lang')
    await sleep(30)
    reply.header('vary', 'accept-language')
    return `in ${String(request.headers['accept-language'])}`
  })
  const [en, fr] = await Promise.all([
    app.inject({ url: '/lang', headers: { 'accept-language': 'en' } }),
    app.inject({ url: '/lang', headers: { 'accept-language': 'fr' } })
  ])
  assert.equal(en.body, 'in en')
  assert.equal(fr.body, 'in fr')
})
