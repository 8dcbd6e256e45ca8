import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import fastifyView from '@fastify/view'
import { Eta } from 'eta'
import { packageRoot } from '../package-root.cts'
import type { AdminSetup } from './index.ts'
import { jsonRoutes } from './json.ts'
import type { MetricsCollector } from './metrics.ts'
import type { ResolvedAdmin } from './options.ts'
import { pageRoutes } from './pages.ts'
import { errorHandler, guard, type Render, type Scope } from './scope.ts'
import { Signer } from './security.ts'

const VIEW = 'fancyCacheAdminView'
const FORM = 'application/x-www-form-urlencoded'
const TOKEN_MAX_AGE_MS = 12 * 60 * 60 * 1000

/** What the admin scope is given. */
export interface AdminPluginOptions extends Omit<AdminSetup, 'admin' | 'metrics'> {
  admin: ResolvedAdmin
  collector: MetricsCollector
  /** Adds `GET /metrics` to the scope. */
  metricsRoute: (app: FastifyInstance, base: string, collector: MetricsCollector) => void
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
  opts.metricsRoute(app, base, opts.collector)
}
