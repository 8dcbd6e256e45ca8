// The app under test, one child process per benchmark row (forked by bench/run.ts, never imported by it).
// Settings come as JSON in BENCH_SERVER; the parent talks to it over IPC: it announces its port, then answers
// `probe` messages with its handler count, CPU time and memory, and stops on `stop`.
// BENCH_PLUGIN_DIR, when set, is another checkout of this package whose index.ts is measured instead of this one
// (the "before" column of docs/benchmark.md is the new bench run against the previous commit).
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyReply, type RouteShorthandOptions } from 'fastify'
import { Redis } from 'ioredis'
import type { FancyCacheOptions } from '../index.ts'

/** How a row's server is built. */
export interface ServerSettings {
  /**
   * `bare`: no plugin; `slow`: no plugin, `delayMs` handler; `cached`: the plugin, `/page` cached and `/plain`
   * (same handler) in its scope but not cached; `naive-map`: a Map in the handler; `naive-redis`: GET the body and
   * HINCRBY a stats hash in the handler.
   */
  kind: 'bare' | 'slow' | 'cached' | 'naive-map' | 'naive-redis'
  /** Milliseconds the handler waits before answering (0: answers at once). */
  delayMs: number
  /** Plugin options (`cached` only); `redisPort` is turned into an ioredis client. */
  plugin?: Omit<FancyCacheOptions, 'redis' | 'store'> & { store?: 'memory' | 'redis', metrics?: boolean }
  redisPort?: number
  /** Count requests in flight (a hook ahead of the plugin), for the coalescing check only. */
  trackConcurrency?: boolean
}

/** What a `probe` answers. */
export interface Probe {
  handlerRuns: number
  /** Most requests in flight at once (only with `trackConcurrency`). */
  maxInFlight: number
  /** process.cpuUsage() user + system, microseconds. */
  cpuMicros: number
  rss: number
  heapUsed: number
  /** The cache's totals (`cached` only). */
  cache: { entries: number, bytes: number, hits: number, misses: number } | null
}

export type ParentMessage = { type: 'probe' } | { type: 'stop' }
export type ChildMessage = { type: 'ready', port: number } | { type: 'probe', probe: Probe } | { type: 'error', message: string }

/** A constant 2 KB HTML page (exactly 2048 bytes). */
export function page (): string {
  const head = '<!doctype html><html><head><meta charset="utf-8"><title>bench</title></head><body><main>'
  const tail = '</main></body></html>\n'
  const filler = 'fastify-fancy-cache benchmark page. '.repeat(60)
  return head + filler.slice(0, 2048 - head.length - tail.length) + tail
}

async function loadPlugin (): Promise<typeof import('../index.ts').default> {
  const dir = process.env.BENCH_PLUGIN_DIR
  const url = dir === undefined || dir === '' ? new URL('../index.ts', import.meta.url).href : pathToFileURL(join(dir, 'index.ts')).href
  return ((await import(url)) as typeof import('../index.ts')).default
}

type Counters = { runs: number, inFlight: number, maxInFlight: number }

function redisClient (settings: ServerSettings, app: FastifyInstance, autoPipelining: boolean): Redis {
  if (settings.redisPort === undefined) throw new Error('a redis row needs redisPort')
  const redis = new Redis({ host: '127.0.0.1', port: settings.redisPort, maxRetriesPerRequest: 1, enableAutoPipelining: autoPipelining })
  app.addHook('onClose', async () => { await redis.quit() })
  return redis
}

async function build (settings: ServerSettings, counters: Counters) {
  const app = Fastify({ logger: false })
  const html = page()
  if (settings.trackConcurrency === true) {
    app.addHook('onRequest', async () => {
      counters.inFlight++
      if (counters.inFlight > counters.maxInFlight) counters.maxInFlight = counters.inFlight
    })
    app.addHook('onResponse', async () => { counters.inFlight-- })
  }
  const delay = settings.delayMs
  const render = async (reply: FastifyReply) => {
    counters.runs++
    if (delay > 0) await sleep(delay)
    reply.type('text/html; charset=utf-8')
    return html
  }
  if (settings.kind === 'naive-map') {
    // What an app writes by hand: the body by URL, no headers, no bounds, no stats.
    const pages = new Map<string, string>()
    app.get('/page', async (request, reply) => {
      const hit = pages.get(request.url)
      if (hit !== undefined) {
        reply.type('text/html; charset=utf-8')
        return hit
      }
      const body = await render(reply)
      pages.set(request.url, body)
      return body
    })
    return app
  }
  if (settings.kind === 'naive-redis') {
    // The hand-written Redis cache the plugin must beat: GET the body and count the hit in a stats hash, both in
    // one auto-pipelined round trip, then send the bytes as they are.
    const redis = redisClient(settings, app, true)
    app.get('/page', async (request, reply) => {
      const key = `bench-naive:${request.url}`
      const [body] = await Promise.all([redis.getBuffer(key), redis.hincrby('bench-naive:stats', request.url, 1)])
      if (body !== null) {
        reply.type('text/html; charset=utf-8')
        return body
      }
      const fresh = await render(reply)
      await redis.set(key, fresh, 'EX', 3600)
      return fresh
    })
    return app
  }
  if (settings.kind === 'cached') {
    const { plugin = {} } = settings
    const redis = plugin.store === 'redis' ? redisClient(settings, app, true) : undefined
    const fancyCache = await loadPlugin()
    await app.register(fancyCache, { ...plugin, redis } as FancyCacheOptions)
    app.get('/plain', async (_request, reply) => render(reply))
  }
  const options: RouteShorthandOptions = settings.kind === 'cached' ? { config: { fancyCache: true } } : {}
  app.get('/page', options, async (_request, reply) => render(reply))
  return app
}

async function probe (app: FastifyInstance, counters: Counters): Promise<Probe> {
  const cpu = process.cpuUsage()
  const memory = process.memoryUsage()
  const cache = app.hasDecorator('fancyCache') ? await app.fancyCache.stats().catch(() => null) : null
  return {
    handlerRuns: counters.runs,
    maxInFlight: counters.maxInFlight,
    cpuMicros: cpu.user + cpu.system,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    cache
  }
}

async function main () {
  const send = (message: ChildMessage) => process.send!(message)
  const settings = JSON.parse(process.env.BENCH_SERVER ?? '') as ServerSettings
  const counters = { runs: 0, inFlight: 0, maxInFlight: 0 }
  const app = await build(settings, counters)
  await app.listen({ host: '127.0.0.1', port: 0, backlog: 4096 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'probe') {
      probe(app, counters).then((result) => send({ type: 'probe', probe: result }), (err) => send({ type: 'error', message: String(err) }))
    } else if (message.type === 'stop') {
      // Exiting normally (not by a signal) lets --cpu-prof write its profile.
      app.close().finally(() => process.exit(0))
    }
  })
  process.on('disconnect', () => process.exit(0))
  send({ type: 'ready', port: address.port })
}

main().catch((err) => {
  process.send?.({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) })
  process.exit(1)
})
