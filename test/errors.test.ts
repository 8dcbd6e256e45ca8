import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import fancyCache from '../index.ts'
import { FancyCacheError, errorCodes, invalidArgument, invalidOption } from '../lib/errors.ts'

test('errors carry their code, the status Fastify answers with and a message naming the package', () => {
  const err = invalidOption('ttl: a whole number of seconds >= 0 (got "long")')
  assert.equal(err.code, 'FANCY_CACHE_ERR_INVALID_OPTION')
  assert.equal(err.statusCode, 500)
  assert.equal(err.name, 'FastifyError')
  assert.equal(err.message, 'fastify-fancy-cache: ttl: a whole number of seconds >= 0 (got "long")')
  assert.equal(String(err), 'FastifyError [FANCY_CACHE_ERR_INVALID_OPTION]: fastify-fancy-cache: ttl: a whole number of seconds >= 0 (got "long")')
  assert.equal(invalidArgument('purgeKey needs a key').statusCode, 400)
})

test('instanceof tells the codes apart, and every code is a FancyCacheError and an Error', () => {
  const err = invalidArgument('bad pattern')
  assert.ok(err instanceof errorCodes.FANCY_CACHE_ERR_INVALID_ARGUMENT)
  assert.ok(!(err instanceof errorCodes.FANCY_CACHE_ERR_INVALID_OPTION))
  assert.ok(err instanceof FancyCacheError)
  assert.ok(err instanceof Error)
})

test('a message with a percent sign is kept as written', () => {
  assert.equal(invalidArgument('50%s off %d').message, 'fastify-fancy-cache: 50%s off %d')
})

test('l1 with the memory store fails at start-up naming l1 and store: \'redis\'', async () => {
  for (const options of [{ l1: true }, { l1: { maxEntries: 10 } }, { store: 'memory' as const, l1: true }]) {
    const app = Fastify()
    app.register(fancyCache, options)
    await assert.rejects(async () => { await app.ready() }, {
      code: 'FANCY_CACHE_ERR_INVALID_OPTION',
      message: /l1 is an in-process tier in front of Redis, so it needs store: 'redis' \(got store: 'memory'\)/
    })
  }
  const app = Fastify()
  app.register(fancyCache, { l1: false })
  await app.ready()
  await app.close()
})

test('errors reaching a reply answer with their status code and code', async () => {
  const app = Fastify()
  await app.register(fancyCache)
  app.get('/purge', async () => app.fancyCache.purgeKey(42 as never))
  const res = await app.inject('/purge')
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().code, 'FANCY_CACHE_ERR_INVALID_ARGUMENT')
  await app.close()
})
