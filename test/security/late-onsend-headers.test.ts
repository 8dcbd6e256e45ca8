import assert from 'node:assert/strict'
import { test } from 'node:test'
import cookie from '@fastify/cookie'
import { cachedApp } from '../helpers/app.ts'

// The cache decided what to store in its own onSend hook, so a Set-Cookie or `Cache-Control: private` added by an
// onSend hook registered later (@fastify/cookie registered after the plugin, say) was stored and replayed, with one
// visitor's session id in the body, to the next.

test('late onSend headers: @fastify/cookie registered after the cache, setting a session cookie, is never stored', async () => {
  const { app, run } = await cachedApp({ bypassCookies: [] })
  await app.register(cookie)
  app.get('/welcome', { config: { fancyCache: true } }, async (_request, reply) => {
    const sid = `s${run('welcome')}`
    reply.setCookie('sid', sid)
    return `welcome, your session is ${sid}`
  })
  const first = await app.inject('/welcome')
  assert.match(String(first.headers['set-cookie']), /sid=s1/)
  const second = await app.inject('/welcome')
  assert.equal(second.body, 'welcome, your session is s2')
  assert.match(String(second.headers['set-cookie']), /sid=s2/)
  assert.doesNotMatch(String(second.headers['cache-status']), /hit/)
})

test('late onSend headers: a later onSend hook that marks the response private stops it being stored', async () => {
  const { app, run, runs } = await cachedApp()
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.url.startsWith('/private')) reply.header('cache-control', 'private')
    return payload
  })
  app.get('/private', { config: { fancyCache: true } }, async () => `secret ${run('p')}`)
  await app.inject('/private')
  const second = await app.inject('/private')
  assert.equal(second.body, 'secret 2')
  assert.equal(runs('p'), 2)
})

test('late onSend headers: a later onSend hook setting Set-Cookie on a route the cache already serves', async () => {
  const { app, run } = await cachedApp()
  let tag = false
  app.addHook('onSend', async (_request, reply, payload) => {
    if (tag) reply.header('set-cookie', 'tracker=1')
    return payload
  })
  app.get('/page', { config: { fancyCache: true } }, async () => `page ${run('page')}`)
  tag = true
  await app.inject('/page')
  tag = false
  assert.equal((await app.inject('/page')).body, 'page 2')
})
