import { hash } from 'node:crypto'
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { invalidRouteConfig } from '../errors.ts'
import type { QueryRule } from '../http/key.ts'
import { namesMatcher } from '../patterns.ts'
import { resolveRoute, type ResolvedOptions, type ResolvedRoute } from '../options.ts'

/** A cached route as the request path uses it: its settings plus what identifies it in keys. */
export interface CachedRoute extends ResolvedRoute {
  /** The route's path pattern and the constraints that select it: two routes on one path never share a key. */
  id: string
  /** How its query counts for the key. */
  rule: QueryRule
  /** Fastify's per-route hook lists, learnt at the first request: see `learnHooks`. */
  hooks: RouteHooks | undefined
}

/** What the route's hook lists allow the hit path to skip. */
export interface RouteHooks {
  /** No other onSend hook runs on this route: a hit may be written straight to the socket. */
  soleOnSend: boolean
  /** No onRequest hook runs before the cache's: the reply has no headers of the request's own yet. */
  firstOnRequest: boolean
  /** The cache's onSend is the route's last: the headers it sees are final. */
  lastOnSend: boolean
}

/** What `config.fancyCache` of an unsafe-method route may say. */
export interface WriteRoute {
  invalidateOnWrite: boolean
}

const kRoute = Symbol('fancy-cache route')
type Config = Record<string | symbol, unknown>

/** A route's identity: its pattern and constraints, the same in every process running the same app. */
function routeId (url: string, constraints: unknown): string {
  if (constraints === undefined || constraints === null || Object.keys(constraints).length === 0) return url
  const text = JSON.stringify(constraints, (_key, value: unknown) => value instanceof RegExp ? String(value) : value)
  return `${url}\0${hash('sha256', text, 'base64url').slice(0, 16)}`
}

function isSafe (method: string): boolean {
  return method === 'GET' || method === 'HEAD'
}

function methodsOf (method: unknown): string[] {
  return Array.isArray(method) ? method.map(String) : [String(method)]
}

function writeRouteOf (value: unknown, label: string, options: ResolvedOptions): WriteRoute | null {
  if (value === undefined || value === false) return options.invalidateOnWrite ? { invalidateOnWrite: true } : null
  if (value !== null && typeof value === 'object' && Object.keys(value).every((k) => k === 'invalidateOnWrite') &&
    typeof (value as WriteRoute).invalidateOnWrite === 'boolean') {
    return (value as WriteRoute).invalidateOnWrite ? { invalidateOnWrite: true } : null
  }
  throw invalidRouteConfig(label, 'config.fancyCache on other methods may only be { invalidateOnWrite: boolean }; only GET and HEAD responses are cached')
}

function cachedRouteOf (value: unknown, label: string, id: string, options: ResolvedOptions): CachedRoute | null {
  const resolved = resolveRoute(value, label, options)
  if (resolved === null) return null
  const filter = resolved.queryFilter
  const ignore = namesMatcher(options.ignoreQueryParams)
  const forget = filter !== null && !filter.only ? filter.names : null
  return Object.assign(resolved, {
    id,
    rule: {
      only: filter !== null && filter.only ? filter.names : null,
      drop: forget === null ? ignore : (name: string) => forget.has(name) || ignore?.(name) === true
    },
    hooks: undefined
  })
}

/**
 * Resolve a route's `config.fancyCache` when Fastify adds it (errors name the route) and keep the result on its
 * config, where the request path finds it.
 */
export function resolveAtRoute (route: RouteOptions, options: ResolvedOptions): CachedRoute | WriteRoute | null {
  const config = (route.config ?? {}) as Config
  const resolved = resolve(config.fancyCache, methodsOf(route.method), route.url, routeId(route.url, route.constraints), options)
  config[kRoute] = resolved
  route.config = config as typeof route.config
  return resolved
}

function resolve (value: unknown, methods: string[], url: string, id: string, options: ResolvedOptions) {
  const label = `${methods.join(',')} ${url}`
  return methods.some(isSafe) ? cachedRouteOf(value, label, id, options) : writeRouteOf(value, label, options)
}

/**
 * The route of a request. Routes Fastify added before the plugin loaded (declared before `await app.register`) were
 * not shown to it: they are resolved at their first request, by path pattern only.
 */
export function routeOf (request: FastifyRequest, options: ResolvedOptions): CachedRoute | WriteRoute | null {
  const config = (contextOf(request)?.config ?? request.routeOptions.config) as Config | undefined
  if (config === undefined) return null
  let route = config[kRoute] as CachedRoute | WriteRoute | null | undefined
  if (route === undefined) {
    const url = String(config.url)
    route = config[kRoute] = resolve(config.fancyCache, methodsOf(config.method), url, url, options)
    if (route !== null && isCachedRoute(route)) {
      request.log.warn({ route: url }, 'fastify-fancy-cache: this route was added before the plugin loaded (register it with await first): its config was checked only now and its router constraints are not in its key')
    }
  }
  return route
}

export function isCachedRoute (route: CachedRoute | WriteRoute): route is CachedRoute {
  return (route as CachedRoute).id !== undefined
}

// Fastify keeps each route's hook lists on a context object under a symbol it does not export. Reading it lets a
// hit skip `reply.send` when nothing else would touch the reply, and lets routes the cache does not handle drop the
// cache's hooks. Without it (another Fastify), every hit takes `reply.send` and every route keeps the hooks.
interface Context {
  config?: unknown
  onRequest: Function[] | null
  onSend: Function[] | null
}
let kContext: symbol | null | undefined

function contextOf (target: FastifyRequest): Context | undefined {
  if (kContext === undefined) {
    kContext = Object.getOwnPropertySymbols(target).find((s) => s.description === 'fastify.context') ?? null
  }
  if (kContext === null) return undefined
  const context = (target as unknown as Record<symbol, Context | undefined>)[kContext]
  return context !== null && typeof context === 'object' && 'onSend' in context ? context : undefined
}

/**
 * The object Fastify keeps for a request's route (one per route, the same for every request to it), or `undefined`
 * when it cannot be read: a key for per-route state that costs no allocation, unlike `request.routeOptions`.
 */
export function routeContextOf (request: FastifyRequest): object | undefined {
  return contextOf(request)
}

/**
 * What this route's hook lists allow (`soleOnSend` and `firstOnRequest` are false when they cannot be read), with
 * the cache's hooks moved after every other of their kind: onRequest last, so every onRequest hook of the route
 * (a rate limit or an authentication added by another plugin or on the route itself) runs before a hit is served;
 * onSend last, so that what it stores is decided on the final headers (a cookie plugin or a hook registered later
 * has set its Set-Cookie or Cache-Control by then). Called at a route's first request: `reordered` says the lists
 * changed, so that request (already on its way through the old lists) is left alone.
 */
export function learnHooks (reply: FastifyReply, onRequest: Function, onSend: Function): RouteHooks & { reordered: boolean } {
  const context = contextOf(reply.request)
  if (context === undefined) return { soleOnSend: false, firstOnRequest: false, lastOnSend: false, reordered: false }
  const reordered = moveLast(context, 'onRequest', onRequest)
  moveLast(context, 'onSend', onSend)
  return {
    soleOnSend: context.onSend?.length === 1 && isHook(context.onSend[0]!, onSend),
    firstOnRequest: context.onRequest !== null && isHook(context.onRequest[0]!, onRequest),
    lastOnSend: context.onSend !== null && isHook(context.onSend[context.onSend.length - 1]!, onSend),
    reordered
  }
}

// Fastify keeps hooks bound to their instance, so the lists hold bound copies: they are known by name, which
// `nameHooks` makes unique to this plugin instance.
function isHook (fn: Function, hook: Function): boolean {
  return fn === hook || fn.name === `bound ${hook.name}`
}

let instances = 0

/** Give the hooks of one plugin instance names no other function has, so their bound copies can be recognised. */
export function nameHooks (hooks: Record<string, Function>): void {
  const id = ++instances
  for (const [name, fn] of Object.entries(hooks)) Object.defineProperty(fn, 'name', { value: `fancyCache_${name}_${id}` })
}

function moveLast (context: Context, name: 'onRequest' | 'onSend', hook: Function): boolean {
  const list = context[name]
  if (list === null) return false
  const at = list.findIndex((fn) => isHook(fn, hook))
  if (at === -1 || at === list.length - 1) return false
  context[name] = [...list.slice(0, at), ...list.slice(at + 1), list[at]!]
  return true
}

/**
 * Take the cache's hooks off a route it does not handle, so that such routes cost nothing. The lists are replaced,
 * not edited, because the request being served is iterating over them.
 */
export function dropHooks (reply: FastifyReply, hooks: Record<'onRequest' | 'onSend', Function>): void {
  const context = contextOf(reply.request)
  if (context === undefined) return
  for (const name of ['onRequest', 'onSend'] as const) {
    const list = context[name]
    if (list === null || !list.some((fn) => isHook(fn, hooks[name]))) continue
    const rest = list.filter((fn) => !isHook(fn, hooks[name]))
    context[name] = rest.length === 0 ? null : rest
  }
}
