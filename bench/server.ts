// The app under test, one child process per benchmark row (forked by bench/run.ts, never imported by it).
// Settings come as JSON in BENCH_SERVER; the parent talks to it over IPC: it announces its port, then answers
// `probe` messages with its handler count, CPU time and memory, and stops on `stop`.
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance, type RouteShorthandOptions } from 'fastify'
import { Redis } from 'ioredis'
import fancyCache, { type FancyCacheOptions } from '../index.ts'

/** How a row's server is built. */
export interface ServerSettings {
  /** `bare`: no plugin, instant handler (row a); `slow`: no plugin, `delayMs` handler; `cached`: the plugin. */
  kind: 'bare' | 'slow' | 'cached'
  /** Milliseconds the handler waits before answering (0: answers at once). */
  delayMs: number
  /** Plugin options (`cached` only); `redisPort` is turned into an ioredis client. */
  plugin?: Omit<FancyCacheOptions, 'redis' | 'store'> & { store?: 'memory' | 'redis' }
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

async function build (settings: ServerSettings, counters: { runs: number, inFlight: number, maxInFlight: number }) {
  const app = Fastify({ logger: false })
  const html = page()
  if (settings.trackConcurrency === true) {
    app.addHook('onRequest', async () => {
      counters.inFlight++
      if (counters.inFlight > counters.maxInFlight) counters.maxInFlight = counters.inFlight
    })
    app.addHook('onResponse', async () => { counters.inFlight-- })
  }
  let redis: Redis | undefined
  if (settings.kind === 'cached') {
    const { plugin = {}, redisPort } = settings
    if (plugin.store === 'redis') {
      if (redisPort === undefined) throw new Error('a redis row needs redisPort')
      redis = new Redis({ host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: 1 })
      app.addHook('onClose', async () => { await redis!.quit() })
    }
    await app.register(fancyCache, { ...plugin, redis })
  }
  const options: RouteShorthandOptions = settings.kind === 'cached' ? { config: { fancyCache: true } } : {}
  const delay = settings.delayMs
  app.get('/page', options, async (_request, reply) => {
    counters.runs++
    if (delay > 0) await sleep(delay)
    reply.type('text/html; charset=utf-8')
    return html
  })
  return app
}

async function probe (app: FastifyInstance, counters: { runs: number, maxInFlight: number }): Promise<Probe> {
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
