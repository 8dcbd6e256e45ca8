import type { FastifyRequest } from 'fastify'
import { invalidOption } from '../errors.ts'
import type { AdminOptions, MetricsOptions, MetricsRegistry } from '../options.ts'
import { HostList, LOOPBACK_HOSTS } from './security.ts'

/** Where the page and the metrics live unless told otherwise. */
export const DEFAULT_PREFIX = '/fancy-cache'
const MIN_SECRET = 16
const PREFIX = /^\/[^?#\s]*[^/?#\s]$/

/** Who gets in: `authorize` decides, else only loopback clients naming an allowed Host. */
export interface Access {
  authorize: ((request: FastifyRequest) => boolean | Promise<boolean>) | undefined
  /** Hosts a request must name; `undefined`: any (with `authorize` and no `admin.hosts`). */
  hosts: HostList | undefined
}

/** The admin page's options, checked and with defaults. */
export interface ResolvedAdmin {
  prefix: string
  title: string
  secret: string | undefined
  access: Access
}

/** The metrics endpoint's options, checked and with defaults. */
export interface ResolvedMetrics {
  prefix: string
  access: Access
  registry: MetricsRegistry | undefined
}

type Fields = Record<string, unknown>

function isObject (value: unknown): value is Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function got (value: unknown): string {
  return typeof value === 'function' ? 'a function' : JSON.stringify(value) ?? String(value)
}

function checkFields (name: string, value: Fields, known: string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw invalidOption(`unknown option ${JSON.stringify(`${name}.${key}`)} (known: ${known.join(', ')})`)
  }
}

function prefixOf (name: string, value: unknown): string {
  if (value === undefined) return DEFAULT_PREFIX
  if (typeof value !== 'string' || !PREFIX.test(value)) {
    throw invalidOption(`${name}.prefix: a path such as "/fancy-cache": starts with /, no trailing /, no ?, # or spaces (got ${got(value)})`)
  }
  return value
}

function authorizeOf (name: string, value: unknown): Access['authorize'] {
  if (value !== undefined && typeof value !== 'function') {
    throw invalidOption(`${name}.authorize: a function (request) => boolean or a promise of one (got ${got(value)})`)
  }
  return value as Access['authorize']
}

function hostsOf (value: unknown): HostList | undefined {
  if (value === undefined) return undefined
  const example = 'such as ["admin.example.com", "localhost:3000"]'
  if (!Array.isArray(value) || value.length === 0 || !value.every((h) => typeof h === 'string')) {
    throw invalidOption(`admin.hosts: a non-empty array of host names ${example} (got ${got(value)})`)
  }
  try {
    return new HostList(value)
  } catch (err) {
    throw invalidOption(`admin.hosts: ${(err as Error).message}: give host names ${example}`)
  }
}

function accessOf (authorize: Access['authorize'], hosts: HostList | undefined): Access {
  return { authorize, hosts: hosts ?? (authorize === undefined ? new HostList(LOOPBACK_HOSTS) : undefined) }
}

/** `admin` as given (after `true` became `{}`), checked field by field so that each message names its field. */
export function resolveAdmin (admin: AdminOptions | boolean | undefined): ResolvedAdmin | undefined {
  if (admin === undefined || admin === false) return undefined
  const value: unknown = admin === true ? {} : admin
  if (!isObject(value)) throw invalidOption(`admin: true, false or an object of admin options (got ${got(value)})`)
  checkFields('admin', value, ['prefix', 'authorize', 'title', 'secret', 'hosts'])
  if (value.title !== undefined && typeof value.title !== 'string') throw invalidOption(`admin.title: a string (got ${got(value.title)})`)
  const secret = value.secret
  if (secret !== undefined && (typeof secret !== 'string' || secret.length < MIN_SECRET)) {
    // Never echo the secret itself into a log line.
    throw invalidOption(`admin.secret: a string of at least ${MIN_SECRET} characters that signs the CSRF tokens (got ${
      typeof secret === 'string' ? `one of ${secret.length} characters` : `a ${typeof secret}`})`)
  }
  const authorize = authorizeOf('admin', value.authorize)
  return {
    prefix: prefixOf('admin', value.prefix),
    title: (value.title as string | undefined) ?? 'fancy-cache',
    secret: secret as string | undefined,
    access: accessOf(authorize, hostsOf(value.hosts))
  }
}

function isRegistry (value: unknown): value is MetricsRegistry {
  return isObject(value) && typeof value.registerMetric === 'function'
}

/** `metrics` as given; its access rules default to the admin page's. */
export function resolveMetrics (metrics: MetricsOptions | boolean | undefined, admin: ResolvedAdmin | undefined): ResolvedMetrics | undefined {
  if (metrics === undefined || metrics === false) return undefined
  const value: unknown = metrics === true ? {} : metrics
  if (!isObject(value)) throw invalidOption(`metrics: true, false or { prefix, authorize, registry } (got ${got(value)})`)
  checkFields('metrics', value, ['prefix', 'authorize', 'registry'])
  if (value.registry !== undefined && !isRegistry(value.registry)) {
    throw invalidOption('metrics.registry: a prom-client Registry (an object with registerMetric)')
  }
  const authorize = authorizeOf('metrics', value.authorize) ?? admin?.access.authorize
  return {
    prefix: prefixOf('metrics', value.prefix),
    access: value.authorize === undefined && admin !== undefined ? admin.access : accessOf(authorize, undefined),
    registry: value.registry as MetricsRegistry | undefined
  }
}
