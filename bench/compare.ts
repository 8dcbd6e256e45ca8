// Before/after per row, as the Markdown table docs/benchmark.md shows:
//   node --import tsx bench/compare.ts bench/results-before.json bench/results.json
// Each side is one run's results.json; ratios are within that run (to its own bare route), so two runs made under
// different background load still compare row by row, and the µs per request are each run's medians.
import { readFileSync } from 'node:fs'
import { targetValue, type Results, type RowResult } from './report.ts'

const fixed = (value: number | null | undefined, digits: number) =>
  value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits)

/** The other work on the machine during the measured windows: the mean over rows, as a share of one core. */
function contention (results: Results): string {
  const shares = results.rows.map((r) => r.otherCpuPercent).filter((v): v is number => v !== null && v !== undefined)
  return shares.length === 0 ? '' : `, other work ${(shares.reduce((x, y) => x + y, 0) / shares.length).toFixed(0)} % of a core (mean over rows)`
}

function describe (results: Results): string {
  const { machine, settings } = results
  return `commit ${machine.commit ?? '?'}, ${(machine.startedAt ?? machine.date).slice(0, 16).replace('T', ' ')} UTC, ${machine.loadGenerator}, ` +
    `${settings.rounds} round(s) of ${settings.durationSeconds} s, load average ${machine.loadAverage.start.toFixed(1)} → ` +
    `${machine.loadAverage.end.toFixed(1)}${contention(results)}`
}

function verdict (row: RowResult | undefined): string {
  const target = row?.target
  if (target === null || target === undefined) return ''
  if (target.met === null) return 'n/a'
  return `${targetValue(target)} ${target.met ? 'met' : 'missed'}`
}

export function compare (before: Results, after: Results): string {
  const ids = [...new Set([...before.rows.map((r) => r.id), ...after.rows.map((r) => r.id)])]
  const lines = [
    `Before: ${describe(before)}.`,
    `After: ${describe(after)}.`,
    '',
    '| row | target | ratio to bare, before | after | server µs/req, before | after | target value, before | after |',
    '|---|---|---:|---:|---:|---:|---|---|'
  ]
  for (const id of ids) {
    const b = before.rows.find((r) => r.id === id)
    const a = after.rows.find((r) => r.id === id)
    const title = (a ?? b)!.title
    const label = (a ?? b)!.target?.label ?? ''
    const cell = (row: RowResult | undefined, value: number | null | undefined, digits: number) =>
      row === undefined ? '-' : row.skipped !== null ? row.skipped.split(':')[0]! : fixed(value, digits)
    lines.push(`| ${id}: ${title} | ${label} | ${cell(b, b?.ratio, 3)} | ${cell(a, a?.ratio, 3)} | ` +
      `${cell(b, b?.serverMicrosPerRequest, 1)} | ${cell(a, a?.serverMicrosPerRequest, 1)} | ${verdict(b)} | ${verdict(a)} |`)
  }
  return lines.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [beforePath, afterPath] = process.argv.slice(2)
  if (beforePath === undefined || afterPath === undefined) {
    console.error('usage: node --import tsx bench/compare.ts <before results.json> <after results.json>')
    process.exit(2)
  }
  const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Results
  console.log(compare(read(beforePath), read(afterPath)))
}
