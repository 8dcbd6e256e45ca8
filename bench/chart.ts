// The chart of a run as SVG text: one bar per row (req/s relative to the bare route) with its server µs per request,
// and a dashed line at each ratio target (the miss row's target is in µs, written under its bar).
import { targetValue, type Results, type RowResult } from './report.ts'
import { ROWS } from './rows.ts'

const SHORT = new Map<string, string>(ROWS.map((row) => [row.id, row.short]))

/** Words of a label in lines of at most `width` characters (bars are narrow: 13 rows share 1,000 pixels). */
function wrap (text: string, width: number): string[] {
  const lines: string[] = []
  for (const word of text.split(' ')) {
    const last = lines.length - 1
    if (last >= 0 && lines[last]!.length + 1 + word.length <= width) lines[last] += ` ${word}`
    else lines.push(word)
  }
  return lines
}

const escape = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`)

function targetRatio (row: RowResult, rows: RowResult[]): number | null {
  const target = row.target
  if (target === null || target.kind !== 'ratio') return null
  const of = rows.find((r) => r.id === target.of)
  return of?.ratio === null || of?.ratio === undefined ? null : of.ratio * target.min
}

export function chart (results: Results): string {
  const { rows, machine } = results
  const width = 1040
  const height = 460
  const left = 56
  const right = 16
  const top = 70
  const bottom = 112
  const plotW = width - left - right
  const plotH = height - top - bottom
  const highest = Math.max(1.1, ...rows.map((r) => r.ratio ?? 0), ...rows.map((r) => targetRatio(r, rows) ?? 0))
  // About eight grid lines, at 0.25, 0.5, 1, 2... apart.
  const step = [0.25, 0.5, 1, 2, 5, 10, 20, 50].find((s) => highest / s <= 8) ?? 100
  const yMax = Math.ceil(highest / step) * step
  const y = (ratio: number) => top + plotH - (ratio / yMax) * plotH
  const slot = plotW / rows.length
  const barW = slot * 0.6
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      'font-family="system-ui, sans-serif" font-size="12">',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="24" font-size="16" font-weight="bold">fastify-fancy-cache: req/s relative to a bare Fastify route, server CPU µs per request</text>`,
    `<text x="${left}" y="44" fill="#555">${escape(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ` +
      `${machine.loadGenerator}, ${results.settings.connections} connections, ${results.settings.durationSeconds} s per row, ` +
      `${results.settings.rounds} round(s), commit ${machine.commit ?? '?'}, ${machine.date.slice(0, 16).replace('T', ' ')} UTC`)}</text>`
  ]
  for (let tick = 0; tick <= yMax + 1e-9; tick += step) {
    const ty = y(tick).toFixed(1)
    out.push(`<line x1="${left}" x2="${width - right}" y1="${ty}" y2="${ty}" stroke="${tick === 1 ? '#999' : '#e5e5e5'}"/>`,
      `<text x="${left - 6}" y="${ty}" dy="4" text-anchor="end" fill="#555">${tick.toFixed(2)}</text>`)
  }
  rows.forEach((row, i) => {
    const cx = Math.round((left + slot * i + slot / 2) * 10) / 10
    const x = cx - barW / 2
    if (row.ratio === null) {
      out.push(`<text x="${cx}" y="${y(0) - 8}" text-anchor="middle" fill="#999">${row.skipped?.startsWith('n/a') === true ? 'n/a' : 'skipped'}</text>`)
    } else {
      const met = row.target?.met
      const fill = met === true ? '#3a7d44' : met === false ? '#c0392b' : '#4a6fa5'
      out.push(`<rect x="${x.toFixed(1)}" y="${y(row.ratio).toFixed(1)}" width="${barW.toFixed(1)}" ` +
        `height="${(y(0) - y(row.ratio)).toFixed(1)}" fill="${fill}"><title>${escape(`${row.id}. ${row.title}: ` +
        `${Math.round(row.reqPerSec ?? 0)} req/s, p50 ${row.p50?.toFixed(2)} ms, p99 ${row.p99?.toFixed(2)} ms`)}</title></rect>`,
      `<text x="${cx}" y="${(y(row.ratio) - 5).toFixed(1)}" text-anchor="middle">${row.ratio.toFixed(2)}</text>`)
      if (row.serverMicrosPerRequest !== null) {
        out.push(`<text x="${cx}" y="${y(0) + 63}" text-anchor="middle" fill="#555" font-size="11">${row.serverMicrosPerRequest.toFixed(1)} µs</text>`)
      }
      if (row.target?.kind === 'extra-micros') {
        out.push(`<text x="${cx}" y="${y(0) + 77}" text-anchor="middle" fill="#555" font-size="11">${escape(targetValue(row.target))}</text>`,
          `<text x="${cx}" y="${y(0) + 90}" text-anchor="middle" fill="#555" font-size="11">target ≤ +${row.target.max}</text>`)
      }
    }
    const target = targetRatio(row, rows)
    if (target !== null) {
      const ty = y(target).toFixed(1)
      out.push(`<line x1="${(x - 6).toFixed(1)}" x2="${(x + barW + 6).toFixed(1)}" y1="${ty}" y2="${ty}" ` +
        'stroke="#000" stroke-width="2" stroke-dasharray="5 3"/>')
    }
    out.push(`<text x="${cx}" y="${y(0) + 16}" text-anchor="middle" font-weight="bold" font-size="11">${escape(row.id)}</text>`)
    wrap(SHORT.get(row.id) ?? row.title, 10).slice(0, 2).forEach((line, n) => {
      out.push(`<text x="${cx}" y="${y(0) + 31 + 13 * n}" text-anchor="middle" fill="#333" font-size="11">${escape(line)}</text>`)
    })
  })
  const ly = height - 14
  out.push(`<line x1="${left}" x2="${left + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="#000" stroke-width="2" stroke-dasharray="5 3"/>`,
    `<text x="${left + 34}" y="${ly}">target</text>`,
    `<rect x="${left + 100}" y="${ly - 10}" width="12" height="12" fill="#3a7d44"/><text x="${left + 118}" y="${ly}">target met</text>`,
    `<rect x="${left + 210}" y="${ly - 10}" width="12" height="12" fill="#c0392b"/><text x="${left + 228}" y="${ly}">target missed</text>`,
    `<rect x="${left + 330}" y="${ly - 10}" width="12" height="12" fill="#4a6fa5"/><text x="${left + 348}" y="${ly}">no target</text>`,
    '</svg>', '')
  return out.join('\n')
}
