import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import qs from 'qs'
import fancyCache from '../../index.ts'

// The key filtered the raw query string by name, the handler read the parsed query: under the `qs` parser,
// `/only?page[]=666` was stored under `/only`'s key and served to everyone requesting `/only`.

test('query parser key mismatch: with qs, onlyGetKeys sees the query the handler sees', async () => {
  const app = Fastify({ routerOptions: { querystringParser: (text: string) => qs.parse(text) } })
  await app.register(fancyCache)
  app.get('/only', { config: { fancyCache: { onlyGetKeys: ['page'] } } },
    async (request) => `page ${JSON.stringify((request.query as { page?: unknown }).page ?? null)}`)
  const poisoned = await app.inject('/only?page[]=666')
  assert.equal(poisoned.body, 'page ["666"]')
  assert.equal((await app.inject('/only')).body, 'page null')
  assert.equal((await app.inject('/only?page=2')).body, 'page "2"')
  assert.equal((await app.inject('/only?page[]=666')).body, 'page ["666"]')
})

test('query parser key mismatch: with qs, forgetGetKeys and tracking parameters drop only what the handler ignores', async () => {
  const app = Fastify({ routerOptions: { querystringParser: (text: string) => qs.parse(text) } })
  await app.register(fancyCache)
  app.get('/list', { config: { fancyCache: { forgetGetKeys: ['ref'] } } },
    async (request) => `filter ${JSON.stringify((request.query as { filter?: unknown }).filter ?? null)}`)
  await app.inject('/list?filter[color]=red&ref=x')
  assert.equal((await app.inject('/list?filter[color]=blue')).body, 'filter {"color":"blue"}')
  assert.equal((await app.inject('/list?utm_source=mail&filter[color]=red')).body, 'filter {"color":"red"}')
  assert.equal((await app.inject('/list')).body, 'filter null')
})

test('query parser key mismatch: a parser returning something other than a plain object never shares an entry', async () => {
  const app = Fastify({ routerOptions: { querystringParser: (text: string) => new URLSearchParams(text) as unknown as Record<string, string> } })
  await app.register(fancyCache)
  app.get('/s', { config: { fancyCache: true } }, async (request) => `q ${String(request.query)}`)
  await app.inject('/s?a=1')
  assert.equal((await app.inject('/s?a=2')).body, 'q a=2')
})
