import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AddressInfo } from 'node:net'
import { request as httpRequest } from 'node:http'
import { cachedApp, eventually, sleep } from '../helpers/app.ts'

// A handler that never answered for a cold key held its 100 coalesced waiters forever; clients that gave up still
// held memory; when the leader aborted, every waiter ran the handler at once (121 runs).

test('hung leader: waiters are answered after coalesceTimeout by one new leader, not by every waiter', async () => {
  const { app, run, runs } = await cachedApp({ coalesceTimeout: 300 })
  app.get('/cold', { config: { fancyCache: true } }, async () => {
    const n = run('cold')
    if (n === 1) await new Promise(() => {}) // the first render hangs for ever
    return `cold ${n}`
  })
  const hung = app.inject('/cold')
  hung.catch(() => {})
  await sleep(20)
  const waiters = await Promise.all(Array.from({ length: 100 }, () => app.inject('/cold')))
  assert.equal(waiters.filter((r) => r.body === 'cold 2').length, 100)
  assert.equal(runs('cold'), 2)
})

test('hung leader: when the leader\'s client leaves, one waiter takes over', async () => {
  const { app, run, runs } = await cachedApp({ coalesceTimeout: 10_000 })
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  app.get('/slow', { config: { fancyCache: true } }, async () => {
    const n = run('slow')
    if (n === 1) await gate
    return `slow ${n}`
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  try {
    const leader = httpRequest({ port, host: '127.0.0.1', path: '/slow' })
    leader.on('error', () => {})
    leader.end()
    await eventually(() => runs('slow') === 1)
    const waiters = Array.from({ length: 20 }, () => fetch(`http://127.0.0.1:${port}/slow`).then((r) => r.text()))
    await sleep(50)
    leader.destroy()
    const bodies = await Promise.all(waiters)
    assert.deepEqual([...new Set(bodies)], ['slow 2'])
    assert.equal(runs('slow'), 2)
    release()
  } finally {
    await app.close()
  }
})

test('hung leader: waiters whose clients gave up are dropped and never run the handler', async () => {
  const { app, run, runs } = await cachedApp({ coalesceTimeout: 400 })
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  app.get('/held', { config: { fancyCache: true } }, async () => {
    const n = run('held')
    if (n === 1) await gate
    return `held ${n}`
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  try {
    const leader = fetch(`http://127.0.0.1:${port}/held`).then((r) => r.text())
    await eventually(() => runs('held') === 1)
    const quitters = Array.from({ length: 50 }, () => {
      const r = httpRequest({ port, host: '127.0.0.1', path: '/held' })
      r.on('error', () => {})
      r.end()
      return r
    })
    await sleep(100)
    for (const r of quitters) r.destroy()
    // Past the wait bound nobody is left to take over: the quitters never run the handler.
    await sleep(600)
    assert.equal(runs('held'), 1)
    release()
    assert.equal(await leader, 'held 1')
  } finally {
    await app.close()
  }
})
