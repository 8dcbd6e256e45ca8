import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify'
import fastifyView from '@fastify/view'
import { Eta } from 'eta'
import { list, PageMemo } from './admin-listing.ts'
import { SECURITY_HEADERS, Signer, crossSiteReason, isLocalClient } from './admin-security.ts'
import {
  MAX_LIMIT, confirmModel, hrefOf, indexModel, one, pageParams, pageStateOf, patternsOf, type PageState, type ViewContext
} from './admin-view.ts'
import { FancyCacheError } from './errors.ts'
import type { AdminOptions } from './options.ts'
import { urlRow, type FancyCacheApi } from './urls.ts'

/** What index.ts hands the admin scope. */
export interface AdminPluginOptions {
  admin: AdminOptions
  api: FancyCacheApi
  rememberAllUrls: boolean
  rememberStatsAllUrls: boolean
  namespace: string
}

type Fields = Record<string, unknown>
type Render = (page: string, data: object) => Promise<string>

const VIEW = 'fancyCacheAdminView'
const FORM = 'application/x-www-form-urlencoded'
const TOKEN_MAX_AGE_MS = 12 * 60 * 60 * 1000
const API_DEFAULT_LIMIT = 100

/** views/ beside lib/ in the sources, two levels up from dist/lib/ once built. */
function viewsDir (): string {
  for (const relative of ['../views/', '../../views/']) {
    const dir = fileURLToPath(new URL(relative, import.meta.url))
    if (existsSync(`${dir}index.eta`)) return dir
  }
  throw new Error('fastify-fancy-cache: the admin page templates (views/*.eta) are missing from the package')
}

function isBadArgument (err: unknown): err is FancyCacheError {
  return err instanceof FancyCacheError && err.code === 'FANCY_CACHE_ERR_INVALID_ARGUMENT'
}

function forbidden (reply: FastifyReply, api: boolean, message: string) {
  reply.code(403)
  return api
    ? reply.send({ statusCode: 403, error: 'Forbidden', message })
    : reply.type('text/plain; charset=utf-8').send(`403 Forbidden: ${message}\n`)
}

function plural (n: number, one: string, many: string): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`
}

/** What the admin routes share. */
interface Scope {
  app: FastifyInstance
  base: string
  opts: AdminPluginOptions
  signer: Signer
  memo: PageMemo
  render: Render
}

/** Every admin response: security headers; then access (authorize or loopback); then, for writes, same-site only. */
function installGuards (app: FastifyInstance, admin: AdminOptions, base: string) {
  const apiPrefix = `${base}/api/`
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS)
    const isApi = request.url.startsWith(apiPrefix)
    const allowed = admin.authorize !== undefined ? await admin.authorize(request) : isLocalClient(request)
    if (allowed !== true) {
      return forbidden(reply, isApi, admin.authorize !== undefined
        ? 'not authorized'
        : 'the cache admin only answers clients on this machine; set admin.authorize to let others in')
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const reason = crossSiteReason(request)
      if (reason !== undefined) return forbidden(reply, isApi, `cross-site request refused (${reason})`)
    }
  })
}

function methodNotAllowed (app: FastifyInstance, base: string, url: string, allowed: HTTPMethods[]) {
  const others = (['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as HTTPMethods[]).filter((m) => !allowed.includes(m))
  app.route({
    method: others,
    url,
    handler: async (_request, reply) => reply.code(405).header('allow', allowed.join(', ')).send({
      statusCode: 405, error: 'Method Not Allowed', message: `${url === '/' ? base : base + url} only answers ${allowed.join(', ')}`
    })
  })
}

function contentTypeIs (request: FastifyRequest, type: string): boolean {
  return request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() === type
}

function pageRoutes (scope: Scope, assets: { stylesheet: Buffer, icon: Buffer }) {
  const { app, base, opts, signer, memo, render } = scope
  const { api } = opts

  function context (flash?: string): ViewContext {
    return {
      base,
      admin: opts.admin,
      namespace: opts.namespace,
      store: api.store.constructor.name,
      rememberAllUrls: opts.rememberAllUrls,
      rememberStatsAllUrls: opts.rememberStatsAllUrls,
      csrf: signer.token(),
      flash
    }
  }

  async function html (reply: FastifyReply, page: string, data: object) {
    return reply.type('text/html; charset=utf-8').send(await render(page, data))
  }

  app.get('/', async (request, reply) => {
    const query = request.query as Fields
    const state = pageStateOf(query)
    const flashText = one(query.flash)
    const flash = flashText !== undefined && signer.verifyMac('flash', flashText, one(query.sig) ?? '') ? flashText : undefined
    const totals = await api.stats()
    const listing = await list(api, memo, state.query, totals.entries)
    return html(reply, 'index', indexModel(context(flash), state, listing, totals))
  })
  app.get('/confirm', async (_request, reply) => html(reply, 'confirm', confirmModel(context(), await api.stats())))
  app.get('/style.css', async (_request, reply) => reply.type('text/css; charset=utf-8').send(assets.stylesheet))
  app.get('/favicon.svg', async (_request, reply) => reply.type('image/svg+xml').send(assets.icon))
  app.post('/purge', formPurge(scope))
  methodNotAllowed(app, base, '/', ['GET'])
  methodNotAllowed(app, base, '/purge', ['POST'])
}

/** The page's purge forms: one row (by key), the current search, or everything (after the confirm page). */
function formPurge (scope: Scope) {
  const { base, opts, signer, memo } = scope
  const { api } = opts

  /** Back to the page (303, so a reload does not post again) with a signed flash line. */
  function back (reply: FastifyReply, state: PageState, flash: string, change: { cursor?: undefined, offset?: number } = {}) {
    const params = pageParams(state, change)
    params.set('flash', flash)
    params.set('sig', signer.mac('flash', flash))
    return reply.redirect(hrefOf(base, params), 303)
  }

  return async function purge (request: FastifyRequest, reply: FastifyReply) {
    if (!contentTypeIs(request, FORM)) {
      return reply.code(415).send({ statusCode: 415, error: 'Unsupported Media Type', message: `send ${FORM}` })
    }
    const form = (request.body ?? {}) as Fields
    const refused = signer.check(form._csrf)
    if (refused !== undefined) return forbidden(reply, false, refused)
    const state = pageStateOf(form)
    const action = one(form.action)
    if (action === 'key') {
      const key = one(form.key) ?? ''
      const url = one(form.url) ?? key
      const before = await api.store.epoch()
      const purged = await api.purgeKey(key)
      memo.forget(key, before, await api.store.epoch())
      return back(reply, state, purged ? `Purged ${url}` : `${url} was no longer cached`)
    }
    if (action === 'matching') {
      if (state.query.patterns.length === 0) return back(reply, state, 'Nothing purged: search for the URLs to purge first')
      const purged = await api.purgeUrls(state.query.patterns)
      return back(reply, state, `Purged ${plural(purged, 'entry', 'entries')} matching ${state.q}`, { cursor: undefined, offset: 0 })
    }
    if (action === 'all') {
      if (one(form.confirm) !== 'yes') return reply.redirect(`${base}/confirm`, 303)
      const { entries } = await api.stats()
      await api.clear()
      return back(reply, pageStateOf({}), `Purged all ${plural(entries, 'entry', 'entries')} (namespace ${opts.namespace})`)
    }
    return reply.code(400).type('text/plain; charset=utf-8').send('400 Bad Request: action must be key, matching or all\n')
  }
}

function badRequest (reply: FastifyReply, message: string) {
  return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message })
}

function apiRoutes (scope: Scope) {
  const { app, base, opts } = scope
  const { api } = opts

  app.get('/api/urls', async (request, reply) => {
    const query = request.query as Fields
    const patterns = ([] as unknown[]).concat(query.q ?? []).filter((q) => typeof q === 'string').flatMap(patternsOf)
    const limitText = one(query.limit)
    const limit = limitText === undefined ? API_DEFAULT_LIMIT : Number(limitText)
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      return badRequest(reply, `limit must be a whole number from 1 to ${MAX_LIMIT}`)
    }
    try {
      const page = await api.scanUrls({ urls: patterns, cursor: one(query.cursor) || '0', count: limit })
      return {
        cursor: page.cursor === '0' ? null : page.cursor,
        urls: page.entries.map(urlRow),
        totals: await api.stats()
      }
    } catch (err) {
      if (!isBadArgument(err)) throw err
      return badRequest(reply, err.message)
    }
  })

  app.post('/api/purge', async (request, reply) => {
    // A browser cannot send this content type cross-site without a CORS preflight, which nothing here answers.
    if (!contentTypeIs(request, 'application/json')) {
      return reply.code(415).send({ statusCode: 415, error: 'Unsupported Media Type', message: 'send application/json' })
    }
    const body = request.body as Fields | null
    const given = body !== null && typeof body === 'object' ? ['urls', 'tags', 'all'].filter((k) => k in body) : []
    if (given.length !== 1 || (given[0] === 'all' && body!.all !== true)) {
      return badRequest(reply, 'send exactly one of { "urls": [...] }, { "tags": [...] } or { "all": true }')
    }
    try {
      if (given[0] === 'urls') return { purged: await api.purgeUrls(body!.urls as string[]) }
      if (given[0] === 'tags') return { purged: await api.purgeTags(body!.tags as string[]) }
      const { entries } = await api.stats()
      await api.clear()
      return { purged: entries }
    } catch (err) {
      if (!isBadArgument(err)) throw err
      return badRequest(reply, err.message)
    }
  })

  methodNotAllowed(app, base, '/api/urls', ['GET'])
  methodNotAllowed(app, base, '/api/purge', ['POST'])
}

/**
 * The admin page, its JSON API and their guards, in a scope of their own: the page's view engine, form parser and
 * hooks never reach the application's routes. No route here has `config.fancyCache`, so nothing here is cached.
 */
export async function adminPlugin (app: FastifyInstance, opts: AdminPluginOptions): Promise<void> {
  const base = app.prefix
  const views = viewsDir()

  await app.register(fastifyView, {
    engine: { eta: new Eta({ autoEscape: true, autoTrim: [false, 'nl'] }) },
    root: views,
    propertyName: VIEW,
    production: true
  })
  const render = (app as unknown as Record<typeof VIEW, Render>)[VIEW]

  // Parsed here with URLSearchParams whatever form parser the application has: it stays out of this scope.
  if (app.hasContentTypeParser(FORM)) app.removeContentTypeParser(FORM)
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })

  installGuards(app, opts.admin, base)
  const signer = new Signer(opts.admin.secret, `${opts.namespace}\0${base}`, TOKEN_MAX_AGE_MS)
  const scope: Scope = { app, base, opts, signer, memo: new PageMemo(), render }
  pageRoutes(scope, { stylesheet: readFileSync(`${views}admin.css`), icon: readFileSync(`${views}favicon.svg`) })
  apiRoutes(scope)
}
