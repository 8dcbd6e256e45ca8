import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify'
import { adminForbidden, adminMethodNotAllowed, adminTooManyPatterns, adminUnsupportedMediaType } from '../errors.ts'
import type { FancyCacheApi } from '../api.ts'
import type { MetricsCollector } from './metrics.ts'
import type { Access, ResolvedAdmin } from './options.ts'
import { SECURITY_HEADERS, crossSiteReason, hostOf, notLocalReason, type Signer } from './security.ts'

/** Most patterns (or tags) one search or purge request may carry: matching is linear, but per pattern. */
export const MAX_PATTERNS = 100

/** Renders a template of views/ with the page layout. */
export type Render = (page: string, data: object) => Promise<string>

/** What the admin routes share. */
export interface Scope {
  app: FastifyInstance
  base: string
  admin: ResolvedAdmin
  api: FancyCacheApi
  collector: MetricsCollector
  signer: Signer
  render: Render
  namespace: string
  rememberAllUrls: boolean
  rememberStatsAllUrls: boolean
}

type Fields = Record<string, unknown>

/** The first value of a query or form field (repeated fields arrive as arrays). */
export function one (value: unknown): string | undefined {
  const first = Array.isArray(value) ? value[0] : value
  return typeof first === 'string' ? first : undefined
}

/** Every string value of a field, however many times it was given. */
export function all (value: unknown): string[] {
  return ([] as unknown[]).concat(value ?? []).filter((v): v is string => typeof v === 'string')
}

/** A list of patterns or tags from a request, refused past MAX_PATTERNS. */
export function bounded (list: string[], what: string): string[] {
  if (list.length > MAX_PATTERNS) throw adminTooManyPatterns(`at most ${MAX_PATTERNS} ${what} per request (got ${list.length})`)
  return list
}

/** A parsed body or query as fields (anything else as none). */
export function fieldsOf (value: unknown): Fields {
  return value !== null && typeof value === 'object' ? value as Fields : {}
}

/** Whether the request's media type is `type`, parameters aside. */
export function contentTypeIs (request: FastifyRequest, type: string): boolean {
  return request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() === type
}

/** Refuse (415) a request whose media type is not `type`. */
export function requireContentType (request: FastifyRequest, type: string): void {
  if (!contentTypeIs(request, type)) throw adminUnsupportedMediaType(`send ${type}`)
}

/** Routes every other method of `url` to a 405 naming the allowed ones. */
export function methodNotAllowed (app: FastifyInstance, base: string, url: string, allowed: HTTPMethods[]): void {
  const others = (['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as HTTPMethods[]).filter((m) => !allowed.includes(m))
  app.route({
    method: others,
    url,
    handler: async (_request, reply) => {
      reply.header('allow', allowed.join(', '))
      throw adminMethodNotAllowed(`${url === '/' ? base : base + url} only answers ${allowed.join(', ')}`)
    }
  })
}

/** Every admin response: security headers; then access (authorize or loopback); then, for writes, same-site only. */
export function guard (app: FastifyInstance, access: Access): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS)
    if (access.authorize !== undefined) {
      if (await access.authorize(request) !== true) throw adminForbidden('not authorized')
      if (access.hosts !== undefined && !access.hosts.allows(hostOf(request))) {
        throw adminForbidden('the Host header is not one of admin.hosts')
      }
    } else {
      const reason = notLocalReason(request, access.hosts!)
      if (reason !== undefined) throw adminForbidden(reason)
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const reason = crossSiteReason(request, access.hosts)
      if (reason !== undefined) throw adminForbidden(`cross-site request refused (${reason})`)
    }
  })
}

function wantsHtml (request: FastifyRequest, path: string): boolean {
  if (path.endsWith('/metrics') || path.endsWith('.css') || path.endsWith('.svg')) return false
  return request.method === 'GET' || (request.headers.accept ?? '').includes('text/html')
}

const PACKAGE_PREFIX = 'fastify-fancy-cache: '

/** The message a user sees: without the package name errors carry for logs. */
function shown (error: FastifyError, status: number): string {
  if (status >= 500) return 'the cache admin could not answer; the server log has the error'
  return error.message.startsWith(PACKAGE_PREFIX) ? error.message.slice(PACKAGE_PREFIX.length) : error.message
}

/**
 * The one error handler of the admin scope: coded errors thrown by its routes and hooks (and Fastify's own, such as a
 * body that is not JSON) become JSON under `/api/`, an HTML page for the pages, plain text elsewhere.
 */
export function errorHandler (base: string, render: Render | undefined, title: string) {
  return async function handle (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (status >= 500) request.log.error({ err: error }, 'fancy-cache admin: request failed')
    const message = shown(error, status)
    const name = STATUS_CODES[status] ?? 'Error'
    reply.code(status)
    const path = request.url.split('?')[0] ?? ''
    if (path.startsWith(`${base}/api/`)) {
      return reply.send({ statusCode: status, code: status >= 500 ? undefined : error.code, error: name, message })
    }
    if (render !== undefined && wantsHtml(request, path)) {
      const html = await render('error', { title, base, pageTitle: `${title} · ${status}`, status, name, message })
      return reply.type('text/html; charset=utf-8').send(html)
    }
    return reply.type('text/plain; charset=utf-8').send(`${status} ${name}: ${message}\n`)
  }
}
