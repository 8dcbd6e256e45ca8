import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import fancyCache from '../../index.ts'
import { redisForFile } from '../helpers/redis-server.ts'

const redis = redisForFile()

test('on Redis, a flood of random User-Agents never pushes out the page most visitors get', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fancyCache, { store: 'redis', redis: redis.client, namespace: 'flood', maxVariants: 8 })
  const runs = new Map<string, number>()
  app.get('/', { config: { fancyCache: true } }, async (request, reply) => {
    const agent = String(request.headers['user-agent'])
    runs.set(agent, (runs.get(agent) ?? 0) + 1)
    reply.header('vary', 'user-agent')
    return `home for ${agent}`
  })
  const popular = { 'user-agent': 'Mozilla/5.0 (a browser most visitors use)' }
  await app.inject({ url: '/', headers: popular })
  for (let i = 0; i < 300; i++) {
    await app.inject({ url: '/', headers: { 'user-agent': `flood-${Math.random()}` } })
    if (i % 3 === 2) {
      const response = await app.inject({ url: '/', headers: popular })
      assert.match(String(response.headers['cache-status']), /hit/, `after ${i + 1} random agents`)
    }
  }
  assert.equal(runs.get(popular['user-agent']), 1)
})
