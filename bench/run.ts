// `npm run bench [-- options]`: the benchmark of issue #7. See docs/benchmark.md.
//   --quick              ~1 s per row and small scale runs (the test suite uses it)
//   --scale              also run findUrls over 1,000,000 remembered URLs and the 1,000,000-URL flood
//   --rows a,c,...       only these rows (`none` for none)
//   --duration S --warmup S --connections N
//   --rounds N           measure every row N times, interleaved, and report each row's median round
//   --out-dir DIR        where results.json and chart.svg go (default bench/)
//   --profile            CPU-profile the app of each selected row (node --cpu-prof) and print where time goes
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { chart } from './chart.ts'
import { load } from './load.ts'
import { startApp, startRedis, startVarnish, stopHelpers, which, type AppProcess, type Helper } from './processes.ts'
import { summarizeProfile } from './profile.ts'
import { describeMachine, medianRound, rate, scaleSummary, table, type Results, type RowResult, type Settings } from './report.ts'
import { HANDLER_MS, ROWS, type Row } from './rows.ts'
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
    'out-dir': { type: 'string' },
    profile: { type: 'boolean', default: false }
  }
})

const quick = args.quick
const settings: Settings = {
  quick,
  connections: Number(args.connections ?? 100),
  durationSeconds: Number(args.duration ?? (quick ? 1 : 10)),
  warmupSeconds: Number(args.warmup ?? (quick ? 0.5 : 3)),
  rounds: Number(args.rounds ?? 1),
  handlerMs: HANDLER_MS
}
const outDir = resolve(args['out-dir'] ?? fileURLToPath(new URL('.', import.meta.url)))
const selected = args.rows === undefined ? ROWS : ROWS.filter((r) => args.rows!.split(',').includes(r.id))
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
    cacheStatus: null,
    target: null
  }
}

/** The Cache-Status of one request (a fresh id where the path takes one). */
async function sampleCacheStatus (url: string): Promise<string | null> {
  const response = await fetch(url.replace('[<id>]', `sample-${Date.now()}`))
  await response.arrayBuffer()
  return response.headers.get('cache-status')?.replace(/; ttl=\d+/, '') ?? null
}

async function measureRow (row: Row, redis: Helper | undefined): Promise<RowResult> {
  if (row.needs === 'redis' && redis === undefined) return emptyRow(row, 'redis-server is not installed')
  if (row.needs === 'varnish' && varnishd === undefined) {
    return emptyRow(row, 'varnishd is not installed (Debian: apt-get install varnish)')
  }
  // One directory per row: tsx's loader thread writes a profile of its own beside the main thread's.
  const nodeFlags = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, `row-${row.id}`)}`]
  let app: AppProcess
  try {
    app = await startApp({ ...row.server, redisPort: redis?.port }, nodeFlags)
  } catch (err) {
    return emptyRow(row, `the app failed to start: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
  }
  let varnish: Helper | undefined
  try {
    if (row.needs === 'varnish') varnish = await startVarnish(varnishd!, app.port)
    const url = `http://127.0.0.1:${varnish?.port ?? app.port}${row.path}`
    const idReplacement = row.path.includes('[<id>]')
    if (row.warm) await sampleCacheStatus(url)
    const warm = await load({ url, connections: settings.connections, duration: settings.warmupSeconds, idReplacement })
    const cacheStatus = await sampleCacheStatus(url)
    const before = await app.probe()
    const clientBefore = process.cpuUsage()
    const measured = await load({ url, connections: settings.connections, duration: settings.durationSeconds, idReplacement })
    const client = process.cpuUsage(clientBefore)
    const after = await app.probe()
    profiledRequests.set(row.id, warm.requests + measured.requests + 2)
    const serverMicros = after.cpuMicros - before.cpuMicros
    const wallMicros = measured.seconds * 1e6
    return {
      ...emptyRow(row, null),
      ...measured,
      rounds: [measured.reqPerSec],
      handlerRuns: after.handlerRuns - before.handlerRuns,
      // Behind Varnish the app only sees misses: its CPU says nothing about the row.
      serverCpuPercent: varnish === undefined ? 100 * serverMicros / wallMicros : null,
      serverMicrosPerRequest: varnish === undefined && measured.requests > 0 ? serverMicros / measured.requests : null,
      clientCpuPercent: 100 * (client.user + client.system) / wallMicros,
      cacheStatus
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

async function main () {
  const loadAtStart = loadavg()[0]!
  const needsRedis = selected.some((r) => r.needs === 'redis') || args.scale
  const redis = needsRedis && which('redis-server') !== undefined ? await startRedis() : undefined
  if (varnishd === undefined) notes.push('row h skipped: varnishd is not installed (the bench never installs it; see docs/benchmark.md)')
  try {
    const measured = new Map<string, RowResult[]>(selected.map((row) => [row.id, []]))
    const skipped = new Set<string>()
    for (let round = 1; round <= settings.rounds; round++) {
      for (const row of selected) {
        if (skipped.has(row.id)) continue
        process.stdout.write(`${settings.rounds > 1 ? `round ${round} ` : ''}row ${row.id}: ${row.title} ... `)
        const result = await measureRow(row, redis)
        measured.get(row.id)!.push(result)
        console.log(result.skipped ?? `${Math.round(result.reqPerSec!)} req/s, p50 ${result.p50!.toFixed(2)} ms, ` +
          `p99 ${result.p99!.toFixed(2)} ms, Cache-Status ${result.cacheStatus ?? '-'}`)
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
    const results: Results = { machine: describeMachine(varnishd, loadAtStart), settings, rows, notes, scale }
    console.log(`\n${table(rows)}\n`)
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
  } finally {
    await redis?.stop()
  }
}

main().catch((err) => {
  console.error(err)
  stopHelpers()
  process.exitCode = 1
})
