// Parsers for the header fields a shared cache reads: Cache-Control, the targeted CDN fields, Age and HTTP dates.
// Each takes a header value as Fastify or Node hands it over (one string, a string per field line, or a number).

/** A header value as `reply.getHeader()` or `request.headers` give it. */
export type HeaderValue = string | number | string[] | undefined

/** Cache directives by lower-case name; a directive without an argument maps to `true`. First occurrence wins. */
export type Directives = Map<string, string | true>

/** The field lines of a header joined as one list, as RFC 9110 §5.3 allows for list-based fields. */
export function joinLines (value: HeaderValue): string {
  if (value === undefined) return ''
  return Array.isArray(value) ? value.join(', ') : String(value)
}

/**
 * Cache-Control (RFC 9111 §5.2): comma-separated directives, names case-insensitive, arguments a token or a
 * quoted-string. Commas inside quoted strings do not separate directives, so `extension="max-age=1, foo"` is one
 * directive. A repeated directive keeps its first value (§4.2.1 allows using the first occurrence).
 */
export function parseCacheControl (value: HeaderValue): Directives {
  const directives: Directives = new Map()
  const text = joinLines(value)
  let i = 0
  while (i < text.length) {
    let end = i
    while (end < text.length && text[end] !== ',' && text[end] !== '=') end++
    const name = text.slice(i, end).trim().toLowerCase()
    let argument: string | true = true
    i = end
    if (text[i] === '=') {
      i++
      if (text[i] === '"') {
        const quoted = readQuoted(text, i)
        argument = quoted.value
        i = quoted.end
      } else {
        let stop = i
        while (stop < text.length && text[stop] !== ',') stop++
        argument = text.slice(i, stop).trim()
        i = stop
      }
      // Anything after a quoted string up to the next comma is malformed and ignored.
      while (i < text.length && text[i] !== ',') i++
    }
    i++
    if (name !== '' && !directives.has(name)) directives.set(name, argument)
  }
  return directives
}

/** A quoted-string starting at `start` (the opening quote): its unescaped value and the index after it. */
function readQuoted (text: string, start: number): { value: string, end: number } {
  let value = ''
  let i = start + 1
  while (i < text.length && text[i] !== '"') {
    if (text[i] === '\\' && i + 1 < text.length) i++
    value += text[i]
    i++
  }
  return { value, end: i + 1 }
}

// RFC 9111 §1.2.2: a delta-seconds too large to represent is taken as 2^31.
const MAX_DELTA = 2147483648

/**
 * A delta-seconds argument (RFC 9111 §1.2.2): digits only, capped at 2^31. `undefined` when absent or invalid
 * (negative, fractional, single-quoted, empty).
 */
export function deltaSeconds (argument: string | true | undefined): number | undefined {
  if (typeof argument !== 'string' || !/^\d+$/.test(argument)) return undefined
  const value = Number(argument)
  return value > MAX_DELTA ? MAX_DELTA : value
}

/**
 * Age (RFC 9111 §5.1): the first field line's first member, when it is a non-negative integer; anything else is
 * ignored (`undefined`), as are later lines.
 */
export function parseAge (value: HeaderValue): number | undefined {
  if (value === undefined) return undefined
  const first = Array.isArray(value) ? value[0] : String(value)
  if (first === undefined) return undefined
  return deltaSeconds(first.split(',')[0]!.trim())
}

// Structured Field Dictionary syntax (RFC 8941 §3.2), as RFC 9213 requires for the targeted cache fields.
const SF_KEY = /^[a-z*][a-z0-9_\-.*]*/
const SF_BARE_ITEM = /^(?:-?\d{1,15}(?:\.\d{1,3})?|"(?:[^"\\]|\\["\\])*"|[A-Za-z*][\w:/!#$%&'*+\-.^`|~]*|:[A-Za-z0-9+/=]*:|\?[01])/
const SF_PARAMETERS = /^(?:;\s*[a-z*][a-z0-9_\-.*]*(?:=(?:-?\d{1,15}(?:\.\d{1,3})?|"(?:[^"\\]|\\["\\])*"|[A-Za-z*][\w:/!#$%&'*+\-.^`|~]*|:[A-Za-z0-9+/=]*:|\?[01]))?)*/

/**
 * A targeted cache field (RFC 9213 `CDN-Cache-Control`, or our own `Fancy-Cache-Control`) as directives, or
 * `undefined` when it is absent or not a valid Structured Field Dictionary, or when a directive whose argument
 * RFC 9111 defines has one of the wrong type: an invalid targeted field is ignored as a whole (RFC 9213 §2.1).
 * Boolean `?0` members are absent directives; `?1` and bare keys are present.
 */
export function parseTargeted (value: HeaderValue): Directives | undefined {
  if (value === undefined) return undefined
  const directives: Directives = new Map()
  let rest = joinLines(value).trim()
  while (rest !== '') {
    const key = SF_KEY.exec(rest)
    if (key === null) return undefined
    rest = rest.slice(key[0].length)
    let argument: string | true = true
    if (rest[0] === '=') {
      const item = SF_BARE_ITEM.exec(rest.slice(1))
      if (item === null) return undefined
      argument = item[0]
      rest = rest.slice(1 + item[0].length)
    }
    rest = rest.slice(SF_PARAMETERS.exec(rest)![0].length).trimStart()
    if (!typedRight(key[0], argument)) return undefined
    if (argument !== '?0' && !directives.has(key[0])) directives.set(key[0], argument === '?1' ? true : argument)
    if (rest === '') break
    if (rest[0] !== ',') return undefined
    rest = rest.slice(1).trimStart()
    if (rest === '') return undefined
  }
  return directives
}

const INTEGER_DIRECTIVES = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error'])

function typedRight (name: string, argument: string | true): boolean {
  if (INTEGER_DIRECTIVES.has(name)) return typeof argument === 'string' && /^\d+$/.test(argument)
  return true
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
const LONG_DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday']
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
const IMF_FIXDATE = /^([a-z]{3}), (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) gmt$/i
const RFC850_DATE = /^([a-z]{6,9}), (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) gmt$/i
const ASCTIME_DATE = /^([a-z]{3}) ([a-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i

/**
 * An HTTP-date (RFC 9110 §5.6.7) in milliseconds since the epoch, or `undefined` when it is not one of the three
 * formats a recipient must accept (IMF-fixdate, RFC 850, asctime). Names are compared case-insensitively; every
 * other deviation (another time zone, missing comma, a one-digit hour) makes it invalid. A field with several
 * lines is invalid too.
 */
export function parseHttpDate (value: HeaderValue, now = Date.now()): number | undefined {
  if (value === undefined || (Array.isArray(value) && value.length !== 1)) return undefined
  const text = String(Array.isArray(value) ? value[0] : value)
  let match = IMF_FIXDATE.exec(text)
  if (match !== null) {
    if (!DAYS.includes(match[1]!.toLowerCase())) return undefined
    return utc(Number(match[4]), match[3]!, match[2]!, match[5]!, match[6]!, match[7]!)
  }
  match = RFC850_DATE.exec(text)
  if (match !== null) {
    if (!LONG_DAYS.includes(match[1]!.toLowerCase())) return undefined
    return utc(fullYear(Number(match[4]), now), match[3]!, match[2]!, match[5]!, match[6]!, match[7]!)
  }
  match = ASCTIME_DATE.exec(text)
  if (match !== null) {
    if (!DAYS.includes(match[1]!.toLowerCase())) return undefined
    return utc(Number(match[7]), match[2]!, match[3]!.trim(), match[4]!, match[5]!, match[6]!)
  }
  return undefined
}

/** RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past century. */
function fullYear (twoDigits: number, now: number): number {
  const current = new Date(now).getUTCFullYear()
  let year = Math.floor(current / 100) * 100 + twoDigits
  if (year > current + 50) year -= 100
  return year
}

function utc (year: number, month: string, day: string, hour: string, minute: string, second: string): number | undefined {
  const m = MONTHS.indexOf(month.toLowerCase())
  const d = Number(day)
  const h = Number(hour)
  const min = Number(minute)
  const s = Number(second)
  if (m === -1 || d < 1 || d > 31 || h > 23 || min > 59 || s > 60) return undefined
  return Date.UTC(year, m, d, h, min, s)
}
