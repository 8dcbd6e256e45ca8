import { invalidArgument } from './errors.ts'

/** Most patterns (or tags, or URLs) one API call takes: more is an error, so one call's work is bounded. */
export const MAX_PATTERNS = 1000
/** Longest pattern (or tag, or URL) one API call takes, in characters. */
export const MAX_PATTERN_LENGTH = 4096

/**
 * A matcher for findUrls patterns: `*` matches any run of characters, everything else itself, the whole URL must
 * match. Greedy leftmost matching of the literal pieces is exact for `*`-only globs and takes linear time, so a
 * hostile pattern such as `*a*a*a*a*b` cannot blow up the way a backtracking regex would.
 */
export function compilePattern (pattern: string): (url: string) => boolean {
  const pieces = pattern.split('*')
  if (pieces.length === 1) return (url) => url === pattern
  const first = pieces[0]!
  const last = pieces[pieces.length - 1]!
  const middle = pieces.slice(1, -1).filter((p) => p !== '')
  const fixed = first.length + last.length
  return (url) => {
    if (url.length < fixed || !url.startsWith(first) || !url.endsWith(last)) return false
    let at = first.length
    const end = url.length - last.length
    for (const piece of middle) {
      const found = url.indexOf(piece, at)
      if (found === -1 || found + piece.length > end) return false
      at = found + piece.length
    }
    return true
  }
}

/** A string or a list of strings, checked and capped. */
export function listOf (value: unknown, what: string): string[] {
  if (value === undefined) return []
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || !list.every((u) => typeof u === 'string')) {
    throw invalidArgument(`${what} must be a string or an array of strings`)
  }
  if (list.length > MAX_PATTERNS) throw invalidArgument(`${what}: at most ${MAX_PATTERNS} per call, got ${list.length}`)
  if (list.some((p) => p.length > MAX_PATTERN_LENGTH)) {
    throw invalidArgument(`${what}: each at most ${MAX_PATTERN_LENGTH} characters`)
  }
  return list
}

/** One matcher for several patterns (OR'd); none matches everything. */
export function matcherOf (patterns: string[]): (url: string) => boolean {
  if (patterns.length === 0) return () => true
  const matchers = patterns.map(compilePattern)
  return (url) => matchers.some((match) => match(url))
}

/** One matcher for a list of name patterns (OR'd); `null` when the list is empty, so callers can skip the work. */
export function namesMatcher (patterns: string[]): ((name: string) => boolean) | null {
  if (patterns.length === 0) return null
  if (patterns.includes('*')) return () => true
  const exact = new Set(patterns.filter((p) => !p.includes('*')))
  const globs = patterns.filter((p) => p.includes('*')).map(compilePattern)
  if (globs.length === 0) return (name) => exact.has(name)
  return (name) => exact.has(name) || globs.some((match) => match(name))
}
