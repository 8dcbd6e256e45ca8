import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import fancyCache from '../index.ts'
import { shardOf } from '../lib/stores/redis/codec.ts'
import { sleep } from './helpers/app.ts'
import { RedisServer } from './helpers/redis-server.ts'

let server: RedisServer
const clients: Redis[] = []
const apps: FastifyInstance[] = []

before(async () => {
  server = await RedisServer.start()
})

after(async () => {
  await Promise.all(apps.map((app) => app.close()))
  for (const client of clients) client.disconnect()
  await server?.stop()
})

/** An app on the test Redis whose page varies on User-Agent; `runs` counts handler runs per User-Agent. */
async function varyingApp (namespace: string, runs: Map<string, number>, handlerMs = 0) {
  const client = new Redis({ port: server.port, host: '127.0.0.1' })
  clients.push(client)
  const app = Fastify()
  apps.push(app)
  await app.register(fancyCache, { store: 'redis', redis: client, namespace, rememberAllUrls: true })
  app.get('/ua', { config: { fancyCache: true } }, async (request, reply) => {
    const agent = String(request.headers['user-agent'])
    runs.set(agent, (runs.get(agent) ?? 0) + 1)
    if (handlerMs > 0) await sleep(handlerMs)
    reply.header('vary', 'user-agent')
    return `for ${agent}`
  })
  await app.ready()
  return { app, client }
}

test('1,000 User-Agent variants of one URL: each served its own page, Redis keeps the newest maxVariants', { timeout: 120_000 }, async (t) => {
  const runs = new Map<string, number>()
  const { app, client } = await varyingApp('variants', runs)
  const started = performance.now()
  for (let i = 0; i < 1000; i++) {
    const response = await app.inject({ url: '/ua', headers: { 'user-agent': `agent ${i}` } })
    assert.equal(response.body, `for agent ${i}`)
  }
  const seconds = (performance.now() - started) / 1000
  const [entry] = await (async () => {
    const found = []
    for await (const e of app.fancyCache.findUrls('/ua')) found.push(e)
    return found
  })()
  const fields = await client.hlen(`variants:{${shardOf(entry!.key)}}:e:${entry!.key}`)
  t.diagnostic(`1,000 variants requested in ${seconds.toFixed(1)} s; the group holds ${fields} fields`)
  assert.ok(fields <= 2 * 64 + 10, `${fields} fields in one hash`)
  const newest = await app.inject({ url: '/ua', headers: { 'user-agent': 'agent 999' } })
  assert.match(String(newest.headers['cache-status']), /hit/)
  assert.equal(newest.body, 'for agent 999')
  const oldest = await app.inject({ url: '/ua', headers: { 'user-agent': 'agent 0' } })
  assert.equal(oldest.body, 'for agent 0')
  assert.doesNotMatch(String(oldest.headers['cache-status']), /hit/)
})

test('concurrent misses for several variants on two instances: one render per variant', { timeout: 60_000 }, async (t) => {
  const runs = new Map<string, number>()
  const { app: a } = await varyingApp('variant-locks', runs, 300)
  const { app: b } = await varyingApp('variant-locks', runs, 300)
  // The Vary list is learnt from a first response; the variants then regenerate concurrently.
  await a.inject({ url: '/ua', headers: { 'user-agent': 'warm-up' } })
  const agents = ['one', 'two', 'three', 'four']
  const started = performance.now()
  const responses = await Promise.all(Array.from({ length: 24 }, (_, i) =>
    (i % 2 === 0 ? a : b).inject({ url: '/ua', headers: { 'user-agent': agents[i % 4]! } })))
  t.diagnostic(`24 requests for 4 variants (300 ms handler) on two instances answered in ${(performance.now() - started).toFixed(0)} ms`)
  for (const [i, response] of responses.entries()) assert.equal(response.body, `for ${agents[i % 4]}`)
  assert.deepEqual(agents.map((agent) => runs.get(agent)), [1, 1, 1, 1])
})
