import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cachedApp } from '../helpers/app.ts'

// With cookies counting for nothing, a page rendered for `Cookie: sid=alice` was stored and served to anonymous
// visitors ("hello alice"). Any cookie now bypasses by default, as a shared cache in front of an app must assume.

function sessionRoute (app: Awaited<ReturnType<typeof cachedApp>>['app'], path: string) {
  app.get(path, { config: { fancyCache: true } }, async (request) => {
    const sid = /(?:^|;\s*)sid=([^;]+)/.exec(request.headers.cookie ?? '')?.[1]
    return `hello ${sid ?? 'anonymous'}`
  })
}

test('cookie session leak: a page rendered for a session cookie never reaches an anonymous visitor', async () => {
  const { app } = await cachedApp()
  sessionRoute(app, '/home')
  const alice = await app.inject({ url: '/home', headers: { cookie: 'sid=alice' } })
  assert.equal(alice.body, 'hello alice')
  assert.match(String(alice.headers['cache-status']), /fwd=bypass/)
  const anonymous = await app.inject('/home')
  assert.equal(anonymous.body, 'hello anonymous')
  assert.equal((await app.inject('/home')).headers['cache-status']?.toString().includes('hit'), true)
  // And the anonymous copy is not served to alice either: her request bypasses.
  assert.equal((await app.inject({ url: '/home', headers: { cookie: 'sid=alice' } })).body, 'hello alice')
})

test('cookie session leak: ignoreCookies lists analytics cookies that do not count, with wildcards', async () => {
  const { app, run, runs } = await cachedApp({ ignoreCookies: ['_ga*', '_gid'] })
  app.get('/page', { config: { fancyCache: true } }, async () => `page ${run('page')}`)
  await app.inject({ url: '/page', headers: { cookie: '_ga=1; _ga_XYZ=2; _gid=3' } })
  const second = await app.inject({ url: '/page', headers: { cookie: '_gid=9' } })
  assert.match(String(second.headers['cache-status']), /hit/)
  const session = await app.inject({ url: '/page', headers: { cookie: '_ga=1; sid=bob' } })
  assert.match(String(session.headers['cache-status']), /fwd=bypass/)
  assert.equal(runs('page'), 2)
})

test('cookie session leak: bypassCookies names the cookies that bypass; [] lets cookies through as before', async () => {
  const named = await cachedApp({ bypassCookies: ['sess*'] })
  named.app.get('/p', { config: { fancyCache: true } }, async () => `p ${named.run('p')}`)
  await named.app.inject({ url: '/p', headers: { cookie: 'theme=dark' } })
  assert.match(String((await named.app.inject('/p')).headers['cache-status']), /hit/)
  assert.match(String((await named.app.inject({ url: '/p', headers: { cookie: 'session_id=1' } })).headers['cache-status']), /bypass/)

  const none = await cachedApp({ bypassCookies: [] })
  none.app.get('/p', { config: { fancyCache: true } }, async () => `p ${none.run('p')}`)
  await none.app.inject({ url: '/p', headers: { cookie: 'sid=x' } })
  assert.match(String((await none.app.inject('/p')).headers['cache-status']), /hit/)
})

test('cookie session leak: a route with a keyPrefix decides for itself, cookies or not', async () => {
  const { app } = await cachedApp()
  app.get('/me', {
    config: { fancyCache: { keyPrefix: (request) => /sid=([^;]+)/.exec(request.headers.cookie ?? '')?.[1] ?? null } }
  }, async (request) => `dashboard of ${request.headers.cookie ?? ''}`)
  await app.inject({ url: '/me', headers: { cookie: 'sid=ann' } })
  const again = await app.inject({ url: '/me', headers: { cookie: 'sid=ann' } })
  assert.match(String(again.headers['cache-status']), /hit/)
  assert.equal(again.body, 'dashboard of sid=ann')
  // Per-visitor pages tell shared caches in front not to keep them.
  assert.match(String(again.headers['cache-control']), /private/)
  const other = await app.inject({ url: '/me', headers: { cookie: 'sid=ben' } })
  assert.equal(other.body, 'dashboard of sid=ben')
})

test('cookie session leak: a route with an auth hook and no keyPrefix never serves a signed-in page to an anonymous visitor', async () => {
  const { app } = await cachedApp()
  app.get('/account', {
    onRequest: async (request, reply) => {
      if (request.headers.authorization === undefined && request.headers.cookie === undefined) {
        return reply.code(401).send('sign in')
      }
    },
    config: { fancyCache: true }
  }, async (request) => `account of ${request.headers.authorization ?? request.headers.cookie ?? ''}`)
  for (const headers of [{ authorization: 'Bearer alice' }, { cookie: 'sid=alice' }]) {
    const signedIn = await app.inject({ url: '/account', headers })
    assert.match(signedIn.body, /alice/)
    const anonymous = await app.inject('/account')
    assert.equal(anonymous.statusCode, 401)
    assert.doesNotMatch(anonymous.body, /alice/)
  }
})
