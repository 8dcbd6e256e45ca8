import type { FastifyInstance } from 'fastify'
import { invalidOption } from '../errors.ts'
import type { AdminOptions, MetricsOptions } from '../options.ts'
import type { FancyCacheApi } from '../api.ts'
import { CONTENT_TYPE, familiesOf, registerIn, render as renderText } from './exposition.ts'
import { MetricsCollector } from './metrics.ts'
import { resolveAdmin, resolveMetrics, type Access } from './options.ts'
import { errorHandler, guard, methodNotAllowed } from './scope.ts'

/** What index.ts hands over: the options as given, and the cache they watch. */
export interface AdminSetup {
  admin: AdminOptions | boolean | undefined
  metrics: MetricsOptions | boolean | undefined
  api: FancyCacheApi
  rememberAllUrls: boolean
  rememberStatsAllUrls: boolean
  namespace: string
}

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
  if (admin !== undefined) {
    // The page's view engine is loaded only for the page: metrics alone need none of it.
    const { adminPlugin } = await import('./plugin.ts')
    await app.register(adminPlugin, { ...rest, prefix: admin.prefix, admin, collector, metricsRoute })
  }
  if (metrics !== undefined && metrics.prefix !== admin?.prefix) {
    await app.register(metricsPlugin, { prefix: metrics.prefix, access: metrics.access, collector })
  }
}
