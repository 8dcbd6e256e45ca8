import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cachedApp, sleep } from './helpers/app.ts'

const headersMode = { freshness: 'headers' as const, ttl: 0 }

test("freshness: 'headers' takes the lifetime from the response: s-maxage over max-age, the ttl only for responses without one", async () => {
  const { app, run, runs } = await cachedApp({ freshness: 'headers', ttl: 0 })
  app.get('/shared', { config: { fancyCache: true } }, async (request, reply) => {
    run('shared')
    return reply.header('cache-control', 'max-age=0, s-maxage=60').send('shared')
  })
  app.get('/none', { config: { fancyCache: true } }, async () => { run('none'); return 'none' })
  app.get('/default', { config: { fancyCache: 30 } }, async () => { run('default'); return 'default' })
  for (let i = 0; i < 2; i++) {
    await app.inject('/shared')
    await app.inject('/none')
    await app.inject('/default')
  }
  assert.deepEqual([runs('shared'), runs('none'), runs('default')], [1, 2, 1])
  const hit = await app.inject('/shared')
  assert.match(String(hit.headers['cache-status']), /^fancy-cache; hit; ttl=(59|60)$/)
  assert.match(String((await app.inject('/default')).headers['cache-status']), /^fancy-cache; hit; ttl=(29|30)$/)
})

test("in 'headers' mode the app's Cache-Control is sent as it is, and no-store / private responses are not stored", async () => {
  const { app, run, runs } = await cachedApp(headersMode)
  app.get('/page', { config: { fancyCache: true } }, async (request, reply) => reply.header('cache-control', 'public, max-age=120').send('x'))
  app.get('/private', { config: { fancyCache: true } }, async (request, reply) => {
    run('private')
    return reply.header('cache-control', 'private, max-age=120').send('mine')
  })
  const miss = await app.inject('/page')
  const hit = await app.inject('/page')
  assert.equal(miss.headers['cache-control'], 'public, max-age=120')
  assert.equal(hit.headers['cache-control'], 'public, max-age=120')
  assert.equal(hit.headers.expires, undefined)
  await app.inject('/private')
  await app.inject('/private')
  assert.equal(runs('private'), 2)
})

test('CDN-Cache-Control and Fancy-Cache-Control decide over Cache-Control; Fancy-Cache-Control is never sent', async () => {
  const { app, run, runs } = await cachedApp(headersMode)
  app.get('/cdn', { config: { fancyCache: true } }, async (request, reply) => {
    run('cdn')
    return reply.header('cache-control', 'no-store').header('cdn-cache-control', 'max-age=60').send('cdn')
  })
  app.get('/own', { config: { fancyCache: true } }, async (request, reply) => {
    run('own')
    return reply.header('cache-control', 'max-age=5').header('fancy-cache-control', 'max-age=300').send('own')
  })
  await app.inject('/cdn')
  const cdnHit = await app.inject('/cdn')
  assert.equal(runs('cdn'), 1)
  assert.equal(cdnHit.headers['cdn-cache-control'], 'max-age=60')
  const miss = await app.inject('/own')
  const hit = await app.inject('/own')
  assert.equal(runs('own'), 1)
  assert.equal(miss.headers['fancy-cache-control'], undefined)
  assert.equal(hit.headers['fancy-cache-control'], undefined)
  assert.equal(hit.headers['cache-control'], 'max-age=5')
  assert.match(String(hit.headers['cache-status']), /ttl=(299|300)$/)
})

for (const freshness of ['route', 'headers'] as const) {
  test(`targeted private, no-store and no-cache are never stored (freshness: '${freshness}')`, async () => {
    const { app, run, runs } = await cachedApp({ freshness, ttl: 60 })
    for (const field of ['cdn-cache-control', 'fancy-cache-control']) {
      for (const directive of ['private', 'no-store', 'no-cache']) {
        const url = `/${field}/${directive}`
        app.get(url, { config: { fancyCache: true } }, async (request, reply) => {
          run(url)
          return reply.header('cache-control', 'max-age=600').header(field, directive).header('etag', '"v"').send('x')
        })
      }
    }
    await app.ready()
    for (const field of ['cdn-cache-control', 'fancy-cache-control']) {
      for (const directive of ['private', 'no-store', 'no-cache']) {
        await app.inject(`/${field}/${directive}`)
        await app.inject(`/${field}/${directive}`)
        assert.equal(runs(`/${field}/${directive}`), 2, `${field}: ${directive}`)
      }
    }
  })
}

test("the response's own Age and Date count: a hit's Age is its current age, and a too old response is not stored", async () => {
  const { app, run, runs } = await cachedApp(headersMode)
  const date = new Date(Date.now() - 30_000).toUTCString()
  app.get('/aged', { config: { fancyCache: true } }, async (request, reply) => reply.header('cache-control', 'max-age=600').header('age', '100').send('x'))
  app.get('/dated', { config: { fancyCache: true } }, async (request, reply) => reply.header('cache-control', 'max-age=600').header('date', date).send('x'))
  app.get('/stale', { config: { fancyCache: true } }, async (request, reply) => {
    run('stale')
    return reply.header('cache-control', 'max-age=60').header('age', '120').send('x')
  })
  await app.inject('/aged')
  const aged = await app.inject('/aged')
  assert.match(String(aged.headers.age), /^10[01]$/)
  assert.match(String(aged.headers['cache-status']), /ttl=(499|500)$/)
  await app.inject('/dated')
  const dated = await app.inject('/dated')
  assert.equal(dated.headers.date, date)
  assert.match(String(dated.headers.age), /^3[01]$/)
  await app.inject('/stale')
  await app.inject('/stale')
  assert.equal(runs('stale'), 2)
})

for (const freshness of ['route', 'headers'] as const) {
  test(`a hit sends the Date of the response it stored (freshness: '${freshness}')`, async () => {
    const { app } = await cachedApp({ freshness, ttl: 60 })
    app.get('/page', { config: { fancyCache: true } }, async (request, reply) => reply.header('cache-control', 'max-age=60').send('x'))
    const miss = await app.inject('/page')
    await sleep(1100)
    const hit = await app.inject('/page')
    assert.equal(hit.headers['cache-status']?.toString().startsWith('fancy-cache; hit'), true)
    assert.equal(hit.headers.date, miss.headers.date)
  })
}

test('a stale entry with a validator is revalidated: the handler is asked conditionally, and its 304 refreshes the entry', async () => {
  const { app, run, runs } = await cachedApp(headersMode)
  const seen: unknown[] = []
  app.get('/page', { config: { fancyCache: true } }, async (request, reply) => {
    const n = run('page')
    seen.push(request.headers['if-none-match'])
    reply.header('etag', '"v1"').header('x-render', String(n))
    if (request.headers['if-none-match'] === '"v1"') return reply.code(304).header('cache-control', 'max-age=60').send()
    return reply.header('cache-control', 'no-cache').send('body one')
  })
  const first = await app.inject('/page')
  const second = await app.inject('/page')
  assert.deepEqual([second.statusCode, second.body, second.headers['x-render']], [200, 'body one', '2'])
  assert.equal(second.headers['cache-control'], 'max-age=60')
  assert.deepEqual(seen, [undefined, '"v1"'])
  assert.equal(first.headers['x-render'], '1')
  // Freshened by the 304: fresh for a minute now.
  const third = await app.inject('/page')
  assert.equal(runs('page'), 2)
  assert.equal(third.body, 'body one')
  assert.match(String(third.headers['cache-status']), /^fancy-cache; hit; ttl=(59|60)$/)
})

test('a revalidation answered with a 200 replaces the entry; a client\'s own matching If-None-Match then gets a 304', async () => {
  const { app, run } = await cachedApp(headersMode)
  app.get('/page', { config: { fancyCache: true } }, async (request, reply) => {
    const n = run('page')
    if (n === 3 && request.headers['if-none-match'] === '"v2"') return reply.code(304).send()
    return reply.header('cache-control', 'no-cache').header('etag', `"v${n}"`).send(`body ${n}`)
  })
  await app.inject('/page')
  const replaced = await app.inject('/page')
  assert.deepEqual([replaced.body, replaced.headers.etag], ['body 2', '"v2"'])
  const conditional = await app.inject({ url: '/page', headers: { 'if-none-match': '"v2"' } })
  assert.equal(conditional.statusCode, 304)
})

test('must-revalidate keeps a stale response from being served on error; without it stale-if-error serves it', async () => {
  const { app, run } = await cachedApp({ ...headersMode, staleIfError: 60 })
  for (const [url, cacheControl] of [['/strict', 'max-age=1, must-revalidate'], ['/lenient', 'max-age=1']]) {
    app.get(url!, { config: { fancyCache: true } }, async (request, reply) => {
      if (run(url!) > 1) return reply.code(503).send('down')
      return reply.header('cache-control', cacheControl!).send('up')
    })
  }
  await app.inject('/strict')
  await app.inject('/lenient')
  await sleep(1100)
  assert.equal((await app.inject('/strict')).statusCode, 503)
  const lenient = await app.inject('/lenient')
  assert.deepEqual([lenient.statusCode, lenient.body], [200, 'up'])
})

test("in 'headers' mode a request with Authorization is stored only when the response says public, s-maxage or must-revalidate", async () => {
  const { app, run, runs } = await cachedApp(headersMode)
  app.get('/public', { config: { fancyCache: true } }, async (request, reply) => {
    run('public')
    return reply.header('cache-control', 'public, max-age=60').send('public')
  })
  app.get('/plain', { config: { fancyCache: true } }, async (request, reply) => {
    run('plain')
    return reply.header('cache-control', 'max-age=60').send('plain')
  })
  const authorization = 'Bearer someone'
  for (let i = 0; i < 2; i++) {
    await app.inject({ url: '/public', headers: { authorization } })
    await app.inject({ url: '/plain', headers: { authorization } })
  }
  assert.deepEqual([runs('public'), runs('plain')], [1, 2])
})

test('request directives are ignored unless honorRequestCacheControl is on', async () => {
  const { app, run, runs } = await cachedApp(headersMode)
  app.get('/page', { config: { fancyCache: true } }, async (request, reply) => {
    run('page')
    return reply.header('cache-control', 'max-age=60').send('x')
  })
  await app.inject('/page')
  await app.inject({ url: '/page', headers: { 'cache-control': 'no-cache' } })
  await app.inject({ url: '/page', headers: { 'cache-control': 'max-age=0' } })
  assert.equal(runs('page'), 1)
})

test('with honorRequestCacheControl: no-cache and min-fresh reach the handler, only-if-cached gets 504, no-store stores nothing', async () => {
  const { app, run, runs } = await cachedApp({ ...headersMode, honorRequestCacheControl: true })
  app.get('/page', { config: { fancyCache: true } }, async (request, reply) => {
    run('page')
    return reply.header('cache-control', 'max-age=60').send('x')
  })
  app.get('/kept', { config: { fancyCache: true } }, async (request, reply) => {
    run('kept')
    return reply.header('cache-control', 'max-age=60').send('x')
  })
  const nothing = await app.inject({ url: '/page', headers: { 'cache-control': 'only-if-cached' } })
  assert.equal(nothing.statusCode, 504)
  assert.equal(runs('page'), 0)
  await app.inject('/page')
  assert.equal((await app.inject({ url: '/page', headers: { 'cache-control': 'max-age=600' } })).headers['cache-status']?.toString().startsWith('fancy-cache; hit'), true)
  await app.inject({ url: '/page', headers: { 'cache-control': 'no-cache' } })
  // Fresh for a minute more, but the client wants two.
  await app.inject({ url: '/page', headers: { 'cache-control': 'min-fresh=120' } })
  assert.equal(runs('page'), 3)
  await app.inject({ url: '/kept', headers: { 'cache-control': 'no-store' } })
  await app.inject('/kept')
  assert.equal(runs('kept'), 2)
})

test("stale-while-revalidate from the response's own directive serves the stale copy while it is regenerated", async () => {
  const { app, run } = await cachedApp(headersMode)
  app.get('/page', { config: { fancyCache: true } }, async (request, reply) => {
    const n = run('page')
    return reply.header('cache-control', 'max-age=1, stale-while-revalidate=60').send(`render ${n}`)
  })
  await app.inject('/page')
  await sleep(1100)
  const stale = await app.inject('/page')
  assert.equal(stale.body, 'render 1')
  assert.match(String(stale.headers['cache-status']), /detail=stale-while-revalidate$/)
})

test('a page private to the outside is stored by this cache when Fancy-Cache-Control says so, and still sent as private', async () => {
  const { app, run, runs } = await cachedApp(headersMode)
  app.get('/dashboard', { config: { fancyCache: { keyPrefix: (request) => String(request.headers['x-user']) } } }, async (request, reply) => {
    run('dashboard')
    return reply.header('cache-control', 'private, max-age=0').header('fancy-cache-control', 'max-age=60').send('yours')
  })
  const miss = await app.inject({ url: '/dashboard', headers: { 'x-user': 'ada' } })
  const hit = await app.inject({ url: '/dashboard', headers: { 'x-user': 'ada' } })
  await app.inject({ url: '/dashboard', headers: { 'x-user': 'bob' } })
  assert.equal(runs('dashboard'), 2)
  assert.equal(miss.headers['cache-control'], 'private, max-age=0')
  assert.equal(hit.headers['cache-control'], 'private, max-age=0')
  assert.equal(hit.headers['fancy-cache-control'], undefined)
})
