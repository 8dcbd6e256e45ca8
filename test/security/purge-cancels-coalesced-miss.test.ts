import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cachedApp, sleep } from '../helpers/app.ts'

// One global purge counter: a purge anywhere refused every store in flight, so one unrelated purge during a
// 50-request coalesced miss gave 50 handler runs, and a comment posted every 100 ms kept a 150 ms page from ever
// being stored.

test('purge cancels coalesced miss: an unrelated purge during a coalesced miss still gives one handler run', async () => {
  const { app, run, runs } = await cachedApp({ rememberAllUrls: true })
  app.get('/slow', { config: { fancyCache: true } }, async () => {
    await sleep(100)
    return `slow ${run('slow')}`
  })
  app.get('/other', { config: { fancyCache: true } }, async () => 'other')
  await app.inject('/other')
  const all = Promise.all(Array.from({ length: 50 }, () => app.inject('/slow')))
  await sleep(30)
  await app.fancyCache.purgeUrls('/other')
  await app.fancyCache.purgeTags('nothing')
  const responses = await all
  assert.equal(runs('slow'), 1)
  assert.deepEqual([...new Set(responses.map((r) => r.body))], ['slow 1'])
  assert.match(String((await app.inject('/slow')).headers['cache-status']), /hit/)
})

test('purge cancels coalesced miss: purges of other pages every few ms never keep a slow page from being stored', async () => {
  const { app, run } = await cachedApp({ invalidateOnWrite: true })
  app.get('/report', { config: { fancyCache: true } }, async () => {
    await sleep(150)
    return `report ${run('report')}`
  })
  app.post('/posts/:id/comments', async (_request, reply) => reply.code(303).header('location', '/posts/1').send())
  const posting = { on: true }
  const poster = (async () => {
    while (posting.on) {
      await app.inject({ method: 'POST', url: '/posts/1/comments' })
      await sleep(20)
    }
  })()
  await app.inject('/report')
  const second = await app.inject('/report')
  posting.on = false
  await poster
  assert.match(String(second.headers['cache-status']), /hit/)
})

test('purge cancels coalesced miss: a purge of the page itself refuses the outdated render, and one waiter renders again', async () => {
  const { app, run, runs } = await cachedApp({ rememberAllUrls: true })
  let version = 1
  app.get('/doc', { config: { fancyCache: true } }, async () => {
    const seen = version
    await sleep(100)
    return `doc v${seen} run ${run('doc')}`
  })
  const all = Promise.all(Array.from({ length: 20 }, () => app.inject('/doc')))
  await sleep(30)
  version = 2
  await app.fancyCache.purgeUrls('/doc')
  const responses = await all
  // The leader's outdated render went to its own client only; the others got one fresh render.
  assert.equal(runs('doc'), 2)
  assert.equal(responses.filter((r) => r.body === 'doc v2 run 2').length, 19)
  assert.equal((await app.inject('/doc')).body, 'doc v2 run 2')
})
