import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import Fastify, { LogController } from 'fastify'
import fancyCache, { MemoryStore, type Store } from '../index.ts'
import { FAILED, StoreGuard } from '../lib/guard.ts'
import { sleep } from './helpers/app.ts'

type Mode = 'ok' | 'reject' | 'hang' | 'garbage'

/** A memory store that can be told to fail in the ways a remote store fails. */
function faultyStore () {
  const inner = new MemoryStore()
  const state = { mode: 'ok' as Mode, calls: 0 }
  const store = new Proxy(inner, {
    get (target, name, receiver) {
      const value = Reflect.get(target, name, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        state.calls++
        if (state.mode === 'reject') return Promise.reject(new Error('ECONNREFUSED'))
        if (state.mode === 'hang') return new Promise(() => {})
        if (state.mode === 'garbage' && name === 'get') {
          return Promise.resolve({ entry: { body: 'not a buffer', status: 'x' }, vary: 'nonsense' })
        }
        return value.apply(target, args)
      }
    }
  }) as Store
  return { store, state }
}

function logCollector () {
  const lines: { level: number, msg: string }[] = []
  const stream = new Writable({
    write (chunk, encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line))
      done()
    }
  })
  return { lines, logger: { level: 'info', stream } }
}

async function appWith (store: Store, storeTimeout = 50) {
  const logs = logCollector()
  const app = Fastify({ logger: logs.logger, logController: new LogController({ disableRequestLogging: true }) })
  await app.register(fancyCache, { store, storeTimeout })
  let runs = 0
  app.get('/page', { config: { fancyCache: true } }, async () => `page ${++runs}`)
  return { app, logs, runs: () => runs }
}

test('a failing store: requests are served by the handler, marked store-error, with one warning per outage', async () => {
  const { store, state } = faultyStore()
  const { app, logs, runs } = await appWith(store)
  await app.inject('/page')
  state.mode = 'reject'
  for (let i = 0; i < 10; i++) {
    const response = await app.inject('/page')
    assert.equal(response.statusCode, 200)
    assert.equal(response.headers['cache-status'], 'fancy-cache; fwd=bypass; detail=store-error')
  }
  assert.equal(runs(), 11)
  const warnings = logs.lines.filter((l) => l.level === 40)
  assert.equal(warnings.length, 1)
  assert.match(warnings[0]!.msg, /store failing/)
})

test('a circuit breaker skips a failing store for a moment, then caching resumes by itself', async () => {
  const { store, state } = faultyStore()
  const { app, logs } = await appWith(store)
  await app.inject('/page')
  state.mode = 'reject'
  for (let i = 0; i < 5; i++) await app.inject('/page')
  const callsWhenOpen = state.calls
  for (let i = 0; i < 20; i++) await app.inject('/page')
  assert.equal(state.calls, callsWhenOpen, 'an open breaker does not call the store')
  state.mode = 'ok'
  await sleep(1100)
  await app.inject('/page')
  const response = await app.inject('/page')
  assert.match(String(response.headers['cache-status']), /hit/)
  assert.ok(logs.lines.some((l) => l.level === 30 && /store recovered/.test(l.msg)))
})

test('a hanging store: no request waits longer than storeTimeout on it', async () => {
  const { store, state } = faultyStore()
  const { app } = await appWith(store, 100)
  state.mode = 'hang'
  const started = Date.now()
  const response = await app.inject('/page')
  const elapsed = Date.now() - started
  assert.equal(response.statusCode, 200)
  assert.equal(response.body, 'page 1')
  assert.equal(response.headers['cache-status'], 'fancy-cache; fwd=bypass; detail=store-error')
  // A generous bound: the store is waited on at most once (100 ms); a hang would never answer at all.
  assert.ok(elapsed < 2000, `answered in ${elapsed} ms`)
})

test('a corrupt value from the store is a miss, never a crash', async () => {
  const { store, state } = faultyStore()
  const { app } = await appWith(store)
  state.mode = 'garbage'
  const response = await app.inject('/page')
  assert.equal(response.statusCode, 200)
  assert.equal(response.body, 'page 1')
})

test('a custom store object is used as given', async () => {
  const { store, state } = faultyStore()
  const { app } = await appWith(store)
  await app.inject('/page')
  assert.ok(state.calls > 0)
  assert.equal(app.fancyCache.store, store)
})

/** A logger that keeps warnings and info lines, for the guard's own tests. */
function guardLog () {
  const warnings: string[] = []
  const infos: string[] = []
  const log = {
    warn: (_obj: unknown, msg: string) => { warnings.push(msg) },
    info: (msg: string) => { infos.push(msg) }
  }
  return { warnings, infos, log: log as unknown as ConstructorParameters<typeof StoreGuard>[1] }
}

test('guard: failing writes open the write breaker only; reads still reach the store', async () => {
  const { log, warnings } = guardLog()
  const guard = new StoreGuard(50, log)
  let writes = 0
  let reads = 0
  for (let i = 0; i < 10; i++) {
    assert.equal(await guard.call(async () => { writes++; throw new Error('OOM command not allowed') }, { write: true }), FAILED)
    assert.equal(await guard.call(async () => { reads++; return 'hit' }), 'hit')
  }
  assert.equal(writes, 3, 'the write breaker opened after three failures')
  assert.equal(reads, 10, 'reads were never skipped')
  assert.equal(guard.health.circuitOpen, true)
  assert.equal(warnings.length, 1)
})

test('guard: a store failing now and then is one outage with one warning, recovered after a quiet second', async () => {
  const { log, warnings, infos } = guardLog()
  const guard = new StoreGuard(50, log)
  for (let i = 0; i < 6; i++) {
    await guard.call(async () => { throw new Error('flaky') })
    await guard.call(async () => 'ok')
  }
  assert.equal(warnings.length, 1)
  assert.equal(infos.length, 0, 'not recovered while failures keep coming')
  assert.equal(guard.health.up, false)
  await sleep(1100)
  await guard.call(async () => 'ok')
  assert.equal(infos.length, 1)
  assert.equal(guard.health.up, true)
})

test('guard: a reply that comes after the timeout goes to late(); an op that throws at once fails open', async () => {
  const guard = new StoreGuard(30, guardLog().log)
  const late: boolean[] = []
  const result = await guard.call(async () => {
    await sleep(100)
    return true
  }, { write: true, late: (taken) => late.push(taken) })
  assert.equal(result, FAILED)
  await sleep(120)
  assert.deepEqual(late, [true])
  assert.equal(await guard.call(async () => true, { late: () => late.push(false) }), true)
  assert.deepEqual(late, [true], 'late() is only for replies that missed the deadline')
  assert.equal(await guard.call(() => { throw new Error('synchronous') }), FAILED)
})
