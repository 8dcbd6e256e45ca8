import { compilePattern } from '../patterns.ts'

/** One matcher for a list of name patterns (OR'd); `null` when the list is empty, so callers can skip the work. */
export function namesMatcher (patterns: string[]): ((name: string) => boolean) | null {
  if (patterns.length === 0) return null
  if (patterns.includes('*')) return () => true
  const exact = new Set(patterns.filter((p) => !p.includes('*')))
  const globs = patterns.filter((p) => p.includes('*')).map(compilePattern)
  if (globs.length === 0) return (name) => exact.has(name)
  return (name) => exact.has(name) || globs.some((match) => match(name))
}
