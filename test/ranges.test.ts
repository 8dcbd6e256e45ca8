import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cachedApp } from './helpers/app.ts'

const BODY = '0123456789'

async function rangeApp () {
  const cached = await cachedApp()
  cached.app.get('/file', { config: { fancyCache: 60 } }, async (request, reply) => {
    cached.run('file')
    return reply.type('text/plain').header('etag', '"f1"').header('last-modified', 'Wed, 01 Jan 2020 00:00:00 GMT').send(BODY)
  })
  return cached
}

test('a hit with one byte range is a 206 with Content-Range, cut from the stored full body', async () => {
  const { app, runs } = await rangeApp()
  await app.inject('/file')
  for (const [range, text, contentRange] of [['bytes=0-1', '01', 'bytes 0-1/10'], ['bytes=7-', '789', 'bytes 7-9/10'],
    ['bytes=-1', '9', 'bytes 9-9/10'], ['bytes=5-100', '56789', 'bytes 5-9/10']]) {
    const part = await app.inject({ url: '/file', headers: { range: range! } })
    assert.deepEqual([part.statusCode, part.body, part.headers['content-range'], part.headers['content-length']],
      [206, text, contentRange, String(text!.length)], range)
  }
  assert.equal(runs('file'), 1)
})

test('an unsatisfiable range is a 416 naming the size; several ranges get the whole 200', async () => {
  const { app } = await rangeApp()
  await app.inject('/file')
  const unsatisfiable = await app.inject({ url: '/file', headers: { range: 'bytes=10-' } })
  assert.deepEqual([unsatisfiable.statusCode, unsatisfiable.headers['content-range'], unsatisfiable.body], [416, 'bytes */10', ''])
  const several = await app.inject({ url: '/file', headers: { range: 'bytes=0-1, 4-5' } })
  assert.deepEqual([several.statusCode, several.body, several.headers['content-range']], [200, BODY, undefined])
})

test('If-Range: the stored ETag or Last-Modified lets the range through, anything else gets the whole body', async () => {
  const { app } = await rangeApp()
  await app.inject('/file')
  const same = await app.inject({ url: '/file', headers: { range: 'bytes=0-1', 'if-range': '"f1"' } })
  assert.deepEqual([same.statusCode, same.body], [206, '01'])
  const dated = await app.inject({ url: '/file', headers: { range: 'bytes=0-1', 'if-range': 'Wed, 01 Jan 2020 00:00:00 GMT' } })
  assert.equal(dated.statusCode, 206)
  const changed = await app.inject({ url: '/file', headers: { range: 'bytes=0-1', 'if-range': '"f0"' } })
  assert.deepEqual([changed.statusCode, changed.body], [200, BODY])
})

test('a Range request that misses gets its part of the full 200, which is stored whole', async () => {
  const { app, runs } = await rangeApp()
  const part = await app.inject({ url: '/file', headers: { range: 'bytes=2-3' } })
  assert.deepEqual([part.statusCode, part.body, part.headers['content-range']], [206, '23', 'bytes 2-3/10'])
  const whole = await app.inject('/file')
  assert.deepEqual([whole.statusCode, whole.body, runs('file')], [200, BODY, 1])
})

test('a 206 from the handler is never stored', async () => {
  const { app, run, runs } = await cachedApp({ statusCodes: [200, 206] })
  app.get('/partial', { config: { fancyCache: 60 } }, async (request, reply) => {
    run('partial')
    return reply.code(206).header('content-range', 'bytes 0-1/10').send('01')
  })
  await app.inject('/partial')
  await app.inject('/partial')
  assert.equal(runs('partial'), 2)
})

test('a HEAD with a Range gets the whole response head', async () => {
  const { app } = await rangeApp()
  await app.inject('/file')
  const head = await app.inject({ method: 'HEAD', url: '/file', headers: { range: 'bytes=0-1' } })
  assert.deepEqual([head.statusCode, head.headers['content-range']], [200, undefined])
})

test('If-Modified-Since on a hit: 304 when the stored Last-Modified is not later, the body otherwise', async () => {
  const { app } = await rangeApp()
  await app.inject('/file')
  const unchanged = await app.inject({ url: '/file', headers: { 'if-modified-since': 'Thu, 02 Jan 2020 00:00:00 GMT' } })
  assert.deepEqual([unchanged.statusCode, unchanged.body], [304, ''])
  const changed = await app.inject({ url: '/file', headers: { 'if-modified-since': 'Tue, 31 Dec 2019 00:00:00 GMT' } })
  assert.deepEqual([changed.statusCode, changed.body], [200, BODY])
})
