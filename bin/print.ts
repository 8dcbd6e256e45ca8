import type { UrlRow } from '../lib/api.ts'

/**
 * C0 and C1 control characters and bidirectional overrides: a URL or tag is the client's text, and printed raw it
 * could move the cursor, rewrite earlier lines or retitle the terminal. Shown as `\xNN` instead.
 */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g // eslint-disable-line no-control-regex

/** The text with its control characters shown as escapes. */
export function printable (text: string): string {
  return text.replace(CONTROLS, (c) => {
    const code = c.charCodeAt(0)
    return code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, '0')}`
  })
}

/** One JSON line; JSON.stringify leaves C1 controls and bidi overrides raw, so they are escaped too. */
export function jsonLine (value: unknown): string {
  return JSON.stringify(value).replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** `URL  HITS n  MISSES n`, as manage.py fancy-urls prints it. */
export function urlLine (row: UrlRow): string {
  const count = (n: number | null) => (n === null ? '-' : String(n)).padEnd(6)
  return `${printable(row.url).padEnd(40)}  HITS ${count(row.hits)}  MISSES ${row.misses === null ? '-' : row.misses}`
}

/** `tag  ENTRIES n`. */
export function tagLine (tag: { tag: string, keys: number }): string {
  return `${printable(tag.tag).padEnd(40)}  ENTRIES ${tag.keys}`
}

/** Bytes in B, KiB, MiB or GiB, as the admin page shows them. */
export { formatBytes as bytes } from '../lib/admin/listing.ts'

/** Hits over all lookups as a percentage, `-` when there were none. */
export function ratio (hits: number, misses: number): string {
  const total = hits + misses
  return total === 0 ? '-' : `${Math.round((hits / total) * 1000) / 10}%`
}

/** A table with left-aligned first column and right-aligned numbers. */
export function table (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}
