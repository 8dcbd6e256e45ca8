// The load generators. wrk (C, one thread) is the default when it is installed: it leaves more of the machine's two
// cores to the app than autocannon, which runs as a library in the driver's process and is the fallback.
import { spawn } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { Agent, get } from 'node:http'
import autocannon from 'autocannon'

/** One measured load run. */
export interface Measurement {
  /** Completed 2xx responses per second over the run. */
  reqPerSec: number
  /** Latency percentiles in milliseconds. */
  p50: number
  p99: number
  requests: number
  errors: number
  non2xx: number
  seconds: number
  /** CPU time (user + system) the load generator used, microseconds. */
  clientCpuMicros: number
}

export type Generator = 'wrk' | 'autocannon'

export interface LoadOptions {
  url: string
  connections: number
  /** Seconds of load. */
  duration: number
  /** Replace `[<id>]` in the URL with a fresh id per request (every request a new cache key). */
  idReplacement?: boolean
  generator: Generator
  /** The wrk executable (`generator: 'wrk'`). */
  wrk?: string
}

export function load (options: LoadOptions): Promise<Measurement> {
  return options.generator === 'wrk' ? wrkLoad(options) : autocannonLoad(options)
}

function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

/** Run autocannon for `duration` seconds and summarise it. */
async function autocannonLoad (options: LoadOptions): Promise<Measurement> {
  let latencies = new Float64Array(1 << 16)
  let count = 0
  const cpuBefore = process.cpuUsage()
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.duration,
    idReplacement: options.idReplacement === true,
    timeout: 10
  })
  // autocannon's histogram only has whole milliseconds: keep every response's own timing.
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
  const cpu = process.cpuUsage(cpuBefore)
  const sorted = latencies.subarray(0, count).sort()
  return {
    reqPerSec: count / result.duration,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    requests: count,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    seconds: result.duration,
    clientCpuMicros: cpu.user + cpu.system
  }
}

// The script wrk runs: a new id per request when asked (`[<id>]` in the path), and a JSON summary at the end.
// No `response` callback: defining one makes wrk parse every response's headers in Lua.
const WRK_SCRIPT = String.raw`
local path = os.getenv("BENCH_WRK_PATH")
local prefix = os.getenv("BENCH_WRK_PREFIX")
local counter = 0
if string.find(path, "[<id>]", 1, true) then
  request = function ()
    counter = counter + 1
    return wrk.format(nil, (string.gsub(path, "%[<id>%]", prefix .. counter)))
  end
end
function done (summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\nBENCH-JSON {"requests":%d,"micros":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50":%d,"p99":%d}\n', summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
`

let runs = 0
let scriptPath: string | undefined

function wrkScript (): string {
  if (scriptPath === undefined) {
    const path = `/tmp/fancy-cache-bench-${process.pid}.lua`
    writeFileSync(path, WRK_SCRIPT)
    process.once('exit', () => rmSync(path, { force: true }))
    scriptPath = path
  }
  return scriptPath
}

/**
 * Run wrk (one thread) for `duration` seconds. It runs under `sh -c '...; times'`, whose `times` prints the CPU
 * its children used: the load generator's own CPU, as process.cpuUsage() gives it for autocannon.
 */
async function wrkLoad (options: LoadOptions): Promise<Measurement> {
  const { pathname, search } = new URL(options.url.replace('[<id>]', '__ID__'))
  const path = `${pathname}${search}`.replace('__ID__', '[<id>]')
  const prefix = `${process.pid}-${Date.now().toString(36)}-${runs++}-`
  const script = wrkScript()
  const args = ['-t1', `-c${options.connections}`, `-d${Math.max(1, Math.round(options.duration))}s`, '--timeout', '10s',
    '-s', script, options.url.replace('[<id>]', 'x')]
  const child = spawn('sh', ['-c', '"$0" "$@"; times', options.wrk ?? 'wrk', ...args], {
    env: { ...process.env, BENCH_WRK_PATH: path, BENCH_WRK_PREFIX: prefix },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  const line = /BENCH-JSON (\{.*\})/.exec(out)
  if (code !== 0 || line === null) throw new Error(`wrk failed (exit ${code}):\n${out}`)
  const summary = JSON.parse(line[1]!) as Record<'requests' | 'micros' | 'connect' | 'read' | 'write' | 'status' | 'timeout' | 'p50' | 'p99', number>
  // `times` prints the shell's own times, then its children's: "0m1.234s 0m0.567s".
  const clock = [...out.matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)].at(-1)
  const clientCpuMicros = clock === undefined
    ? Number.NaN
    : 1e6 * (Number(clock[1]) * 60 + Number(clock[2]) + Number(clock[3]) * 60 + Number(clock[4]))
  const seconds = summary.micros / 1e6
  const ok = summary.requests - summary.status
  return {
    reqPerSec: ok / seconds,
    p50: summary.p50 / 1000,
    p99: summary.p99 / 1000,
    requests: ok,
    errors: summary.connect + summary.read + summary.write + summary.timeout,
    non2xx: summary.status,
    seconds,
    clientCpuMicros
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
