// The chart of a run as SVG text: one bar per row (req/s relative to row a) and a dashed line at each row's target.
import type { Results, RowResult } from './report.ts'

const SHORT: Record<string, string> = {
  a: 'bare route',
  b: '20 ms handler',
  c: 'memory hit',
  d: 'Redis hit',
  e: 'Redis + L1 hit',
  f: 'miss',
  g: 'hit + stats',
  h: 'Varnish hit'
}

const escape = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`)

function targetRatio (row: RowResult, rows: RowResult[]): number | null {
  if (row.target === null) return null
  const of = rows.find((r) => r.id === row.target!.of)
  return of?.ratio === null || of?.ratio === undefined ? null : of.ratio * row.target.ratio
}

export function chart (results: Results): string {
  const { rows, machine } = results
  const width = 800
  const height = 420
  const left = 56
  const right = 16
  const top = 70
  const bottom = 70
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
    `<text x="${left}" y="24" font-size="16" font-weight="bold">fastify-fancy-cache: req/s relative to a bare Fastify route (row a)</text>`,
    `<text x="${left}" y="44" fill="#555">${escape(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ` +
      `${results.settings.connections} connections, ${results.settings.durationSeconds} s per row, ${machine.date.slice(0, 10)}`)}</text>`
  ]
  for (let tick = 0; tick <= yMax + 1e-9; tick += step) {
    const ty = y(tick).toFixed(1)
    out.push(`<line x1="${left}" x2="${width - right}" y1="${ty}" y2="${ty}" stroke="${tick === 1 ? '#999' : '#e5e5e5'}"/>`,
      `<text x="${left - 6}" y="${ty}" dy="4" text-anchor="end" fill="#555">${tick.toFixed(2)}</text>`)
  }
  rows.forEach((row, i) => {
    const cx = left + slot * i + slot / 2
    const x = cx - barW / 2
    if (row.ratio === null) {
      out.push(`<text x="${cx}" y="${y(0) - 8}" text-anchor="middle" fill="#999">skipped</text>`)
    } else {
      const met = row.target?.met
      const fill = met === true ? '#3a7d44' : met === false ? '#c0392b' : '#4a6fa5'
      out.push(`<rect x="${x.toFixed(1)}" y="${y(row.ratio).toFixed(1)}" width="${barW.toFixed(1)}" ` +
        `height="${(y(0) - y(row.ratio)).toFixed(1)}" fill="${fill}"><title>${escape(`${row.id}. ${row.title}: ` +
        `${Math.round(row.reqPerSec ?? 0)} req/s, p50 ${row.p50?.toFixed(2)} ms, p99 ${row.p99?.toFixed(2)} ms`)}</title></rect>`,
      `<text x="${cx}" y="${(y(row.ratio) - 5).toFixed(1)}" text-anchor="middle">${row.ratio.toFixed(2)}</text>`)
    }
    const target = targetRatio(row, rows)
    if (target !== null) {
      const ty = y(target).toFixed(1)
      out.push(`<line x1="${(x - 6).toFixed(1)}" x2="${(x + barW + 6).toFixed(1)}" y1="${ty}" y2="${ty}" ` +
        'stroke="#000" stroke-width="2" stroke-dasharray="5 3"/>')
    }
    out.push(`<text x="${cx}" y="${y(0) + 18}" text-anchor="middle" font-weight="bold">${row.id}</text>`,
      `<text x="${cx}" y="${y(0) + 34}" text-anchor="middle" fill="#333">${escape(SHORT[row.id] ?? row.title)}</text>`)
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
