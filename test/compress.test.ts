import assert from 'node:assert/strict'
import { test } from 'node:test'
import { gunzipSync } from 'node:zlib'
import Fastify from 'fastify'
import compress from '@fastify/compress'
import fancyCache from '../index.ts'

const page = `<html><body>${'<p>a compressible paragraph</p>'.repeat(200)}</body></html>`

for (const order of ['compress first', 'cache first']) {
  test(`with @fastify/compress (${order}) a gzip client gets gzip and a plain client never gets compressed bytes`, async () => {
    const app = Fastify()
    let runs = 0
    if (order === 'compress first') {
      await app.register(compress, { global: true, threshold: 100 })
      await app.register(fancyCache)
    } else {
      await app.register(fancyCache)
      await app.register(compress, { global: true, threshold: 100 })
    }
    app.get('/page', { config: { fancyCache: true } }, async (request, reply) => {
      runs++
      return reply.type('text/html').send(page)
    })
    const requests = [
      { 'accept-encoding': 'gzip' },
      {},
      { 'accept-encoding': 'gzip' },
      {},
      { 'accept-encoding': 'identity' },
      { 'accept-encoding': 'gzip' }
    ]
    for (const headers of requests) {
      const response = await app.inject({ url: '/page', headers })
      assert.equal(response.statusCode, 200)
      if (headers['accept-encoding'] === 'gzip') {
        assert.equal(response.headers['content-encoding'], 'gzip', JSON.stringify(headers))
        assert.equal(gunzipSync(response.rawPayload).toString(), page)
      } else {
        assert.equal(response.headers['content-encoding'], undefined, JSON.stringify(headers))
        assert.equal(response.body, page)
      }
    }
    const hit = await app.inject({ url: '/page', headers: { 'accept-encoding': 'gzip' } })
    assert.match(String(hit.headers['cache-status']), /hit/)
    assert.ok(runs <= 3, `handler ran ${runs} times for 3 distinct encodings`)
  })
}
