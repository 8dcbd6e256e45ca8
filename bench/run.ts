// `npm run bench [-- options]`. See docs/benchmark.md.
//   --quick              ~1 s per row, a small flood and small scale runs (the test suite uses it)
//   --scale              also run findUrls over 1,000,000 remembered URLs and the 1,000,000-URL flood
//   --rows bare,mem,...  only these rows (`none` for none); the ratios need `bare` (and each target's other row)
//   --duration S --warmup S --connections N
//   --rounds N           measure every row N times, interleaved, and report medians
//   --flood N            distinct-URL misses sent before the mem-flood row's hits (default 60,000)
//   --load wrk|autocannon  the load generator (default: wrk when installed)
//   --plugin-dir DIR     measure the package in another checkout (its index.ts) instead of this tree
//   --out-dir DIR        where results.json and chart.svg go (default bench/)
//   --profile            CPU-profile the app of each selected row (node --cpu-prof) and print where time goes
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { spawnSync } from 'node:child_process'
import { chart } from './chart.ts'
import { updateDocs } from './compare.ts'
import autocannon from 'autocannon'
import { load, type Generator } from './load.ts'
import { startApp, startRedis, startVarnish, stopHelpers, which, type AppProcess, type Helper } from './processes.ts'
import { summarizeProfile } from './profile.ts'
import { describeMachine, medianRound, rate, roundsTable, scaleSummary, table, type Results, type RowResult, type Settings } from './report.ts'
import { FLOOD_MISSES, HANDLER_MS, ROWS, type Row } from './rows.ts'
import { coalesce, findUrls, flood, emptyFindUrls, type ScaleResults } from './scale.ts'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    rows: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    rounds: { type: 'string' },
    flood: { type: 'string' },
    load: { type: 'string' },
    'plugin-dir': { type: 'string' },
    'out-dir': { type: 'string' },
    profile: { type: 'boolean', default: false }
  }
})

const quick = args.quick
const settings: Settings = {
  quick,
  connections: Number(args.connections ?? 50),
  durationSeconds: Number(args.duration ?? (quick ? 1 : 8)),
  warmupSeconds: Number(args.warmup ?? (quick ? 0.5 : 2)),
  rounds: Number(args.rounds ?? 1),
  handlerMs: HANDLER_MS,
  floodMisses: Number(args.flood ?? (quick ? 3000 : FLOOD_MISSES))
}
const outDir = resolve(args['out-dir'] ?? fileURLToPath(new URL('.', import.meta.url)))
const selected = args.rows === undefined ? ROWS : ROWS.filter((r) => args.rows!.split(',').includes(r.id))
const wrk = which('wrk')
if (args.load !== undefined && args.load !== 'wrk' && args.load !== 'autocannon') throw new Error('--load is wrk or autocannon')
if (args.load === 'wrk' && wrk === undefined) throw new Error('--load wrk: wrk is not installed (Debian: apt-get install wrk)')
const generator: Generator = (args.load as Generator | undefined) ?? (wrk === undefined ? 'autocannon' : 'wrk')
const pluginDir = args['plugin-dir'] === undefined ? null : resolve(args['plugin-dir'])
// The app processes inherit it (bench/server.ts imports that checkout's index.ts).
if (pluginDir !== null) process.env.BENCH_PLUGIN_DIR = pluginDir
const profileDir = args.profile ? mkdtempSync(join(tmpdir(), 'fancy-cache-profile-')) : undefined
const varnishd = which('varnishd')
const notes: string[] = []
// Requests each profiled server answered (warm-up included: the profile covers its whole life).
const profiledRequests = new Map<string, number>()

function stopOnSignal (signal: NodeJS.Signals) {
  process.on(signal, () => {
    stopHelpers()
    process.exit(130)
  })
}
stopOnSignal('SIGINT')
stopOnSignal('SIGTERM')

function emptyRow (row: Row, skipped: string | null): RowResult {
  return {
    id: row.id,
    title: row.title,
    path: row.path,
    skipped,
    reqPerSec: null,
    rounds: [],
    microsRounds: [],
    p50: null,
    p99: null,
    ratio: null,
    requests: null,
    errors: null,
    non2xx: null,
    handlerRuns: null,
    serverCpuPercent: null,
    serverMicrosPerRequest: null,
    clientCpuPercent: null,
    redisCpuPercent: null,
    otherCpuPercent: null,
    cacheStatus: null,
    flood: null,
    target: null
  }
}

/** Busy time of all cores together, microseconds (from /proc/stat; 0 where there is none). */
function machineBusyMicros (): number {
  try {
    const fields = readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields
    // USER_HZ is 100 on Linux.
    return (user + nice + system + irq + softirq + steal) * 10_000
  } catch {
    return 0
  }
}

/** CPU time a process has used, microseconds (from /proc/<pid>/stat; 0 where there is none). */
function processCpuMicros (pid: number | undefined): number {
  if (pid === undefined) return 0
  try {
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10_000
  } catch {
    return 0
  }
}

/** `misses` requests to distinct URLs of the cached route, to fill the store the way a crawler does. */
async function floodRow (app: AppProcess, misses: number): Promise<NonNullable<RowResult['flood']>> {
  const started = performance.now()
  const instance = autocannon({
    url: `http://127.0.0.1:${app.port}/page?flood=[<id>]`,
    connections: settings.connections,
    amount: misses,
    idReplacement: true,
    timeout: 10
  })
  // With `amount`, autocannon has no time limit of its own: an app that stops answering must not stall the run.
  const timer = setTimeout(() => instance.stop(), 180_000)
  const result = await instance
  clearTimeout(timer)
  const seconds = (performance.now() - started) / 1000
  if (result.requests.total < misses) notes.push(`the flood stopped after ${result.requests.total} of ${misses} requests (3 minutes)`)
  return { misses, seconds, entriesAfter: (await app.probe()).cache?.entries ?? null }
}

/** The Cache-Status of one request (a fresh id where the path takes one). */
async function sampleCacheStatus (url: string): Promise<string | null> {
  const response = await fetch(url.replace('[<id>]', `sample-${Date.now()}`), { signal: AbortSignal.timeout(15_000) })
  await response.arrayBuffer()
  return response.headers.get('cache-status')?.replace(/; ttl=\d+/, '') ?? null
}

async function measureRow (row: Row, redis: Helper | undefined): Promise<RowResult> {
  if (row.needs === 'redis' && redis === undefined) return emptyRow(row, 'skipped: redis-server is not installed')
  if (row.needs === 'varnish' && varnishd === undefined) {
    return emptyRow(row, 'skipped: varnishd is not installed (Debian: apt-get install varnish)')
  }
  // One directory per row: tsx's loader thread writes a profile of its own beside the main thread's.
  const nodeFlags = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, `row-${row.id}`)}`]
  let app: AppProcess
  try {
    app = await startApp({ ...row.server, redisPort: redis?.port }, nodeFlags)
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    // Feature detection: a plugin that does not know the option rejects it when it is registered.
    if (row.optional !== undefined && message.includes(row.optional)) {
      return emptyRow(row, `n/a: the plugin rejects \`${row.optional}\` (${message.split('\n')[0]!.replace(/^Error: /, '').slice(0, 120)})`)
    }
    return emptyRow(row, `skipped: the app failed to start: ${message.split('\n')[0]}`)
  }
  let varnish: Helper | undefined
  try {
    if (row.needs === 'varnish') varnish = await startVarnish(varnishd!, app.port)
    const url = `http://127.0.0.1:${varnish?.port ?? app.port}${row.path}`
    const idReplacement = row.path.includes('[<id>]')
    const run = (duration: number) => load({ url, connections: settings.connections, duration, idReplacement, generator, wrk })
    if (row.warm) await sampleCacheStatus(url)
    let warm = await run(settings.warmupSeconds)
    let flood: RowResult['flood'] = null
    if (row.flood === true) {
      // Hits first, so that the hit path is warm (compiled) before the misses, as on a site a crawler visits.
      flood = await floodRow(app, settings.floodMisses)
      const again = await run(settings.warmupSeconds)
      warm = { ...warm, requests: warm.requests + again.requests + settings.floodMisses }
    }
    const cacheStatus = await sampleCacheStatus(url)
    const before = await app.probe()
    const busyBefore = machineBusyMicros()
    const redisBefore = row.needs === 'redis' ? processCpuMicros(redis?.pid) : 0
    const measured = await run(settings.durationSeconds)
    const busy = machineBusyMicros() - busyBefore
    const redisMicros = row.needs === 'redis' ? processCpuMicros(redis?.pid) - redisBefore : 0
    const after = await app.probe()
    profiledRequests.set(row.id, warm.requests + measured.requests + 2)
    const serverMicros = after.cpuMicros - before.cpuMicros
    const wallMicros = measured.seconds * 1e6
    // Behind Varnish the app only sees misses: its CPU says nothing about the row.
    const serverMicrosPerRequest = varnish === undefined && measured.requests > 0 ? serverMicros / measured.requests : null
    return {
      ...emptyRow(row, null),
      ...measured,
      rounds: [measured.reqPerSec],
      microsRounds: serverMicrosPerRequest === null ? [] : [serverMicrosPerRequest],
      handlerRuns: after.handlerRuns - before.handlerRuns,
      serverCpuPercent: varnish === undefined ? 100 * serverMicros / wallMicros : null,
      serverMicrosPerRequest,
      clientCpuPercent: 100 * measured.clientCpuMicros / wallMicros,
      redisCpuPercent: row.needs === 'redis' ? 100 * redisMicros / wallMicros : null,
      otherCpuPercent: busy === 0 ? null : Math.max(0, 100 * (busy - serverMicros - measured.clientCpuMicros - redisMicros) / wallMicros),
      cacheStatus,
      flood
    }
  } finally {
    await varnish?.stop()
    await app.stop()
  }
}

async function runScale (redis: Helper | undefined): Promise<ScaleResults> {
  const scale: ScaleResults = { coalesce: null, findUrls: [], flood: null }
  console.log('scale: 1,000 concurrent requests to one cold key')
  scale.coalesce = await coalesce(1000, quick ? 500 : 1000)
  if (!args.scale) return scale
  const urls = quick ? 5000 : 1_000_000
  console.log(`scale: findUrls over ${urls} remembered URLs (memory)`)
  scale.findUrls.push(await findUrls('memory', urls))
  console.log(`scale: findUrls over ${urls} remembered URLs (redis)`)
  scale.findUrls.push(redis === undefined
    ? emptyFindUrls('redis', 'redis-server is not installed')
    : await findUrls('redis', urls, redis.port))
  console.log(`scale: flood of ${urls} distinct URLs, memory store, maxBytes 64 MiB`)
  scale.flood = await flood(urls, 64 * 2 ** 20, settings.connections)
  return scale
}

const DOCS = fileURLToPath(new URL('../docs/benchmark.md', import.meta.url))
const BEFORE = fileURLToPath(new URL('./results-before.json', import.meta.url))

function wrkVersion (): string {
  const version = spawnSync(wrk!, ['--version'], { encoding: 'utf8' })
  return /wrk (\S+)/.exec(`${version.stdout}${version.stderr}`)?.[1] ?? 'unknown'
}

async function main () {
  const loadAtStart = loadavg()[0]!
  const startedAt = new Date()
  const needsRedis = selected.some((r) => r.needs === 'redis') || args.scale
  const redis = needsRedis && which('redis-server') !== undefined ? await startRedis() : undefined
  if (varnishd === undefined && selected.some((r) => r.needs === 'varnish')) {
    notes.push('row varnish skipped: varnishd is not installed (the bench never installs it; see docs/benchmark.md)')
  }
  if (generator === 'autocannon' && args.load === undefined) {
    notes.push('wrk is not installed: autocannon generated the load, in the driver (Debian: apt-get install wrk)')
  }
  try {
    const measured = new Map<string, RowResult[]>(selected.map((row) => [row.id, []]))
    const skipped = new Set<string>()
    for (let round = 1; round <= settings.rounds; round++) {
      for (const row of selected) {
        if (skipped.has(row.id)) continue
        process.stdout.write(`${settings.rounds > 1 ? `round ${round} ` : ''}row ${row.id}: ${row.title} ... `)
        const result = await measureRow(row, redis)
        measured.get(row.id)!.push(result)
        console.log(result.skipped ?? `${Math.round(result.reqPerSec!)} req/s, ${result.serverMicrosPerRequest?.toFixed(1) ?? '-'} µs/req, ` +
          `p50 ${result.p50!.toFixed(2)} ms, p99 ${result.p99!.toFixed(2)} ms, other CPU ${result.otherCpuPercent?.toFixed(0) ?? '-'} %, ` +
          `Cache-Status ${result.cacheStatus ?? '-'}` +
          (result.flood === null ? '' : ` (after ${result.flood.misses} misses in ${result.flood.seconds.toFixed(1)} s, ${result.flood.entriesAfter} entries)`))
        if (result.skipped !== null) skipped.add(row.id)
      }
    }
    const rows = [...measured.values()].map(medianRound)
    rate(rows)
    for (const row of rows) {
      if (row.cacheStatus?.includes('store-error') === true) {
        notes.push(`row ${row.id}: the store failed (${row.cacheStatus}), so the plugin failed open: these are uncached numbers`)
      }
    }
    const scale = args.profile ? { coalesce: null, findUrls: [], flood: null } : await runScale(redis)
    const loadGenerator = generator === 'wrk' ? `wrk ${wrkVersion()} (1 thread)` : 'autocannon (in the driver)'
    const results: Results = { machine: describeMachine(varnishd, loadAtStart, loadGenerator, pluginDir, startedAt), settings, rows, notes, scale }
    console.log(`\n${table(rows)}\n`)
    if (settings.rounds > 1) console.log(`${roundsTable(rows)}\n`)
    for (const note of notes) console.log(`note: ${note}`)
    console.log(scaleSummary(scale))
    if (profileDir !== undefined) {
      for (const row of rows) console.log(`\n${summarizeProfile(join(profileDir, `row-${row.id}`), profiledRequests.get(row.id) ?? 0)}`)
      return
    }
    mkdirSync(outDir, { recursive: true })
    writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`)
    writeFileSync(join(outDir, 'chart.svg'), chart(results))
    console.log(`\nwrote ${join(outDir, 'results.json')} and ${join(outDir, 'chart.svg')}`)
    // A full run of this tree into bench/ is the one docs/benchmark.md reports: its marked sections follow it.
    if (args['out-dir'] === undefined && args.rows === undefined && !quick && pluginDir === null) {
      updateDocs(DOCS, BEFORE, results)
      console.log(`updated the results and before/after sections of ${DOCS}`)
    }
  } finally {
    await redis?.stop()
  }
}

main().catch((err) => {
  console.error(err)
  stopHelpers()
  process.exitCode = 1
})
