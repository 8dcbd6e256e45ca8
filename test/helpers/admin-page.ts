import type { FastifyInstance, FastifyServerOptions, InjectOptions } from 'fastify'
import type { FancyCacheOptions } from '../../index.ts'
import { cachedApp } from './app.ts'

/** An app remembering every URL with stats, the admin page on, and a cached catch-all route counting runs. */
export async function adminApp (options: FancyCacheOptions = {}, fastify: FastifyServerOptions = {}) {
  const cached = await cachedApp({ rememberAllUrls: true, rememberStatsAllUrls: true, admin: true, ...options }, fastify)
  cached.app.get('/tagged/:id', {
    config: { fancyCache: { tags: (request) => [`item:${(request.params as { id: string }).id}`] } }
  }, async (request) => `tagged ${request.url} run ${cached.run(request.url)}`)
  cached.app.get('/*', { config: { fancyCache: true } }, async (request) => `page ${request.url} run ${cached.run(request.url)}`)
  return cached
}

const ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&#39;': "'" }
export const unescape = (html: string) => html.replace(/&(lt|gt|amp|quot|#39);/g, (e) => ENTITIES[e]!)

/** The CSRF token the page's forms carry. */
export function csrfOf (html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html)
  if (match === null) throw new Error('no CSRF token on the page')
  return match[1]!
}

/** The URL column of the table, in order, as the user reads it. */
export function urlsOf (html: string): string[] {
  return [...html.matchAll(/<td class="url"><a href="[^"]*">([^<]*)<\/a><\/td>/g)].map((m) => unescape(m[1]!))
}

/** The key column's full keys (the title attribute), in order. */
export function keysOf (html: string): string[] {
  return [...html.matchAll(/<code title="([^"]+)">/g)].map((m) => m[1]!)
}

export function flashOf (html: string): string | undefined {
  const match = /<p class="flash" role="status">([^<]*)<\/p>/.exec(html)
  return match === null ? undefined : unescape(match[1]!)
}

/** Submit a form the way a browser does, same-origin. */
export function postForm (app: FastifyInstance, url: string, fields: Record<string, string>, headers: InjectOptions['headers'] = {}) {
  return app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(fields).toString()
  })
}
