import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { compare, updateDocs } from '../bench/compare.ts'
import type { Results } from '../bench/report.ts'

// The benchmark script in its quick mode (tiny durations, small scale runs): that it runs and reports what it
// claims. No speed is asserted: this machine is shared and noisy. The bench starts and stops its own redis-server
// and app processes; a run cut short is sent SIGTERM, on which it stops them.
const outDir = mkdtempSync(join(tmpdir(), 'fancy-cache-bench-test-'))
// autocannon drives the main run: it takes fractions of a second and is always installed; wrk (whole seconds,
// from the OS) gets one short run of its own when it is present.
const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0
const hasRedis = has('redis-server')
const hasWrk = has('wrk')
const REDIS_ROWS = new Set(['redis-naive', 'redis', 'redis-l1'])
const running = new Set<ChildProcess>()
let output = ''
let exitCode: number | null = null
let results: Results

async function runBench (args: string[], dir: string): Promise<{ code: number | null, output: string }> {
  const bench = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args, '--out-dir', dir], {
    cwd: new URL('..', import.meta.url),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  running.add(bench)
  let text = ''
  bench.stdout!.on('data', (chunk: Buffer) => { text += chunk.toString() })
  bench.stderr!.on('data', (chunk: Buffer) => { text += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => bench.once('exit', resolve))
  running.delete(bench)
  return { code, output: text }
}

before(async () => {
  const run = await runBench(['--quick', '--scale', '--load', 'autocannon', '--duration', '0.5', '--warmup', '0.25'], outDir)
  exitCode = run.code
  output = run.output
  if (exitCode === 0) results = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')) as Results
}, { timeout: 180_000 })

after(async () => {
  for (const bench of running) {
    const exited = new Promise((resolve) => bench.once('exit', resolve))
    bench.kill('SIGTERM')
    await exited
  }
  rmSync(outDir, { recursive: true, force: true })
})

const row = (id: string) => results.rows.find((r) => r.id === id)!

test('bench: the quick run exits 0 and prints the table', () => {
  assert.equal(exitCode, 0, output)
  assert.match(output, /\| row \| what \| req\/s \| ratio to bare \| server µs\/req \| target \| measured \| met \|/)
})

test('bench: results.json describes the machine, the load generator and the settings', () => {
  const { machine, settings } = results
  assert.equal(typeof machine.cpu, 'string')
  assert.ok(machine.cores >= 1)
  assert.equal(machine.node, process.version)
  assert.ok(!Number.isNaN(Date.parse(machine.date)))
  assert.match(machine.loadGenerator, /^autocannon/)
  assert.equal(machine.pluginDir, null)
  assert.equal(typeof machine.loadAverage.start, 'number')
  assert.equal(settings.quick, true)
  assert.ok(settings.durationSeconds > 0 && settings.connections > 0 && settings.floodMisses > 0)
})

test('bench: every row produced numbers, with server µs per request beside its ratio', () => {
  assert.deepEqual(results.rows.map((r) => r.id), [
    'bare', 'map', 'mem', 'mem-flood', 'mem-stats', 'mem-metrics', 'redis-naive', 'redis', 'redis-l1',
    'bare-unique', 'miss', 'uncached', 'varnish'
  ])
  for (const r of results.rows) {
    if (r.id === 'varnish' || r.id === 'mem-metrics' || (!hasRedis && REDIS_ROWS.has(r.id))) continue
    assert.equal(r.skipped, null, `row ${r.id}`)
    for (const field of ['reqPerSec', 'p50', 'p99', 'ratio', 'serverMicrosPerRequest'] as const) {
      assert.ok(Number.isFinite(r[field]) && r[field]! > 0, `row ${r.id} ${field}: ${r[field]}`)
    }
    assert.equal(r.microsRounds.length, 1, `row ${r.id} µs per round`)
    assert.ok(r.requests! > 0, `row ${r.id} requests`)
    assert.equal(r.non2xx, 0, `row ${r.id} non-2xx responses`)
  }
  assert.equal(row('bare').ratio, 1)
})

test('bench: every target row shows its target, the measured value and met/missed', () => {
  const targets = Object.fromEntries(results.rows.filter((r) => r.target !== null).map((r) => [r.id, r.target!]))
  assert.deepEqual(Object.keys(targets).sort(), ['mem', 'mem-flood', 'mem-metrics', 'mem-stats', 'miss', 'redis', 'redis-l1', 'uncached'])
  assert.deepEqual([targets.mem!.kind, targets.mem!.of], ['ratio', 'bare'])
  assert.deepEqual([targets.redis!.kind, targets.redis!.of], ['ratio', 'redis-naive'])
  assert.deepEqual([targets.miss!.kind, targets.miss!.of], ['extra-micros', 'bare-unique'])
  for (const [id, target] of Object.entries(targets)) {
    if (row(id).skipped !== null) continue
    assert.ok(Number.isFinite(target.value), `row ${id} target value`)
    assert.equal(typeof target.met, 'boolean', `row ${id} met`)
  }
  assert.match(output, /\| (met|\*\*missed\*\*) \|/)
})

test('bench: the rows measure what they claim (hits are hits, misses store, the flood filled the store)', () => {
  for (const id of ['mem', 'mem-flood', 'mem-stats']) {
    assert.equal(row(id).cacheStatus, 'fancy-cache; hit', id)
    assert.equal(row(id).handlerRuns, 0, id)
  }
  assert.equal(row('miss').cacheStatus, 'fancy-cache; fwd=miss; stored')
  // Every request ran the handler; a few more ran it than completed when the load stopped.
  assert.ok(row('miss').handlerRuns! >= row('miss').requests!, `${row('miss').handlerRuns} handler runs, ${row('miss').requests} responses`)
  assert.ok(row('uncached').handlerRuns! >= row('uncached').requests!)
  assert.equal(row('map').handlerRuns, 0)
  const flood = row('mem-flood').flood!
  assert.equal(flood.misses, results.settings.floodMisses)
  assert.ok(flood.entriesAfter! > 1000, `${flood.entriesAfter} entries after the flood`)
  if (hasRedis) {
    for (const id of ['redis', 'redis-l1']) assert.equal(row(id).cacheStatus, 'fancy-cache; hit', id)
    assert.equal(row('redis-naive').handlerRuns, 0)
  }
})

test('bench: the metrics row is measured, or n/a when the plugin rejects the option', () => {
  const metrics = row('mem-metrics')
  if (metrics.skipped === null) assert.equal(metrics.cacheStatus, 'fancy-cache; hit')
  else assert.match(metrics.skipped, /^n\/a: the plugin rejects `metrics`/)
})

test('bench: the varnish row runs with varnishd or is skipped with a note saying so', () => {
  const varnish = row('varnish')
  if (varnish.skipped === null) {
    assert.ok(varnish.reqPerSec! > 0)
  } else {
    assert.match(varnish.skipped, /varnishd is not installed/)
    assert.ok(results.notes.some((n) => n.includes('row varnish skipped')))
  }
})

test('bench: 1,000 concurrent requests to one cold key run the handler exactly once', () => {
  const c = results.scale.coalesce!
  assert.equal(c.requests, 1000)
  assert.equal(c.handlerRuns, 1)
  assert.deepEqual(c.statuses, { 200: 1000 })
  assert.equal(c.distinctBodies, 1)
})

test('bench: the scale runs report findUrls speed and RSS under a flood', () => {
  const memory = results.scale.findUrls.find((r) => r.store === 'memory')!
  assert.equal(memory.skipped, null)
  assert.ok(memory.urls > 0 && memory.urlsPerSecond > 0 && memory.rssPeakWalk > 0)
  assert.ok(memory.matched > 0)
  assert.ok(results.scale.findUrls.some((r) => r.store === 'redis'))
  const flood = results.scale.flood!
  assert.equal(flood.errors, 0)
  assert.ok(flood.samples.length > 0 && flood.rssPeak > 0)
  assert.ok(flood.cacheBytes <= flood.maxBytes)
})

test('bench: the chart is an SVG with a bar label and µs per request per measured row', () => {
  const svg = readFileSync(join(outDir, 'chart.svg'), 'utf8')
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  for (const r of results.rows) assert.match(svg, new RegExp(`font-weight="bold"[^>]*>${r.id}</text>`))
  assert.match(svg, new RegExp(`>${row('mem').serverMicrosPerRequest!.toFixed(1)} µs</text>`))
})

test('bench: a full run rewrites the marked results and before/after sections of docs/benchmark.md', () => {
  const doc = join(outDir, 'benchmark.md')
  copyFileSync(new URL('../docs/benchmark.md', import.meta.url), doc)
  const original = readFileSync(doc, 'utf8')
  updateDocs(doc, new URL('../bench/results-before.json', import.meta.url).pathname, results)
  const updated = readFileSync(doc, 'utf8')
  const section = (text: string, name: string) => text.slice(text.indexOf(`<!-- bench:${name} `), text.indexOf(`<!-- /bench:${name} -->`))
  assert.match(section(updated, 'results'), /\| mem-flood \| memory-store hit after a miss flood/)
  assert.match(section(updated, 'results'), new RegExp(`commit ${results.machine.commit}`))
  assert.match(section(updated, 'before-after'), /^After: commit /m)
  assert.match(section(updated, 'before-after'), /\| miss: cache miss, 0 ms handler, a new URL per request \| ≤ \+15 µs/)
  // Outside the markers nothing moves.
  const outside = (text: string) => text.replace(/<!-- bench:(\S+) [^>]*-->[\s\S]*?<!-- \/bench:\1 -->/g, '')
  assert.equal(outside(updated), outside(original))
  const before = JSON.parse(readFileSync(new URL('../bench/results-before.json', import.meta.url), 'utf8')) as Results
  assert.match(compare(before, null), /^After: not measured yet\.$/m)
})

test('bench: with wrk, a new URL per request reaches the app as a new URL', async () => {
  assert.ok(hasWrk, 'wrk is installed (.ci/run installs it; Debian: apt-get install wrk)')
  const dir = mkdtempSync(join(tmpdir(), 'fancy-cache-bench-wrk-'))
  try {
    const run = await runBench(['--quick', '--load', 'wrk', '--rows', 'bare,miss', '--duration', '1', '--warmup', '1'], dir)
    assert.equal(run.code, 0, run.output)
    const wrk = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results
    assert.match(wrk.machine.loadGenerator, /^wrk /)
    const miss = wrk.rows.find((r) => r.id === 'miss')!
    assert.ok(miss.requests! > 0 && miss.handlerRuns! >= miss.requests!, `${miss.handlerRuns} handler runs, ${miss.requests} responses`)
    assert.ok(Number.isFinite(miss.clientCpuPercent), 'wrk CPU is measured')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
