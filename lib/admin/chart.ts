import { MINUTES, type Minute } from './metrics.ts'

const WIDTH = 600
const HEIGHT = 150
const TOP = 8
const BOTTOM = 20
const LEFT = 40
const SLOT = (WIDTH - LEFT) / MINUTES

/** One stacked part of a bar: hits at the bottom, then stale hits, then misses. */
interface Segment { kind: 'hit' | 'stale' | 'miss', y: number, height: number }

/** The chart as the template draws it: numbers only, so the SVG needs no script and no style attribute. */
export interface ChartModel {
  width: number
  height: number
  left: number
  baseline: number
  bars: Array<{ x: number, width: number, segments: Segment[], title: string }>
  ticks: Array<{ y: number, label: string }>
  labels: Array<{ x: number, label: string }>
  total: { hit: number, stale: number, miss: number }
  empty: boolean
}

/** 1, 2 or 5 times a power of ten, at least `n`. */
function niceCeiling (n: number): number {
  if (n <= 5) return 5
  const power = 10 ** Math.floor(Math.log10(n))
  for (const step of [1, 2, 5, 10]) if (step * power >= n) return step * power
  return 10 * power
}

function clock (ms: number): string {
  const date = new Date(ms)
  return `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`
}

/** Hits, stale hits and misses per minute over the last hour, as stacked bars. */
export function chartOf (minutes: Minute[], now = Date.now()): ChartModel {
  const thisMinute = Math.floor(now / 60_000) * 60_000
  const plot = HEIGHT - TOP - BOTTOM
  const baseline = HEIGHT - BOTTOM
  const shown = minutes.filter((m) => m.at > thisMinute - MINUTES * 60_000)
  const sums = shown.map((m) => ({
    at: m.at, hit: m.counts.hit, stale: m.counts.stale, miss: m.counts.miss + m.counts.stored
  }))
  const max = niceCeiling(Math.max(0, ...sums.map((s) => s.hit + s.stale + s.miss)))
  const total = { hit: 0, stale: 0, miss: 0 }
  const bars = sums.map((s) => {
    total.hit += s.hit
    total.stale += s.stale
    total.miss += s.miss
    const slot = MINUTES - 1 - Math.round((thisMinute - s.at) / 60_000)
    const segments: Segment[] = []
    let y = baseline
    for (const kind of ['hit', 'stale', 'miss'] as const) {
      const height = (s[kind] / max) * plot
      if (height <= 0) continue
      y -= height
      segments.push({ kind, y: round(y), height: round(height) })
    }
    return {
      x: round(LEFT + slot * SLOT + 1),
      width: round(SLOT - 2),
      segments,
      title: `${clock(s.at)}: ${s.hit} hits, ${s.stale} stale, ${s.miss} misses`
    }
  })
  return {
    width: WIDTH,
    height: HEIGHT,
    left: LEFT,
    baseline,
    bars,
    ticks: [0, 0.5, 1].map((f) => ({ y: round(baseline - f * plot), label: (max * f).toLocaleString('en-US') })),
    labels: [
      { x: LEFT, label: clock(thisMinute - (MINUTES - 1) * 60_000) },
      { x: round(LEFT + (WIDTH - LEFT) / 2), label: clock(thisMinute - 30 * 60_000) },
      { x: WIDTH, label: 'now' }
    ],
    total,
    empty: total.hit + total.stale + total.miss === 0
  }
}

function round (n: number): number {
  return Math.round(n * 10) / 10
}
