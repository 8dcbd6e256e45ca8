import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cachedApp } from './helpers/app.ts'

test('a 10,000-character query string is cached under a bounded key without trouble', async () => {
  const { app, run, runs } = await cachedApp({ rememberAllUrls: true })
  app.get('/search', { config: { fancyCache: true } }, async () => `results ${run('s')}`)
  const long = `/search?q=${'a'.repeat(10_000)}`
  assert.equal((await app.inject(long)).statusCode, 200)
  assert.equal((await app.inject(long)).body, 'results 1')
  const many = `/search?${Array.from({ length: 2000 }, (_, i) => `p${i}=${i}`).join('&')}`
  assert.equal((await app.inject(many)).statusCode, 200)
  assert.equal(runs('s'), 2)
  for await (const found of app.fancyCache.findUrls()) assert.ok(found.key.length <= 64, 'keys are hashed')
})

test('a flood of random query strings stays within maxBytes and maxEntries', async () => {
  const { app } = await cachedApp({ maxBytes: 200_000, maxEntries: 500 })
  app.get('/page', { config: { fancyCache: true } }, async () => 'x'.repeat(1000))
  for (let i = 0; i < 3000; i++) {
    const response = await app.inject(`/page?r=${Math.random()}&junk=${'j'.repeat(i % 50)}`)
    assert.equal(response.statusCode, 200)
  }
  const { entries, bytes } = await app.fancyCache.stats()
  assert.ok(bytes <= 200_000, `bytes ${bytes}`)
  assert.ok(entries <= 500 && entries > 50, `entries ${entries}`)
})

test('odd Host headers and encoded paths never crash and never mix pages', async () => {
  const { app } = await cachedApp()
  app.get('/*', { config: { fancyCache: true } }, async (request) => `${request.host} ${request.url}`)
  const hosts = ['', 'a'.repeat(300), 'evil.example:99999', '[::1]:80', 'UPPER.example', 'a b', '%00', 'x.example\t']
  for (const host of hosts) {
    const response = await app.inject({ url: '/h', headers: { host } })
    assert.ok(response.statusCode < 500, `host ${JSON.stringify(host)} → ${response.statusCode}`)
  }
  const upper = await app.inject({ url: '/h', headers: { host: 'UPPER.example' } })
  const lower = await app.inject({ url: '/h', headers: { host: 'upper.example' } })
  assert.equal(upper.body, 'UPPER.example /h')
  assert.equal(lower.body, 'upper.example /h')
  const paths = ['/%2e%2e/etc/passwd', '/%ZZ', '/a%2Fb', '/a/b', '/caf%C3%A9', '/café', '/%00', '/a//b', '/A/B']
  for (const url of paths) {
    const first = await app.inject(url)
    assert.ok(first.statusCode < 500, `${url} → ${first.statusCode}`)
  }
  assert.equal((await app.inject('/a%2Fb')).body, 'localhost:80 /a%2Fb')
  assert.equal((await app.inject('/a/b')).body, 'localhost:80 /a/b')
  assert.equal((await app.inject('/A/B')).body, 'localhost:80 /A/B')
})

test('malformed query escapes are keyed without throwing', async () => {
  const { app, run, runs } = await cachedApp()
  app.get('/q', { config: { fancyCache: { onlyGetKeys: ['page'] } } }, async () => `run ${run('q')}`)
  for (const query of ['%', '%E0%A4%A', 'pa%67e=1', '=&&=', 'page', '+page+=1', '%FF=%FF']) {
    assert.equal((await app.inject(`/q?${query}`)).statusCode, 200, query)
  }
  assert.ok(runs('q') >= 2)
  const before = runs('q')
  await app.inject('/q?pa%67e=1&junk=2')
  assert.equal(runs('q'), before, 'an encoded name is recognised by onlyGetKeys')
})
