import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { Results } from '../bench/report.ts'

// The benchmark script in its quick mode (tiny durations, small scale runs): that it runs and reports what it
// claims. No speed is asserted: this machine is shared and noisy. The bench starts and stops its own redis-server
// and app processes; a run cut short is sent SIGTERM, on which it stops them.
const outDir = mkdtempSync(join(tmpdir(), 'fancy-cache-bench-test-'))
const hasRedis = spawnSync('sh', ['-c', 'command -v redis-server']).status === 0
let bench: ChildProcess | undefined
let output = ''
let exitCode: number | null = null
let results: Results

before(async () => {
  bench = spawn(process.execPath, [
    '--import', 'tsx', 'bench/run.ts', '--quick', '--scale', '--duration', '0.5', '--warmup', '0.25', '--out-dir', outDir
  ], {
    cwd: new URL('..', import.meta.url),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  bench.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  bench.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  exitCode = await new Promise((resolve) => bench!.once('exit', resolve))
  if (exitCode === 0) results = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')) as Results
}, { timeout: 120_000 })

after(async () => {
  if (bench !== undefined && bench.exitCode === null && bench.signalCode === null) {
    const exited = new Promise((resolve) => bench!.once('exit', resolve))
    bench.kill('SIGTERM')
    await exited
  }
  rmSync(outDir, { recursive: true, force: true })
})

test('bench: the quick run exits 0 and prints the table', () => {
  assert.equal(exitCode, 0, output)
  assert.match(output, /\| row \| what \| req\/s \| p50 ms \| p99 ms \| ratio to a \|/)
})

test('bench: results.json describes the machine and the settings', () => {
  const { machine, settings } = results
  assert.equal(typeof machine.cpu, 'string')
  assert.ok(machine.cores >= 1)
  assert.equal(machine.node, process.version)
  assert.ok(!Number.isNaN(Date.parse(machine.date)))
  assert.equal(settings.quick, true)
  assert.ok(settings.durationSeconds > 0 && settings.connections > 0)
})

test('bench: every row a-g produced numbers, ratios to row a included', () => {
  assert.deepEqual(results.rows.map((r) => r.id), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'])
  for (const row of results.rows.slice(0, 7)) {
    if (!hasRedis && (row.id === 'd' || row.id === 'e')) continue
    assert.equal(row.skipped, null, `row ${row.id}`)
    for (const field of ['reqPerSec', 'p50', 'p99', 'ratio', 'serverMicrosPerRequest'] as const) {
      assert.ok(Number.isFinite(row[field]) && row[field]! > 0, `row ${row.id} ${field}: ${row[field]}`)
    }
    assert.ok(row.requests! > 0, `row ${row.id} requests`)
    assert.equal(row.non2xx, 0, `row ${row.id} non-2xx responses`)
  }
  assert.equal(results.rows[0]!.ratio, 1)
})

test('bench: the rows measure what they claim (hits are hits, misses store)', () => {
  const row = (id: string) => results.rows.find((r) => r.id === id)!
  assert.equal(row('c').cacheStatus, 'fancy-cache; hit')
  assert.equal(row('c').handlerRuns, 0)
  assert.equal(row('g').cacheStatus, 'fancy-cache; hit')
  assert.equal(row('f').cacheStatus, 'fancy-cache; fwd=miss; stored')
  // Every request ran the handler; a few more ran it than completed when the load stopped.
  assert.ok(row('f').handlerRuns! >= row('f').requests!, `${row('f').handlerRuns} handler runs, ${row('f').requests} responses`)
  assert.deepEqual(row('c').target && { of: row('c').target!.of, ratio: row('c').target!.ratio }, { of: 'a', ratio: 0.95 })
})

test('bench: row h runs with varnishd or is skipped with a note saying so', () => {
  const h = results.rows.find((r) => r.id === 'h')!
  if (h.skipped === null) {
    assert.ok(h.reqPerSec! > 0)
  } else {
    assert.match(h.skipped, /varnishd is not installed/)
    assert.ok(results.notes.some((n) => n.includes('row h skipped')))
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

test('bench: the chart is an SVG with a bar label per row', () => {
  const svg = readFileSync(join(outDir, 'chart.svg'), 'utf8')
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  for (const id of 'abcdefgh') assert.match(svg, new RegExp(`font-weight="bold">${id}</text>`))
})
