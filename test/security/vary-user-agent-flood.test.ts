import assert from 'node:assert/strict'
import { test } from 'node:test'
import cors from '@fastify/cors'
import { cachedApp } from '../helpers/app.ts'

// 20,000 distinct User-Agents on a route with `Vary: User-Agent` made 20,000 entries and 25.9 MiB against limits
// of 100 entries and 2 MiB; random Origins through @fastify/cors did the same.

test('vary user-agent flood: distinct Vary values stay within maxEntries, maxBytes and maxVariants', async () => {
  const { app } = await cachedApp({ maxEntries: 100, maxBytes: 2 * 1024 * 1024, maxVariants: 8 })
  app.get('/ua', { config: { fancyCache: true } }, async (_request, reply) => {
    reply.header('vary', 'user-agent')
    return 'x'.repeat(2000)
  })
  for (let i = 0; i < 2000; i++) await app.inject({ url: '/ua', headers: { 'user-agent': `bot/${i}` } })
  const stats = await app.fancyCache.stats()
  assert.ok(stats.entries <= 8, `entries ${stats.entries}`)
  assert.ok(stats.bytes <= 2 * 1024 * 1024)
  // The most recent variant is still served from the cache.
  const again = await app.inject({ url: '/ua', headers: { 'user-agent': 'bot/1999' } })
  assert.match(String(again.headers['cache-status']), /hit/)
})

test('vary user-agent flood: random Origins through @fastify/cors stay within the bounds', async () => {
  const { app } = await cachedApp({ maxEntries: 100, maxBytes: 2 * 1024 * 1024 })
  await app.register(cors, { origin: true })
  app.get('/api', { config: { fancyCache: true } }, async () => ({ ok: true }))
  for (let i = 0; i < 1000; i++) {
    const response = await app.inject({ url: '/api', headers: { origin: `https://o${i}.example` } })
    assert.equal(response.headers['access-control-allow-origin'], `https://o${i}.example`)
  }
  const stats = await app.fancyCache.stats()
  assert.ok(stats.entries <= 64, `entries ${stats.entries}`)
})
