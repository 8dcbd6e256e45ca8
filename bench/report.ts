// What a run reports: the shape of results.json, the machine description and the printed table.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { TARGETS, type RowId } from './rows.ts'
import type { ScaleResults } from './scale.ts'

/** One row of the table. Numbers are `null` when the row was skipped (`skipped` says why). */
export interface RowResult {
  id: RowId
  title: string
  path: string
  skipped: string | null
  reqPerSec: number | null
  /** req/s of every round, in order; the row reports the round with the median req/s. */
  rounds: number[]
  p50: number | null
  p99: number | null
  /** req/s divided by row a's; over several rounds, the median of the ratios within each round. */
  ratio: number | null
  requests: number | null
  errors: number | null
  non2xx: number | null
  /** Handler runs during the measured window (0 when every request was a hit). */
  handlerRuns: number | null
  /** CPU of the app's process (user + system) as a share of one core, and per request. */
  serverCpuPercent: number | null
  serverMicrosPerRequest: number | null
  /** CPU of the load generator as a share of one core: near 100 means the client, not the server, was the limit. */
  clientCpuPercent: number | null
  /** The Cache-Status header of a request sent after the warm-up: shows whether the row really served hits. */
  cacheStatus: string | null
  target: { of: RowId, ratio: number, label: string, value: number | null, met: boolean | null } | null
}

export interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  os: string
  node: string
  fastify: string
  autocannon: string
  redis: string | null
  varnish: string | null
  commit: string | null
  date: string
  /** 1-minute load average when the run started and when it ended: other work on the machine skews numbers. */
  loadAverage: { start: number, end: number }
}

export interface Settings {
  quick: boolean
  connections: number
  durationSeconds: number
  warmupSeconds: number
  rounds: number
  handlerMs: number
}

export interface Results {
  machine: Machine
  settings: Settings
  rows: RowResult[]
  notes: string[]
  scale: ScaleResults
}

function packageVersion (name: string): string {
  const url = new URL(`../node_modules/${name}/package.json`, import.meta.url)
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version
}

function firstLine (command: string, args: string[]): string | null {
  const run = spawnSync(command, args, { encoding: 'utf8' })
  if (run.error !== undefined || run.status !== 0) return null
  return `${run.stdout}${run.stderr}`.trim().split('\n')[0] ?? null
}

export function describeMachine (varnishd: string | undefined, loadAtStart: number): Machine {
  const cpu = cpus()
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${process.platform} ${release()}`,
    node: process.version,
    fastify: packageVersion('fastify'),
    autocannon: packageVersion('autocannon'),
    redis: firstLine('redis-server', ['--version']),
    varnish: varnishd === undefined ? null : firstLine(varnishd, ['-V']),
    // BENCH_COMMIT names the commit when the bench runs in an exported copy of the tree (no .git).
    commit: process.env.BENCH_COMMIT ?? firstLine('git', ['rev-parse', '--short', 'HEAD']),
    date: new Date().toISOString(),
    loadAverage: { start: loadAtStart, end: loadavg()[0]! }
  }
}

const middle = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor((values.length - 1) / 2)]!

/** Of a row's rounds, the one with the median req/s, carrying the req/s of every round. */
export function medianRound (results: RowResult[]): RowResult {
  const ranked = [...results].sort((x, y) => (x.reqPerSec ?? 0) - (y.reqPerSec ?? 0))
  return { ...ranked[Math.floor((ranked.length - 1) / 2)]!, rounds: results.flatMap((r) => r.rounds) }
}

/**
 * `row` over `of`: within each round (measured minutes apart at most, so under the same background load), then the
 * median over rounds. Pairing by round keeps a slow round of one row from skewing its ratio.
 */
function pairedRatio (row: RowResult | undefined, of: RowResult | undefined): number | null {
  if (row === undefined || of === undefined || row.rounds.length === 0 || row.rounds.length !== of.rounds.length) return null
  return middle(row.rounds.map((value, i) => value / of.rounds[i]!))
}

/** Fill in every row's ratio to row a and its target. */
export function rate (rows: RowResult[]): void {
  const byId = new Map(rows.map((r) => [r.id, r]))
  for (const row of rows) {
    row.ratio = pairedRatio(row, byId.get('a'))
    const target = TARGETS[row.id]
    if (target === undefined) continue
    const value = pairedRatio(row, byId.get(target.of))
    row.target = { ...target, value, met: value === null ? null : value >= target.ratio }
  }
}

const fixed = (value: number | null, digits: number) => value === null ? '-' : value.toFixed(digits)

/** The table as Markdown (printed, and pasted into docs/benchmark.md). */
export function table (rows: RowResult[]): string {
  const lines = [
    '| row | what | req/s | p50 ms | p99 ms | ratio to a | target | server µs/req | server CPU | client CPU | Cache-Status |',
    '|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|'
  ]
  for (const row of rows) {
    const target = row.target === null
      ? ''
      : `${row.target.label}: ${fixed(row.target.value, 3)} ${row.target.met === null ? '' : row.target.met ? 'met' : 'MISSED'}`
    const what = row.skipped === null ? row.title : `${row.title} (skipped: ${row.skipped})`
    lines.push(`| ${row.id} | ${what} | ${fixed(row.reqPerSec, 0)} | ${fixed(row.p50, 2)} | ${fixed(row.p99, 2)} | ` +
      `${fixed(row.ratio, 3)} | ${target} | ${fixed(row.serverMicrosPerRequest, 1)} | ` +
      `${row.serverCpuPercent === null ? '-' : `${row.serverCpuPercent.toFixed(0)} %`} | ` +
      `${row.clientCpuPercent === null ? '-' : `${row.clientCpuPercent.toFixed(0)} %`} | ${row.cacheStatus ?? '-'} |`)
  }
  return lines.join('\n')
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`

/** The scale runs, as lines of text. */
export function scaleSummary (scale: ScaleResults): string {
  const lines: string[] = []
  const c = scale.coalesce
  if (c !== null) {
    lines.push(`coalescing: ${c.requests} concurrent requests to one cold key -> ${c.handlerRuns} handler run(s) ` +
      `(${c.maxInFlight} in flight at once; statuses ${JSON.stringify(c.statuses)}; ` +
      `Cache-Status ${JSON.stringify(c.cacheStatus)}; ${c.distinctBodies} distinct body)`)
  }
  for (const run of scale.findUrls) {
    if (run.skipped !== null) {
      lines.push(`findUrls on ${run.store}: skipped (${run.skipped})`)
      continue
    }
    lines.push(`findUrls on ${run.store}: ${run.urls} URLs walked in ${run.walkSeconds.toFixed(2)} s = ` +
      `${Math.round(run.urlsPerSecond)} URLs/s; pattern ${run.pattern} matched ${run.matched} in ` +
      `${run.patternSeconds.toFixed(2)} s; RSS ${mib(run.rssBeforeWalk)} before the walk, peak ${mib(run.rssPeakWalk)} ` +
      `(seeding took ${run.seedSeconds.toFixed(1)} s)`)
  }
  const f = scale.flood
  if (f !== null) {
    lines.push(`flood: ${f.requests} distinct URLs in ${f.seconds.toFixed(1)} s (${Math.round(f.reqPerSec)} req/s, ` +
      `${f.errors} errors), maxBytes ${mib(f.maxBytes)}: RSS ${mib(f.rssAtQuarter)} at 25 %, ${mib(f.rssAtHalf)} at 50 %, ` +
      `${mib(f.rssEnd)} at the end, peak ${mib(f.rssPeak)}; cache ${f.cacheEntries} entries / ${mib(f.cacheBytes)}`)
  }
  return lines.join('\n')
}
