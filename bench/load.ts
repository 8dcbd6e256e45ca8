// The load generator: autocannon as a library, in the driver's process (the app under test runs in its own).
import { Agent, get } from 'node:http'
import autocannon from 'autocannon'

/** One measured load run. */
export interface Measurement {
  /** Completed 2xx responses per second over the run. */
  reqPerSec: number
  /** Latency percentiles in milliseconds, from every response's own timing (autocannon's histogram is whole ms). */
  p50: number
  p99: number
  requests: number
  errors: number
  non2xx: number
  seconds: number
}

export interface LoadOptions {
  url: string
  connections: number
  /** Seconds of load. */
  duration: number
  /** Replace `[<id>]` in the URL with a fresh id per request (every request a new cache key). */
  idReplacement?: boolean
}

function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

/** Run autocannon for `duration` seconds and summarise it. */
export async function load (options: LoadOptions): Promise<Measurement> {
  let latencies = new Float64Array(1 << 16)
  let count = 0
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.duration,
    idReplacement: options.idReplacement === true,
    timeout: 10
  })
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status < 200 || status >= 300) return
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2)
      grown.set(latencies)
      latencies = grown
    }
    latencies[count++] = ms
  })
  const result = await instance
  const sorted = latencies.subarray(0, count).sort()
  return {
    reqPerSec: count / result.duration,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    requests: count,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    seconds: result.duration
  }
}

/** What a burst of simultaneous requests got back. */
export interface Burst {
  requests: number
  /** Responses by status code. */
  statuses: Record<string, number>
  /** Responses by Cache-Status header value. */
  cacheStatus: Record<string, number>
  /** How many different bodies came back (1 when every client got the same page). */
  distinctBodies: number
  failures: number
}

/** `n` GET requests to `url`, each on its own connection, all started at once. */
export async function burst (url: string, n: number): Promise<Burst> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity })
  const statuses: Record<string, number> = {}
  const cacheStatus: Record<string, number> = {}
  const bodies = new Set<string>()
  let failures = 0
  const one = () => new Promise<void>((resolve) => {
    const request = get(url, { agent }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        const status = String(response.statusCode)
        statuses[status] = (statuses[status] ?? 0) + 1
        const header = String(response.headers['cache-status'] ?? '(none)').replace(/; ttl=\d+/, '')
        cacheStatus[header] = (cacheStatus[header] ?? 0) + 1
        bodies.add(Buffer.concat(chunks).toString('latin1'))
        resolve()
      })
    })
    request.setTimeout(30_000, () => request.destroy(new Error('timeout')))
    request.on('error', () => { failures++; resolve() })
  })
  await Promise.all(Array.from({ length: n }, one))
  agent.destroy()
  return { requests: n, statuses, cacheStatus, distinctBodies: bodies.size, failures }
}
