import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Readable } from 'node:stream'
import Fastify from 'fastify'
import fancyCache from '../index.ts'
import { cachedApp, sleep } from './helpers/app.ts'

test('a repeated request runs the handler once and serves the same body', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/page', { config: { fancyCache: true } }, async () => `page ${run('page')}`)
  const first = await app.inject('/page')
  const second = await app.inject('/page')
  assert.equal(runs('page'), 1)
  assert.equal(first.body, 'page 1')
  assert.equal(second.body, 'page 1')
  assert.equal(second.statusCode, 200)
  assert.equal(second.headers['content-type'], 'text/plain; charset=utf-8')
})

test('fancyCache: 3600 caches for an hour, like @cache_page(3600)', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/hour', { config: { fancyCache: 3600 } }, async () => `hour ${run('hour')}`)
  await app.inject('/hour')
  const hit = await app.inject('/hour')
  assert.equal(runs('hour'), 1)
  assert.match(String(hit.headers['cache-control']), /max-age=3600/)
  assert.match(String(hit.headers['cache-status']), /hit; ttl=(3599|3600)/)
})

test('a route without fancyCache, or with false, is not cached', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/plain', async () => `plain ${run('plain')}`)
  app.get('/off', { config: { fancyCache: false } }, async () => `off ${run('off')}`)
  for (let i = 0; i < 2; i++) {
    await app.inject('/plain')
    const off = await app.inject('/off')
    assert.equal(off.headers['cache-status'], undefined)
  }
  assert.equal(runs('plain'), 2)
  assert.equal(runs('off'), 2)
})

test('an entry is regenerated after its ttl', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/short', { config: { fancyCache: 1 } }, async () => `short ${run('short')}`)
  await app.inject('/short')
  assert.equal((await app.inject('/short')).body, 'short 1')
  await sleep(1100)
  const after = await app.inject('/short')
  assert.equal(after.body, 'short 2')
  assert.equal(after.headers['cache-status'], 'fancy-cache; fwd=miss; stored')
  assert.equal(runs('short'), 2)
})

test('keyPrefix returning null bypasses the cache: the handler runs every time, nothing is stored', async () => {
  const { app, run, runs } = await cachedApp({ rememberAllUrls: true })
  app.get('/dash', { config: { fancyCache: { keyPrefix: () => null } } }, async () => `dash ${run('dash')}`)
  const first = await app.inject('/dash')
  const second = await app.inject('/dash')
  assert.equal(second.body, 'dash 2')
  assert.equal(runs('dash'), 2)
  assert.equal(first.headers['cache-status'], 'fancy-cache; fwd=bypass')
  assert.equal((await app.fancyCache.stats()).entries, 0)
})

test('an async keyPrefix works, and a new prefix is a new entry', async () => {
  const { app, run, runs } = await cachedApp()
  let latest = 'c1'
  app.get('/post', {
    config: { fancyCache: { keyPrefix: async () => { await sleep(1); return latest } } }
  }, async () => `post ${run('post')} after ${latest}`)
  await app.inject('/post')
  assert.equal((await app.inject('/post')).body, 'post 1 after c1')
  latest = 'c2'
  const fresh = await app.inject('/post')
  assert.equal(fresh.body, 'post 2 after c2')
  assert.equal((await app.inject('/post')).body, 'post 2 after c2')
  assert.equal(runs('post'), 2)
})

test('per-user keyPrefix keeps users apart (the dashboard recipe)', async () => {
  const { app } = await cachedApp()
  app.get('/me', {
    config: { fancyCache: { keyPrefix: (request) => (request.headers['x-user'] as string | undefined) ?? null } }
  }, async (request) => `dashboard of ${String(request.headers['x-user'])}`)
  await app.inject({ url: '/me', headers: { 'x-user': 'tom' } })
  await app.inject({ url: '/me', headers: { 'x-user': 'dick' } })
  assert.equal((await app.inject({ url: '/me', headers: { 'x-user': 'tom' } })).body, 'dashboard of tom')
  assert.equal((await app.inject({ url: '/me', headers: { 'x-user': 'dick' } })).body, 'dashboard of dick')
})

test('postProcessResponse runs once per miss and its output is what is stored', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/css', {
    config: {
      fancyCache: {
        postProcessResponse: (body) => {
          run('post-process')
          assert.equal(typeof body, 'string', 'text bodies arrive as strings')
          return `${String(body)}\n<!-- ${String(body).split('</style>').length - 1} style tags -->`
        }
      }
    }
  }, async (request, reply) => {
    reply.type('text/html')
    return '<style></style><style></style>'
  })
  const first = await app.inject('/css')
  const second = await app.inject('/css')
  assert.equal(runs('post-process'), 1)
  assert.equal(first.body, '<style></style><style></style>\n<!-- 2 style tags -->')
  assert.equal(second.body, first.body)
  assert.equal(second.headers['content-length'], String(Buffer.byteLength(first.body)))
})

test('postProcessResponseAlways runs on every hit and miss and is never stored', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/dashboard', {
    config: {
      fancyCache: {
        postProcessResponseAlways: (body, request) => {
          run('always')
          return String(body).replace('*NAME*', String(request.headers['x-name']))
        }
      }
    }
  }, async () => `You are logged in as *NAME* (render ${run('render')})`)
  const tom = await app.inject({ url: '/dashboard', headers: { 'x-name': 'Tom' } })
  const harry = await app.inject({ url: '/dashboard', headers: { 'x-name': 'Harry' } })
  const tomAgain = await app.inject({ url: '/dashboard', headers: { 'x-name': 'Tom' } })
  assert.equal(tom.body, 'You are logged in as Tom (render 1)')
  assert.equal(harry.body, 'You are logged in as Harry (render 1)')
  assert.equal(tomAgain.body, 'You are logged in as Tom (render 1)')
  assert.equal(runs('render'), 1)
  assert.equal(runs('always'), 3)
  assert.equal(harry.headers.etag, undefined, 'a changed body drops the ETag')
  assert.equal(harry.headers['content-length'], String(Buffer.byteLength(harry.body)))
})

test('post-processing gets a Buffer for binary content types', async () => {
  const { app } = await cachedApp()
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255])
  let seen: unknown
  app.get('/img', {
    config: { fancyCache: { postProcessResponseAlways: (body) => { seen = body; return body } } }
  }, async (request, reply) => reply.type('image/png').send(png))
  await app.inject('/img')
  const hit = await app.inject('/img')
  assert.ok(Buffer.isBuffer(seen))
  assert.deepEqual(hit.rawPayload, png)
  assert.match(String(hit.headers['cache-status']), /hit/)
})

test('an error thrown by postProcessResponse becomes the route\'s 500 and nothing is stored', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/broken', {
    config: { fancyCache: { postProcessResponse: () => { throw new Error('post-processing broke') } } }
  }, async () => `broken ${run('broken')}`)
  const first = await app.inject('/broken')
  assert.equal(first.statusCode, 500)
  await app.inject('/broken')
  assert.equal(runs('broken'), 2)
  assert.equal((await app.fancyCache.stats()).entries, 0)
})

test('onlyGetKeys: only the listed query parameters make up the key', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/blog', { config: { fancyCache: { onlyGetKeys: ['page'] } } },
    async (request) => `page ${(request.query as { page?: string }).page} run ${run('blog')}`)
  await app.inject('/blog?page=2&other=junk')
  assert.equal((await app.inject('/blog?page=2&different=junk')).body, 'page 2 run 1')
  assert.equal((await app.inject('/blog?other=crap&page=2')).body, 'page 2 run 1')
  assert.equal((await app.inject('/blog?page=3')).body, 'page 3 run 2')
  assert.equal(runs('blog'), 2)
})

test('onlyGetKeys: [] ignores the query string', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/noquery', { config: { fancyCache: { onlyGetKeys: [] } } }, async () => `run ${run('q')}`)
  await app.inject('/noquery?a=1')
  await app.inject('/noquery?b=2')
  await app.inject('/noquery')
  assert.equal(runs('q'), 1)
})

test('forgetGetKeys: the listed query parameters are dropped from the key', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/list', { config: { fancyCache: { forgetGetKeys: ['utm_source', 'fbclid'] } } }, async () => `run ${run('l')}`)
  await app.inject('/list?sort=new&utm_source=mail')
  await app.inject('/list?fbclid=x&sort=new')
  assert.equal(runs('l'), 1)
  await app.inject('/list?sort=old')
  assert.equal(runs('l'), 2)
})

test('query parameter order does not change the key; repeated parameters keep the order of their values', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/q', { config: { fancyCache: true } }, async () => `run ${run('q')}`)
  await app.inject('/q?b=2&a=1')
  await app.inject('/q?a=1&b=2')
  assert.equal(runs('q'), 1)
  await app.inject('/q?t=1&t=2')
  await app.inject('/q?t=2&t=1')
  assert.equal(runs('q'), 3)
  await app.inject('/q?t=2&x=0&t=1')
  assert.equal(runs('q'), 4)
  await app.inject('/q?x=0&t=2&t=1')
  assert.equal(runs('q'), 4)
})

test('onlyGetKeys and forgetGetKeys together fail at start-up naming the route', async () => {
  const app = Fastify()
  await app.register(fancyCache)
  assert.throws(() => app.get('/blog', { config: { fancyCache: { onlyGetKeys: ['a'], forgetGetKeys: ['b'] } } }, async () => ''),
    { code: 'FANCY_CACHE_ERR_INVALID_ROUTE_CONFIG', message: /onlyGetKeys and forgetGetKeys cannot both be set \(route GET \/blog\)/ })
})

test('invalid route configs fail at registration naming the route and the field', async () => {
  const app = Fastify()
  await app.register(fancyCache)
  const cases: [unknown, RegExp][] = [
    ['yes', /must be true, false, a ttl in seconds or an object.*route GET \/x/],
    [-5, /ttl: a whole number of seconds >= 0 \(got -5\)/],
    [{ ttl: 1.5 }, /config\.fancyCache\.ttl: a whole number of seconds >= 0 \(got 1\.5\)/],
    [{ keyPrefix: 'user' }, /keyPrefix: a function \(got "user"\)/],
    [{ onlyGetKeys: 'page' }, /onlyGetKeys: an array of strings/],
    [{ statusCodes: [] }, /statusCodes: a non-empty array/],
    [{ tll: 60 }, /unknown option "tll"/]
  ]
  for (const [fancyCache, message] of cases) {
    assert.throws(() => app.get('/x', { config: { fancyCache: fancyCache as never } }, async () => ''),
      { code: 'FANCY_CACHE_ERR_INVALID_ROUTE_CONFIG', message }, String(message))
  }
  assert.throws(() => app.post('/form', { config: { fancyCache: true } }, async () => ''),
    { message: /only GET and HEAD responses are cached \(route POST \/form\)/ })
})

test('invalid plugin options fail ready() naming the option and what was expected', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ttl: 'long' }, /ttl: a whole number of seconds >= 0 \(got "long"\)/],
    [{ store: 'mongo' }, /store: 'memory', 'redis' or an object implementing Store/],
    [{ store: { get () {} } }, /store: 'memory', 'redis' or an object implementing Store/],
    [{ maxEntries: 0 }, /maxEntries: a whole number >= 1 \(got 0\)/],
    [{ statusCodes: [700] }, /statusCodes/],
    [{ admin: { prefix: 'admin' } }, /admin.prefix: a path such as/],
    [{ namespace: 'a{b}' }, /namespace: 1-100 characters/],
    [{ remeberAllUrls: true }, /unknown option "remeberAllUrls"/]
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    app.register(fancyCache, options as never)
    await assert.rejects(async () => { await app.ready() }, { code: 'FANCY_CACHE_ERR_INVALID_OPTION', message }, String(message))
  }
  const app = Fastify()
  app.register(fancyCache, { store: 'redis' })
  await assert.rejects(async () => { await app.ready() }, { code: 'FANCY_CACHE_ERR_NO_REDIS' })
})

test('only GET and HEAD are cached', async () => {
  const { app, run, runs } = await cachedApp()
  app.route({ method: ['GET', 'POST'], url: '/both', config: { fancyCache: true }, handler: async () => `run ${run('b')}` })
  await app.inject({ method: 'POST', url: '/both' })
  await app.inject({ method: 'POST', url: '/both' })
  assert.equal(runs('b'), 2)
  await app.inject('/both')
  await app.inject('/both')
  assert.equal(runs('b'), 3)
})

test('responses that must not be stored are sent unchanged and never stored', async () => {
  const { app, run, runs } = await cachedApp({ maxBodyBytes: 1000 })
  const routes: Record<string, (reply: import('fastify').FastifyReply) => unknown> = {
    '/status': (reply) => reply.code(404).send('not found'),
    '/cookie': (reply) => reply.header('set-cookie', 'session=secret-of-the-first-visitor').send('with cookie'),
    '/private': (reply) => reply.header('cache-control', 'private, max-age=60').send('private'),
    '/no-store': (reply) => reply.header('cache-control', 'no-store').send('no-store'),
    '/no-cache': (reply) => reply.header('cache-control', 'no-cache').send('no-cache'),
    '/vary-star': (reply) => reply.header('vary', '*').send('vary star'),
    '/stream': (reply) => reply.type('text/plain').send(Readable.from(['streamed'])),
    '/big': (reply) => reply.send('x'.repeat(1001)),
    '/created': (reply) => reply.code(201).send('created')
  }
  for (const [url, respond] of Object.entries(routes)) {
    app.get(url, { config: { fancyCache: true } }, async (request, reply) => { run(url); return respond(reply) })
  }
  app.get('/zero', { config: { fancyCache: 0 } }, async () => `zero ${run('/zero')}`)
  for (const url of [...Object.keys(routes), '/zero']) {
    const first = await app.inject(url)
    const second = await app.inject(url)
    assert.equal(runs(url), 2, `${url} ran twice`)
    assert.equal(second.headers['cache-status'], 'fancy-cache; fwd=miss', url)
    assert.equal(second.body, first.body.replace('zero 1', 'zero 2'), url)
  }
  const cookieless = await app.inject('/cookie')
  assert.equal(cookieless.headers['set-cookie'], 'session=secret-of-the-first-visitor', 'the handler set it itself')
  assert.equal((await app.fancyCache.stats()).entries, 0)
})

test('Set-Cookie is never replayed: a cacheable response without one is served to others without one', async () => {
  const { app } = await cachedApp({ statusCodes: [200] })
  let n = 0
  app.get('/sometimes', { config: { fancyCache: true } }, async (request, reply) => {
    if (n++ === 0) reply.header('set-cookie', 'first=visitor')
    return 'page'
  })
  const first = await app.inject('/sometimes')
  assert.equal(first.headers['set-cookie'], 'first=visitor')
  await app.inject('/sometimes')
  const hit = await app.inject('/sometimes')
  assert.match(String(hit.headers['cache-status']), /hit/)
  assert.equal(hit.headers['set-cookie'], undefined)
})

test('statusCodes chooses what is cacheable, per plugin and per route', async () => {
  const { app, run, runs } = await cachedApp({ statusCodes: [200, 404] })
  app.get('/gone', { config: { fancyCache: true } }, async (request, reply) => reply.code(404).send(`gone ${run('gone')}`))
  app.get('/only200', { config: { fancyCache: { statusCodes: [200] } } }, async (request, reply) => reply.code(404).send(`x ${run('o')}`))
  await app.inject('/gone')
  const hit = await app.inject('/gone')
  assert.equal(hit.statusCode, 404)
  assert.equal(runs('gone'), 1)
  await app.inject('/only200')
  await app.inject('/only200')
  assert.equal(runs('o'), 2)
})

test('a request with Authorization bypasses the cache unless the route has a keyPrefix', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/account', { config: { fancyCache: true } }, async (request) => `account of ${String(request.headers.authorization)} ${run('a')}`)
  app.get('/keyed', {
    config: { fancyCache: { keyPrefix: (request) => String(request.headers.authorization) } }
  }, async (request) => `keyed ${String(request.headers.authorization)} ${run('k')}`)
  const alice = await app.inject({ url: '/account', headers: { authorization: 'Bearer alice' } })
  const bob = await app.inject({ url: '/account', headers: { authorization: 'Bearer bob' } })
  assert.equal(alice.body, 'account of Bearer alice 1')
  assert.equal(bob.body, 'account of Bearer bob 2')
  assert.equal(bob.headers['cache-status'], 'fancy-cache; fwd=bypass')
  await app.inject('/account')
  assert.equal((await app.inject('/account')).body, 'account of undefined 3', 'anonymous requests are still cached')
  await app.inject({ url: '/keyed', headers: { authorization: 'Bearer alice' } })
  assert.equal((await app.inject({ url: '/keyed', headers: { authorization: 'Bearer alice' } })).body, 'keyed Bearer alice 1')
  assert.equal((await app.inject({ url: '/keyed', headers: { authorization: 'Bearer bob' } })).body, 'keyed Bearer bob 2')
  assert.equal(runs('k'), 2)
})

test('requests with a body, rewrite headers or a bypass cookie skip the cache; Cache-Control: no-cache does not', async () => {
  const { app, run, runs } = await cachedApp({ bypassCookies: ['sessionid'] })
  app.get('/page', { config: { fancyCache: true } }, async () => `page ${run('p')}`)
  await app.inject('/page')
  const bypassing = [
    { headers: { 'x-original-url': '/admin' } },
    { headers: { 'x-rewrite-url': '/admin' } },
    { headers: { 'x-http-method-override': 'DELETE' } },
    { headers: { cookie: 'theme=dark; sessionid=abc' } },
    { headers: { 'content-type': 'text/plain' }, payload: 'body' }
  ]
  for (const extra of bypassing) {
    const response = await app.inject({ url: '/page', ...extra })
    assert.equal(response.headers['cache-status'], 'fancy-cache; fwd=bypass', JSON.stringify(extra))
  }
  assert.equal(runs('p'), 1 + bypassing.length)
  const anonymous = await app.inject({ url: '/page', headers: { cookie: 'theme=dark', 'cache-control': 'no-cache', pragma: 'no-cache' } })
  assert.match(String(anonymous.headers['cache-status']), /hit/)
  assert.equal(runs('p'), 1 + bypassing.length)
})

test('Vary-named request headers separate entries', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/lang', { config: { fancyCache: true } }, async (request, reply) => {
    reply.header('vary', 'Accept-Language')
    return `page in ${String(request.headers['accept-language'])} ${run('lang')}`
  })
  const en = await app.inject({ url: '/lang', headers: { 'accept-language': 'en' } })
  const fr = await app.inject({ url: '/lang', headers: { 'accept-language': 'fr' } })
  assert.equal(en.body, 'page in en 1')
  assert.equal(fr.body, 'page in fr 2')
  assert.equal((await app.inject({ url: '/lang', headers: { 'accept-language': 'en' } })).body, 'page in en 1')
  assert.equal((await app.inject({ url: '/lang', headers: { 'accept-language': 'fr' } })).body, 'page in fr 2')
  assert.equal(runs('lang'), 2)
})

test('one host\'s page is never served to another host', async () => {
  const { app } = await cachedApp()
  app.get('/', { config: { fancyCache: true } }, async (request) => `home of ${request.host}`)
  await app.inject({ url: '/', headers: { host: 'a.example' } })
  await app.inject({ url: '/', headers: { host: 'b.example' } })
  assert.equal((await app.inject({ url: '/', headers: { host: 'a.example' } })).body, 'home of a.example')
  assert.equal((await app.inject({ url: '/', headers: { host: 'b.example' } })).body, 'home of b.example')
})

test('with trustProxy the forwarded host and protocol separate entries', async () => {
  const { app } = await cachedApp({}, { trustProxy: true })
  app.get('/', { config: { fancyCache: true } }, async (request) => `${request.protocol}://${request.host}`)
  await app.inject({ url: '/', headers: { 'x-forwarded-host': 'a.example', 'x-forwarded-proto': 'https' } })
  await app.inject({ url: '/', headers: { 'x-forwarded-host': 'a.example', 'x-forwarded-proto': 'http' } })
  assert.equal((await app.inject({ url: '/', headers: { 'x-forwarded-host': 'a.example', 'x-forwarded-proto': 'https' } })).body, 'https://a.example')
  assert.equal((await app.inject({ url: '/', headers: { 'x-forwarded-host': 'a.example', 'x-forwarded-proto': 'http' } })).body, 'http://a.example')
})

test('routes declared before registration, after it, and in encapsulated children are all covered', async () => {
  const app = Fastify()
  let runs = 0
  app.get('/before', { config: { fancyCache: true } }, async () => `before ${++runs}`)
  await app.register(fancyCache)
  app.get('/after', { config: { fancyCache: true } }, async () => `after ${++runs}`)
  app.register(async (child) => {
    child.get('/child', { config: { fancyCache: true } }, async () => `child ${++runs}`)
    child.register(async (grandchild) => {
      grandchild.get('/grandchild', { config: { fancyCache: 60 } }, async () => `grandchild ${++runs}`)
    }, { prefix: '/deep' })
  })
  for (const url of ['/before', '/after', '/child', '/deep/grandchild']) {
    await app.inject(url)
    const hit = await app.inject(url)
    assert.match(String(hit.headers['cache-status']), /hit/, url)
  }
  assert.equal(runs, 4)
})

test('an invalid config on a route declared before registration fails its first request, naming the route', async () => {
  const app = Fastify()
  app.get('/early', { config: { fancyCache: 'often' as never } }, async () => 'early')
  await app.register(fancyCache)
  const response = await app.inject('/early')
  assert.equal(response.statusCode, 500)
  assert.match(response.json().message, /route GET \/early/)
})

test('the plugin registered in a child scope covers that scope only', async () => {
  const app = Fastify()
  let runs = 0
  app.get('/outside', { config: { fancyCache: true } }, async () => `outside ${++runs}`)
  await app.register(async (child) => {
    await child.register(fancyCache)
    child.get('/inside', { config: { fancyCache: true } }, async () => `inside ${++runs}`)
  })
  await app.inject('/inside')
  assert.match(String((await app.inject('/inside')).headers['cache-status']), /hit/)
  await app.inject('/outside')
  assert.equal((await app.inject('/outside')).headers['cache-status'], undefined)
})

test('pages of one route that vary on different headers are each served from the cache', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/v/:page', { config: { fancyCache: true } }, async (request, reply) => {
    const page = (request.params as { page: string }).page
    if (page === 'translated') reply.header('vary', 'accept-language')
    return `${page} in ${String(request.headers['accept-language'])} ${run(page)}`
  })
  const en = { 'accept-language': 'en' }
  const fr = { 'accept-language': 'fr' }
  await app.inject({ url: '/v/translated', headers: en })
  await app.inject({ url: '/v/plain', headers: en })
  for (let i = 0; i < 2; i++) {
    assert.equal((await app.inject({ url: '/v/translated', headers: en })).body, 'translated in en 1')
    assert.equal((await app.inject({ url: '/v/plain', headers: fr })).body, 'plain in en 1')
  }
  assert.equal((await app.inject({ url: '/v/translated', headers: fr })).body, 'translated in fr 2')
  assert.equal(runs('translated'), 2)
  assert.equal(runs('plain'), 1)
})
