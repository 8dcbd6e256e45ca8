// Scale runs: request coalescing under a cold burst, findUrls over many remembered URLs, and the memory store under
// a flood of distinct URLs.
import { fork } from 'node:child_process'
import autocannon from 'autocannon'
import { burst } from './load.ts'
import { startApp, TSX } from './processes.ts'

export interface CoalesceResult {
  requests: number
  handlerMs: number
  handlerRuns: number
  maxInFlight: number
  statuses: Record<string, number>
  cacheStatus: Record<string, number>
  distinctBodies: number
  failures: number
}

export interface FindUrlsResult {
  store: 'memory' | 'redis'
  skipped: string | null
  urls: number
  seedSeconds: number
  walkSeconds: number
  urlsPerSecond: number
  pattern: string
  matched: number
  patternSeconds: number
  rssBeforeWalk: number
  rssPeakWalk: number
  heapBeforeWalk: number
  heapPeakWalk: number
}

export interface RssSample {
  seconds: number
  handlerRuns: number
  rss: number
}

export interface FloodResult {
  requests: number
  maxBytes: number
  maxEntries: number
  seconds: number
  reqPerSec: number
  errors: number
  rssAtQuarter: number
  rssAtHalf: number
  rssEnd: number
  rssPeak: number
  cacheEntries: number
  cacheBytes: number
  samples: RssSample[]
}

export interface ScaleResults {
  coalesce: CoalesceResult | null
  findUrls: FindUrlsResult[]
  flood: FloodResult | null
}

/** `requests` simultaneous requests to one cold key of a route whose handler takes `handlerMs`. */
export async function coalesce (requests: number, handlerMs: number): Promise<CoalesceResult> {
  const app = await startApp({ kind: 'cached', delayMs: handlerMs, plugin: {}, trackConcurrency: true })
  try {
    const result = await burst(`http://127.0.0.1:${app.port}/page`, requests)
    const probe = await app.probe()
    return { ...result, handlerMs, handlerRuns: probe.handlerRuns, maxInFlight: probe.maxInFlight }
  } finally {
    await app.stop()
  }
}

/** A findUrls result with nothing measured yet; `reason` says why it never will be. */
export function emptyFindUrls (store: 'memory' | 'redis', reason: string | null): FindUrlsResult {
  return {
    store,
    skipped: reason,
    urls: 0,
    seedSeconds: 0,
    walkSeconds: 0,
    urlsPerSecond: 0,
    pattern: '',
    matched: 0,
    patternSeconds: 0,
    rssBeforeWalk: 0,
    rssPeakWalk: 0,
    heapBeforeWalk: 0,
    heapPeakWalk: 0
  }
}

/** findUrls in a fresh process (bench/find-urls.ts), so that its RSS is the store's and the walk's alone. */
export async function findUrls (store: 'memory' | 'redis', urls: number, redisPort?: number): Promise<FindUrlsResult> {
  const child = fork(new URL('./find-urls.ts', import.meta.url), [store, String(urls), String(redisPort ?? '')], {
    execArgv: ['--max-old-space-size=8192', '--expose-gc', '--import', TSX],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve(message as FindUrlsResult))
    child.once('exit', (code) => reject(new Error(`find-urls exited with code ${code} before reporting`)))
  })
}

function rssAt (samples: RssSample[], share: number, total: number): number {
  const sample = samples.find((s) => s.handlerRuns >= total * share) ?? samples[samples.length - 1]
  return sample?.rss ?? 0
}

/** `requests` requests, each to a new URL (so each a miss that stores), against the memory store capped at `maxBytes`. */
export async function flood (requests: number, maxBytes: number, connections: number): Promise<FloodResult> {
  // maxEntries far above what fits in maxBytes, so that the byte bound is the one that holds.
  const maxEntries = 10_000_000
  const app = await startApp({ kind: 'cached', delayMs: 0, plugin: { maxBytes, maxEntries } })
  const samples: RssSample[] = []
  const started = performance.now()
  const done = new AbortController()
  const sampler = (async () => {
    while (!done.signal.aborted) {
      const probe = await app.probe()
      samples.push({ seconds: (performance.now() - started) / 1000, handlerRuns: probe.handlerRuns, rss: probe.rss })
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  })()
  try {
    const result = await autocannon({
      url: `http://127.0.0.1:${app.port}/page?u=[<id>]`,
      connections,
      amount: requests,
      idReplacement: true,
      timeout: 10
    })
    done.abort()
    await sampler
    const last = await app.probe()
    samples.push({ seconds: (performance.now() - started) / 1000, handlerRuns: last.handlerRuns, rss: last.rss })
    return {
      requests,
      maxBytes,
      maxEntries,
      seconds: result.duration,
      reqPerSec: result.requests.total / result.duration,
      errors: result.errors + result.timeouts + result.non2xx,
      rssAtQuarter: rssAt(samples, 0.25, requests),
      rssAtHalf: rssAt(samples, 0.5, requests),
      rssEnd: last.rss,
      rssPeak: Math.max(...samples.map((s) => s.rss)),
      cacheEntries: last.cache?.entries ?? 0,
      cacheBytes: last.cache?.bytes ?? 0,
      samples
    }
  } finally {
    done.abort()
    await app.stop()
  }
}
