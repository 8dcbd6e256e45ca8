import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import fastifyView from '@fastify/view'
import { Eta } from 'eta'
import { invalidOption } from '../errors.ts'
import { packageRoot } from '../package-root.cts'
import type { AdminOptions, MetricsOptions } from '../options.ts'
import type { FancyCacheApi } from '../api.ts'
import { CONTENT_TYPE, familiesOf, registerIn, render as renderText } from './exposition.ts'
import { jsonRoutes } from './json.ts'
import { MetricsCollector } from './metrics.ts'
import { resolveAdmin, resolveMetrics, type Access, type ResolvedAdmin } from './options.ts'
import { pageRoutes } from './pages.ts'
import { errorHandler, guard, methodNotAllowed, type Render, type Scope } from './scope.ts'
import { Signer } from './security.ts'

/** What index.ts hands over: the options as given, and the cache they watch. */
export interface AdminSetup {
  admin: AdminOptions | boolean | undefined
  metrics: MetricsOptions | boolean | undefined
  api: FancyCacheApi
  rememberAllUrls: boolean
  rememberStatsAllUrls: boolean
  namespace: string
}

const VIEW = 'fancyCacheAdminView'
const FORM = 'application/x-www-form-urlencoded'
const TOKEN_MAX_AGE_MS = 12 * 60 * 60 * 1000

/** `GET /metrics` in the Prometheus text format. */
function metricsRoute (app: FastifyInstance, base: string, collector: MetricsCollector): void {
  app.get('/metrics', async (_request, reply) => reply.type(CONTENT_TYPE).send(renderText(await familiesOf(collector))))
  methodNotAllowed(app, base, '/metrics', ['GET'])
}

/** The metrics alone, in a scope of their own, when the admin page is off or lives elsewhere. */
async function metricsPlugin (app: FastifyInstance, opts: { access: Access, collector: MetricsCollector }): Promise<void> {
  app.setErrorHandler(errorHandler(app.prefix, undefined, 'fancy-cache'))
  guard(app, opts.access)
  metricsRoute(app, app.prefix, opts.collector)
}

/** What the admin scope is given. */
interface AdminPluginOptions extends Omit<AdminSetup, 'admin' | 'metrics'> {
  admin: ResolvedAdmin
  collector: MetricsCollector
}

/**
 * The admin page, its JSON API, the metrics and their guards, in a scope of their own: the page's view engine, form
 * parser, hooks and error handler never reach the application's routes. No route here has `config.fancyCache`, so
 * nothing here is cached.
 */
export async function adminPlugin (app: FastifyInstance, opts: AdminPluginOptions): Promise<void> {
  const base = app.prefix
  const views = join(packageRoot, 'views')
  await app.register(fastifyView, {
    engine: { eta: new Eta({ autoEscape: true, autoTrim: [false, 'nl'] }) },
    root: views,
    propertyName: VIEW,
    production: true
  })
  const render = (app as unknown as Record<typeof VIEW, Render>)[VIEW]
  app.setErrorHandler(errorHandler(base, render, opts.admin.title))

  // Parsed here with URLSearchParams whatever form parser the application has: it stays out of this scope.
  if (app.hasContentTypeParser(FORM)) app.removeContentTypeParser(FORM)
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    const params = new URLSearchParams(body as string)
    const fields: Record<string, string | string[]> = {}
    for (const name of new Set(params.keys())) {
      const values = params.getAll(name)
      fields[name] = values.length === 1 ? values[0]! : values
    }
    done(null, fields)
  })

  guard(app, opts.admin.access)
  const scope: Scope = {
    app,
    base,
    admin: opts.admin,
    api: opts.api,
    collector: opts.collector,
    signer: new Signer(opts.admin.secret, `${opts.namespace}\0${base}`, TOKEN_MAX_AGE_MS),
    render,
    namespace: opts.namespace,
    rememberAllUrls: opts.rememberAllUrls,
    rememberStatsAllUrls: opts.rememberStatsAllUrls
  }
  pageRoutes(scope, { stylesheet: readFileSync(join(views, 'admin.css')), icon: readFileSync(join(views, 'favicon.svg')) })
  jsonRoutes(scope)
  metricsRoute(app, base, opts.collector)
}

function isCached (config: unknown): boolean {
  const value = (config as { fancyCache?: unknown } | undefined)?.fancyCache
  return value !== undefined && value !== false
}

/**
 * Mount what the `admin` and `metrics` options ask for. Both share one collector of the cache's events, listening
 * from here until the app closes; cacheable routes declared from now on are listed (with zero counts) at once.
 */
export async function registerAdmin (app: FastifyInstance, setup: AdminSetup): Promise<void> {
  const admin = resolveAdmin(setup.admin)
  const metrics = resolveMetrics(setup.metrics, admin)
  if (admin === undefined && metrics === undefined) return
  if (metrics !== undefined && admin !== undefined && metrics.prefix === admin.prefix && metrics.access !== admin.access) {
    throw invalidOption('metrics.authorize: at the admin page\'s prefix the metrics follow admin.authorize; ' +
      'give metrics another prefix, or leave metrics.authorize out')
  }
  const collector = new MetricsCollector(setup.api)
  for (const field of MetricsCollector.requestFields) app.decorateRequest(field, null)
  app.addHook('onRoute', (route) => { if (isCached(route.config)) collector.route(route.url) })
  app.addHook('onResponse', collector.onResponse)
  collector.start()
  app.addHook('onClose', async () => collector.stop())
  if (metrics?.registry !== undefined) {
    const remove = await registerIn(metrics.registry, collector)
    app.addHook('onClose', async () => remove())
  }
  const { admin: _admin, metrics: _metrics, ...rest } = setup
  if (admin !== undefined) await app.register(adminPlugin, { ...rest, prefix: admin.prefix, admin, collector })
  if (metrics !== undefined && metrics.prefix !== admin?.prefix) {
    await app.register(metricsPlugin, { prefix: metrics.prefix, access: metrics.access, collector })
  }
}
