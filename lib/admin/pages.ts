import type { FastifyReply, FastifyRequest } from 'fastify'
import { adminBadRequest, adminNotFound } from '../errors.ts'
import { chartOf } from './chart.ts'
import { entryModel, healthModel, isUserTag, printable, routeRows } from './detail.ts'
import { list } from './listing.ts'
import { confirmAllModel, formPurge } from './purge.ts'
import { fieldsOf, methodNotAllowed, one, type Scope } from './scope.ts'
import { routeSizesOf } from './sizes.ts'
import { indexModel, layoutOf, pageStateOf, totalsOf, type ViewContext } from './view.ts'

const TAGS_PAGE = 100

/** The HTML pages: URLs (with the chart and health), routes, tags, one entry, the purge-all confirmation. */
export function pageRoutes (scope: Scope, assets: { stylesheet: Buffer, icon: Buffer }): void {
  const { app, base, api, collector, signer, render } = scope

  function context (request: FastifyRequest, current: ViewContext['current']): ViewContext {
    const query = fieldsOf(request.query)
    const flashText = one(query.flash)
    const flash = flashText !== undefined && signer.verifyMac('flash', flashText, one(query.sig) ?? '') ? flashText : undefined
    return {
      title: scope.admin.title,
      base,
      namespace: scope.namespace,
      store: `${api.health().type} store`,
      rememberAllUrls: scope.rememberAllUrls,
      rememberStatsAllUrls: scope.rememberStatsAllUrls,
      csrf: signer.token(),
      flash,
      current
    }
  }

  async function html (reply: FastifyReply, page: string, data: object) {
    return reply.type('text/html; charset=utf-8').send(await render(page, data))
  }

  function health () {
    return healthModel(api.health(), collector)
  }

  app.get('/', async (request, reply) => {
    const state = pageStateOf(fieldsOf(request.query))
    const totals = await api.stats()
    const listing = await list(api, state.query, totals.entries)
    return html(reply, 'index', {
      ...indexModel(context(request, 'urls'), state, listing, totals),
      chart: chartOf(collector.minutes()),
      health: health()
    })
  })

  app.get('/routes', async (request, reply) => {
    const sizes = await routeSizesOf(scope)
    return html(reply, 'routes', {
      ...layoutOf(context(request, 'routes'), 'routes'),
      rows: routeRows(collector, sizes),
      unmatched: sizes.unmatched,
      partial: sizes.partial?.toLocaleString('en-US'),
      totals: totalsOf(await api.stats()),
      health: health()
    })
  })

  app.get('/tags', async (request, reply) => {
    const query = fieldsOf(request.query)
    const cursor = one(query.cursor) || '0'
    const page = api.store.scanTags === undefined ? undefined : await api.scanTags({ cursor, count: TAGS_PAGE })
    return html(reply, 'tags', {
      ...layoutOf(context(request, 'tags'), 'tags'),
      supported: page !== undefined,
      tags: (page?.tags ?? []).filter(isUserTag).map((t) => ({ tag: t.tag, shown: printable(t.tag), keys: t.keys.toLocaleString('en-US') })),
      first: cursor !== '0' ? `${base}/tags` : undefined,
      next: page !== undefined && page.cursor !== '0' ? `${base}/tags?cursor=${encodeURIComponent(page.cursor)}` : undefined
    })
  })

  app.get('/entry', async (request, reply) => {
    const key = one(fieldsOf(request.query).key)
    if (key === undefined || key === '') throw adminBadRequest('key: the cache key of the entry to show')
    if (api.store.inspect === undefined) throw adminNotFound('this cache\'s store cannot show one entry\'s details')
    const detail = await api.inspect(key)
    if (detail === undefined) throw adminNotFound(`nothing is cached under key ${key} any more`)
    return html(reply, 'entry', { ...layoutOf(context(request, 'entry'), 'entry'), ...entryModel(detail) })
  })

  app.get('/confirm', async (request, reply) => html(reply, 'confirm', confirmAllModel(context(request, 'confirm'), await api.stats())))
  app.get('/style.css', async (_request, reply) => reply.type('text/css; charset=utf-8').send(assets.stylesheet))
  app.get('/favicon.svg', async (_request, reply) => reply.type('image/svg+xml').send(assets.icon))
  app.post('/purge', formPurge(scope, context))
  methodNotAllowed(app, base, '/', ['GET'])
  methodNotAllowed(app, base, '/purge', ['POST'])
}
