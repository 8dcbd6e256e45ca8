// Before/after per row, as the Markdown table docs/benchmark.md shows:
//   node --import tsx bench/compare.ts bench/results-before.json bench/results.json
// Each side is one run's results.json; ratios are within that run (to its own bare route), so two runs made under
// different background load still compare row by row, and the µs per request are each run's medians.
import { readFileSync, writeFileSync } from 'node:fs'
import { roundsTable, table, targetValue, type Results, type RowResult } from './report.ts'

const fixed = (value: number | null | undefined, digits: number) =>
  value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits)

/** The other work on the machine during the measured windows: the mean over rows, as a share of one core. */
function contention (results: Results): string {
  const shares = results.rows.map((r) => r.otherCpuPercent).filter((v): v is number => v !== null && v !== undefined)
  return shares.length === 0 ? '' : `, other work ${(shares.reduce((x, y) => x + y, 0) / shares.length).toFixed(0)} % of a core (mean over rows)`
}

/** The run in one line: commit, time, load generator, rounds, load average and the contention measured. */
export function describe (results: Results): string {
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

/** The before/after table; without `after`, the before run alone, its "after" cells left empty. */
export function compare (before: Results, after: Results | null): string {
  const afterRows = after?.rows ?? []
  const ids = [...new Set([...before.rows.map((r) => r.id), ...afterRows.map((r) => r.id)])]
  const lines = [
    `Before: ${describe(before)}.`,
    `After: ${after === null ? 'not measured yet' : `${describe(after)}`}.`,
    '',
    '| row | target | ratio to bare, before | after | server µs/req, before | after | target value, before | after |',
    '|---|---|---:|---:|---:|---:|---|---|'
  ]
  for (const id of ids) {
    const b = before.rows.find((r) => r.id === id)
    const a = after === null ? undefined : afterRows.find((r) => r.id === id)
    const title = (a ?? b)!.title
    const label = (a ?? b)!.target?.label ?? ''
    const cell = (row: RowResult | undefined, value: number | null | undefined, digits: number) =>
      row === undefined ? (after === null ? '' : '-') : row.skipped !== null ? row.skipped.split(':')[0]! : fixed(value, digits)
    lines.push(`| ${id}: ${title} | ${label} | ${cell(b, b?.ratio, 3)} | ${cell(a, a?.ratio, 3)} | ` +
      `${cell(b, b?.serverMicrosPerRequest, 1)} | ${cell(a, a?.serverMicrosPerRequest, 1)} | ${verdict(b)} | ${verdict(a)} |`)
  }
  return lines.join('\n')
}

const BEGIN = (name: string) => `<!-- bench:${name} (written by bench/run.ts) -->`
const END = (name: string) => `<!-- /bench:${name} -->`

/** `doc` with the text between the markers of `name` replaced by `body` (the markers stay); unchanged without them. */
export function replaceSection (doc: string, name: string, body: string): string {
  const start = doc.indexOf(BEGIN(name))
  const end = doc.indexOf(END(name))
  if (start === -1 || end < start) return doc
  return `${doc.slice(0, start + BEGIN(name).length)}\n${body}\n${doc.slice(end)}`
}

/** Rewrite the marked sections of the benchmark doc at `docPath`: the run's own tables and the before/after table. */
export function updateDocs (docPath: string, beforePath: string, results: Results): void {
  let doc = readFileSync(docPath, 'utf8')
  const { machine: m, settings } = results
  const notes = results.notes.map((note) => `- ${note}`)
  doc = replaceSection(doc, 'results', [
    `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, Fastify ${m.fastify}, ${m.redis ?? 'no redis-server'}; ` +
      `${settings.connections} connections, ${settings.warmupSeconds} s warm-up and ${settings.durationSeconds} s measured per row ` +
      'and round.',
    '',
    `${describe(results)}.`,
    '',
    table(results.rows),
    '',
    roundsTable(results.rows),
    ...(notes.length === 0 ? [] : ['', ...notes])
  ].join('\n'))
  const before = JSON.parse(readFileSync(beforePath, 'utf8')) as Results
  doc = replaceSection(doc, 'before-after', compare(before, results))
  writeFileSync(docPath, doc)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [beforePath, afterPath] = process.argv.slice(2)
  if (beforePath === undefined) {
    console.error('usage: node --import tsx bench/compare.ts <before results.json> [<after results.json>]')
    process.exit(2)
  }
  const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Results
  console.log(compare(read(beforePath), afterPath === undefined ? null : read(afterPath)))
}
