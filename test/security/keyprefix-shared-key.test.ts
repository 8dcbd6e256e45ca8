import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cachedApp } from '../helpers/app.ts'

// A keyPrefix returning '' or a non-string was silently one key shared by every visitor.

test('keyPrefix shared key: an empty string or a non-string prefix bypasses the cache instead of sharing one entry', async () => {
  const { app } = await cachedApp()
  const values: unknown[] = ['', 42, { user: 'x' }, false]
  let i = 0
  app.get('/mine', {
    config: { fancyCache: { keyPrefix: () => values[i % values.length] as string } }
  }, async (request) => `page for ${String(request.headers['x-user'])}`)
  for (; i < values.length * 2; i++) {
    const user = `u${i}`
    const response = await app.inject({ url: '/mine', headers: { 'x-user': user } })
    assert.equal(response.body, `page for ${user}`)
    assert.match(String(response.headers['cache-status']), /fwd=bypass/)
  }
})
