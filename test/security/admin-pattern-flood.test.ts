import assert from 'node:assert/strict'
import { test } from 'node:test'
import { adminApp, csrfOf, postForm } from '../helpers/admin-page.ts'

const flood = (n: number) => Array.from({ length: n }, (_, i) => `*a*${i}`)

test('a purge request with 90,000 patterns is refused with a coded 400 before any matching', async () => {
  const { app } = await adminApp()
  await app.inject('/a')
  const response = await app.inject({ method: 'POST', url: '/fancy-cache/api/purge', payload: { urls: flood(90_000) } })
  assert.equal(response.statusCode, 400)
  assert.equal(response.json().code, 'FANCY_CACHE_ERR_ADMIN_TOO_MANY_PATTERNS')
  assert.match(response.json().message, /at most 100 urls per request \(got 90000\)/)
  const tags = await app.inject({ method: 'POST', url: '/fancy-cache/api/purge', payload: { tags: flood(101) } })
  assert.equal(tags.statusCode, 400)
  assert.equal(tags.json().code, 'FANCY_CACHE_ERR_ADMIN_TOO_MANY_PATTERNS')
  assert.equal((await app.fancyCache.stats()).entries, 1)
})

test('100 patterns are fine; 101 in a listing, a page search or a form purge are a 400', async () => {
  const { app } = await adminApp()
  await app.inject('/a')
  const ok = await app.inject({ method: 'POST', url: '/fancy-cache/api/purge', payload: { urls: [...flood(99), '/a'] } })
  assert.deepEqual(ok.json(), { purged: 1 })
  const query = new URLSearchParams(flood(101).map((q) => ['q', q]))
  const listing = await app.inject(`/fancy-cache/api/urls?${query}`)
  assert.equal(listing.statusCode, 400)
  assert.equal(listing.json().code, 'FANCY_CACHE_ERR_ADMIN_TOO_MANY_PATTERNS')
  const search = await app.inject(`/fancy-cache?q=${encodeURIComponent(flood(101).join(' '))}`)
  assert.equal(search.statusCode, 400)
  assert.match(search.headers['content-type'] as string, /text\/html/)
  assert.match(search.body, /at most 100 patterns per request/)
  const token = csrfOf((await app.inject('/fancy-cache/confirm')).body)
  const form = await postForm(app, '/fancy-cache/purge', { _csrf: token, action: 'matching', q: flood(101).join(' '), confirm: 'yes' })
  assert.equal(form.statusCode, 400)
})
