/**
 * Which route pattern a remembered URL belongs to, for the per-route table: the store keeps URLs, not routes, and
 * Fastify's router answers with a handler, not a pattern. Patterns are tried as the router ranks them: static
 * segments before parameters, parameters before wildcards. Host and other constraints are not known from a URL, so
 * two routes that differ only by constraint share their entries under the first.
 */

interface Compiled {
  route: string
  regex: RegExp
  wildcards: number
  params: number
  literal: number
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')

/** `:name` (optionally `(regex)` and `?`), `*`, `::` for a literal colon; everything else literal. */
function compile (route: string): Compiled | undefined {
  let source = ''
  let wildcards = 0
  let params = 0
  let literal = 0
  for (let i = 0; i < route.length;) {
    const c = route[i]!
    if (c === ':' && route[i + 1] === ':') {
      source += ':'
      literal++
      i += 2
    } else if (c === ':') {
      const name = /^:[\w$]+/.exec(route.slice(i))?.[0] ?? ':'
      i += name.length
      let part = '[^/]+'
      if (route[i] === '(') {
        let depth = 0
        const start = i
        for (; i < route.length; i++) {
          if (route[i] === '\\') { i++; continue }
          if (route[i] === '(') depth++
          if (route[i] === ')' && --depth === 0) break
        }
        part = route.slice(start + 1, i).replace(/^\^|\$$/g, '')
        i++
      }
      if (route[i] === '?') {
        part = `(?:${part})?`
        i++
      }
      source += `(?:${part})`
      params++
    } else if (c === '*') {
      source += '.*'
      wildcards++
      i++
    } else {
      source += escape(c)
      literal++
      i++
    }
  }
  try {
    return { route, regex: new RegExp(`^${source}$`), wildcards, params, literal }
  } catch {
    return undefined
  }
}

/** A function from a remembered URL (path and query) to the pattern of the route that answers it. */
export function routeMatcher (routes: string[]): (url: string) => string | undefined {
  const compiled = routes.map(compile).filter((c): c is Compiled => c !== undefined)
    .sort((a, b) => a.wildcards - b.wildcards || a.params - b.params || b.literal - a.literal)
  return (url) => {
    const query = url.indexOf('?')
    const path = query === -1 ? url : url.slice(0, query)
    return compiled.find((c) => c.regex.test(path))?.route
  }
}
