// What a run reports: the shape of results.json, the machine description and the printed table.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { TARGETS, type RowId, type Target } from './rows.ts'
import type { ScaleResults } from './scale.ts'

/** One row of the table. Numbers are `null` when the row was skipped (`skipped` says why). */
export interface RowResult {
  id: RowId
  title: string
  path: string
  skipped: string | null
  reqPerSec: number | null
  /** req/s of every round, in order; the row's req/s, latencies and CPU shares are those of its median round. */
  rounds: number[]
  /** Server CPU µs per request of every round, in order. */
  microsRounds: number[]
  p50: number | null
  p99: number | null
  /** req/s divided by the bare route's; over several rounds, the median of the ratios within each round. */
  ratio: number | null
  requests: number | null
  errors: number | null
  non2xx: number | null
  /** Handler runs during the measured window (0 when every request was a hit). */
  handlerRuns: number | null
  /** CPU of the app's process (user + system) as a share of one core. */
  serverCpuPercent: number | null
  /** The app's CPU time per response, microseconds: the median over rounds. */
  serverMicrosPerRequest: number | null
  /** CPU of the load generator as a share of one core: near 100 means the client, not the server, was the limit. */
  clientCpuPercent: number | null
  /** CPU of the bench's redis-server during the measured window (Redis rows), share of one core. */
  redisCpuPercent: number | null
  /** CPU the rest of the machine used meanwhile (all cores' busy time minus app, load generator and redis-server). */
  otherCpuPercent: number | null
  /** The Cache-Status header of a request sent after the warm-up: shows whether the row really served hits. */
  cacheStatus: string | null
  /** The miss flood sent before the warm-up (`mem-flood` only). */
  flood: { misses: number, seconds: number, entriesAfter: number | null } | null
  target: (Target & { value: number | null, met: boolean | null }) | null
}

export interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  os: string
  node: string
  fastify: string
  autocannon: string
  /** The load generator of the rows, with its version. */
  loadGenerator: string
  redis: string | null
  varnish: string | null
  /** The commit measured: of the checkout in `pluginDir` when set, else of this tree. */
  commit: string | null
  /** Another checkout of the package measured instead of this one (`--plugin-dir`), or null. */
  pluginDir: string | null
  /** When the run started and ended (ISO 8601, UTC). */
  startedAt?: string
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
  floodMisses: number
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

export function describeMachine (varnishd: string | undefined, loadAtStart: number, loadGenerator: string, pluginDir: string | null,
  startedAt: Date): Machine {
  const cpu = cpus()
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${process.platform} ${release()}`,
    node: process.version,
    fastify: packageVersion('fastify'),
    autocannon: packageVersion('autocannon'),
    loadGenerator,
    redis: firstLine('redis-server', ['--version']),
    varnish: varnishd === undefined ? null : firstLine(varnishd, ['-V']),
    // BENCH_COMMIT names the commit when the bench runs in an exported copy of the tree (no .git).
    commit: process.env.BENCH_COMMIT ?? firstLine('git', ['-C', pluginDir ?? '.', 'rev-parse', '--short', 'HEAD']),
    pluginDir,
    startedAt: startedAt.toISOString(),
    date: new Date().toISOString(),
    loadAverage: { start: loadAtStart, end: loadavg()[0]! }
  }
}

const middle = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor((values.length - 1) / 2)]!

/** Of a row's rounds, the one with the median req/s, carrying the req/s and µs of every round. */
export function medianRound (results: RowResult[]): RowResult {
  const ranked = [...results].sort((x, y) => (x.reqPerSec ?? 0) - (y.reqPerSec ?? 0))
  const microsRounds = results.flatMap((r) => r.microsRounds)
  return {
    ...ranked[Math.floor((ranked.length - 1) / 2)]!,
    rounds: results.flatMap((r) => r.rounds),
    microsRounds,
    serverMicrosPerRequest: microsRounds.length === 0 ? null : middle(microsRounds)
  }
}

/**
 * `row` against `of`, within each round (measured minutes apart at most, so under the same background load), then
 * the median over rounds: pairing by round keeps a slow round of one row from skewing the comparison.
 */
function paired (row: RowResult | undefined, of: RowResult | undefined, compare: (x: number, y: number) => number,
  field: 'rounds' | 'microsRounds'): number | null {
  if (row === undefined || of === undefined || row[field].length === 0 || row[field].length !== of[field].length) return null
  return middle(row[field].map((value, i) => compare(value, of[field][i]!)))
}

/** Fill in every row's ratio to the bare route and its target. */
export function rate (rows: RowResult[]): void {
  const byId = new Map(rows.map((r) => [r.id, r]))
  for (const row of rows) {
    row.ratio = paired(row, byId.get('bare'), (x, y) => x / y, 'rounds')
    const target = TARGETS[row.id]
    if (target === undefined) continue
    if (target.kind === 'ratio') {
      const value = paired(row, byId.get(target.of), (x, y) => x / y, 'rounds')
      row.target = { ...target, value, met: value === null ? null : value >= target.min }
    } else {
      const value = paired(row, byId.get(target.of), (x, y) => x - y, 'microsRounds')
      row.target = { ...target, value, met: value === null ? null : value <= target.max }
    }
  }
}

const fixed = (value: number | null, digits: number) => value === null || !Number.isFinite(value) ? '-' : value.toFixed(digits)
const percent = (value: number | null) => value === null || !Number.isFinite(value) ? '-' : `${value.toFixed(0)} %`

/** A target's measured value as the table shows it: `0.912 ×` or `+12.3 µs`. */
export function targetValue (target: NonNullable<RowResult['target']>): string {
  if (target.value === null) return '-'
  return target.kind === 'ratio' ? `${target.value.toFixed(3)} ×` : `${target.value >= 0 ? '+' : ''}${target.value.toFixed(1)} µs`
}

/** The table as Markdown (printed, and pasted into docs/benchmark.md). */
export function table (rows: RowResult[]): string {
  const lines = [
    '| row | what | req/s | ratio to bare | server µs/req | target | measured | met | p50 ms | p99 ms | server CPU | client CPU | redis CPU | other CPU | Cache-Status |',
    '|---|---|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---|'
  ]
  for (const row of rows) {
    const t = row.target
    const met = t === null ? '' : t.met === null ? 'n/a' : t.met ? 'met' : '**missed**'
    const what = row.skipped === null ? row.title : `${row.title} (${row.skipped})`
    lines.push(`| ${row.id} | ${what} | ${fixed(row.reqPerSec, 0)} | ${fixed(row.ratio, 3)} | ${fixed(row.serverMicrosPerRequest, 1)} | ` +
      `${t?.label ?? ''} | ${t === null ? '' : targetValue(t)} | ${met} | ${fixed(row.p50, 2)} | ${fixed(row.p99, 2)} | ` +
      `${percent(row.serverCpuPercent)} | ${percent(row.clientCpuPercent)} | ${percent(row.redisCpuPercent)} | ${percent(row.otherCpuPercent)} | ${row.cacheStatus ?? '-'} |`)
  }
  return lines.join('\n')
}

/** req/s and µs of every round, one line per row (Markdown). */
export function roundsTable (rows: RowResult[]): string {
  const n = Math.max(0, ...rows.map((r) => r.rounds.length))
  const rounds = Array.from({ length: n }, (_, i) => i + 1)
  const lines = [
    `| row | ${rounds.map((i) => `round ${i} req/s | µs/req`).join(' | ')} |`,
    `|---|${rounds.map(() => '---:|---:').join('|')}|`
  ]
  for (const row of rows) {
    if (row.rounds.length === 0) continue
    lines.push(`| ${row.id} | ${rounds.map((i) => `${fixed(row.rounds[i - 1] ?? null, 0)} | ${fixed(row.microsRounds[i - 1] ?? null, 1)}`).join(' | ')} |`)
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
