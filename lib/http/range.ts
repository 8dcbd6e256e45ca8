// Range requests answered from a stored full response (RFC 9110 §14): one byte range, or the whole body.
import { parseHttpDate } from './cache-control.ts'

/** How to answer a Range request from a full body of known size. */
export type RangeAnswer =
  /** Send the whole body with its status (no Range, an ignored one, or several ranges). */
  | { status: 200 }
  /** Send bytes `start`…`end` (inclusive) as a `206` with this `Content-Range`. */
  | { status: 206, start: number, end: number, contentRange: string }
  /** Send a `416` with this `Content-Range`. */
  | { status: 416, contentRange: string }

const FULL: RangeAnswer = { status: 200 }
const SPEC = /^(\d*)-(\d*)$/

/**
 * RFC 9110 §14.2: a single `bytes=` range → 206 (the last position clipped to the body, a suffix range counted
 * from the end); a range starting past the end, or an empty suffix, → 416. Several ranges are answered with the
 * whole body (a server may ignore Range), as is anything that does not parse (§14.1.1: an invalid range set is
 * ignored) or another range unit.
 */
export function byteRange (range: string, size: number): RangeAnswer {
  const eq = range.indexOf('=')
  if (eq === -1 || range.slice(0, eq).trim().toLowerCase() !== 'bytes') return FULL
  const specs = range.slice(eq + 1).split(',').map((spec) => spec.trim()).filter((spec) => spec !== '')
  if (specs.length !== 1) return FULL
  const match = SPEC.exec(specs[0]!)
  if (match === null || (match[1] === '' && match[2] === '')) return FULL
  const unsatisfiable: RangeAnswer = { status: 416, contentRange: `bytes */${size}` }
  let start: number
  let end: number
  if (match[1] === '') {
    const suffix = Number(match[2])
    if (suffix === 0 || size === 0) return unsatisfiable
    start = Math.max(0, size - suffix)
    end = size - 1
  } else {
    start = Number(match[1])
    end = match[2] === '' ? Infinity : Number(match[2])
    if (end < start) return FULL
    if (start >= size) return unsatisfiable
    end = Math.min(end, size - 1)
  }
  return { status: 206, start, end, contentRange: `bytes ${start}-${end}/${size}` }
}

/**
 * RFC 9110 §13.1.5: whether an `If-Range` lets the range be served: an entity tag must match the stored one by
 * strong comparison (a weak tag never does), a date must equal the stored `Last-Modified` exactly.
 */
export function ifRangeMatches (ifRange: string, etag: string | undefined, lastModified: string | string[] | undefined): boolean {
  const value = ifRange.trim()
  if (value.startsWith('"') || value.startsWith('W/')) {
    return etag !== undefined && !value.startsWith('W/') && !etag.startsWith('W/') && value === etag
  }
  if (typeof lastModified !== 'string') return false
  const date = parseHttpDate(value)
  return date !== undefined && date === parseHttpDate(lastModified)
}
