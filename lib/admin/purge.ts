import type { FastifyReply, FastifyRequest } from 'fastify'
import { adminBadRequest, adminForbidden } from '../errors.ts'
import { formatBytes } from './listing.ts'
import type { FancyCacheApi } from '../api.ts'
import { fieldsOf, one, requireContentType, type Scope } from './scope.ts'
import { hrefOf, layoutOf, pageParams, pageStateOf, type PageState, type ViewContext } from './view.ts'

const FORM = 'application/x-www-form-urlencoded'
/** Counting the matches of a search before asking stops here: the confirmation then says "more than". */
const COUNT_LIMIT = 100_000

/** What a purge covered, as logged and as the API reports it. */
export interface PurgeRecord {
  kind: 'urls' | 'tags' | 'key' | 'clear'
  soft: boolean
  urls?: string[]
  tags?: string[]
  key?: string
}

/** Every purge from the page or the API is logged with the client that asked and what it covered. */
export function logPurge (request: FastifyRequest, record: PurgeRecord, purged: number): void {
  request.log.info({ client: request.ip, purge: record, purged }, 'fancy-cache admin: purge')
}

/** Run a purge through `fastify.fancyCache`; resolves how many entries it covered. */
export async function runPurge (api: FancyCacheApi, record: PurgeRecord): Promise<number> {
  const options = record.soft ? { soft: true } : undefined
  if (record.kind === 'urls') return api.purgeUrls(record.urls!, options)
  if (record.kind === 'tags') return api.purgeTags(record.tags!, options)
  if (record.kind === 'key') return (await api.purgeKey(record.key!, options)) ? 1 : 0
  const { entries } = await api.stats()
  await api.clear()
  return entries
}

function plural (n: number, one: string, many: string): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`
}

async function countMatches (api: FancyCacheApi, patterns: string[]): Promise<number> {
  let n = 0
  for await (const found of api.findUrls(patterns)) {
    if (found !== undefined && ++n > COUNT_LIMIT) break
  }
  return n
}

/** The page's purge forms: one row (by key), one tag, the current search, or everything, each after asking when broad. */
export function formPurge (scope: Scope, context: (request: FastifyRequest, current: ViewContext['current']) => ViewContext) {
  const { base, signer, api, namespace, render } = scope

  /** Back to the page (303, so a reload does not post again) with a signed flash line. */
  function back (reply: FastifyReply, to: string, state: PageState, flash: string, change: { cursor?: undefined, offset?: number } = {}) {
    const params = to === '' ? pageParams(state, change) : new URLSearchParams()
    params.set('flash', flash)
    params.set('sig', signer.mac('flash', flash))
    return reply.redirect(hrefOf(base + to, params), 303)
  }

  async function purge (request: FastifyRequest, record: PurgeRecord): Promise<number> {
    const purged = await runPurge(api, record)
    logPurge(request, record, purged)
    return purged
  }

  return async function handle (request: FastifyRequest, reply: FastifyReply) {
    requireContentType(request, FORM)
    const form = fieldsOf(request.body)
    const refused = signer.check(form._csrf)
    if (refused !== undefined) throw adminForbidden(refused)
    const state = pageStateOf(form)
    const soft = one(form.soft) === '1'
    const verb = soft ? 'Refreshed' : 'Purged'
    const action = one(form.action)
    const confirmed = one(form.confirm) === 'yes'
    if (action === 'key') {
      const key = one(form.key) ?? ''
      const url = one(form.url) ?? key
      const found = await purge(request, { kind: 'key', soft, key })
      return back(reply, '', state, found === 1 ? `${verb} ${url}` : `${url} was no longer cached`)
    }
    if (action === 'tag') {
      const tag = one(form.tag) ?? ''
      if (tag === '') throw adminBadRequest('tag: the tag to purge')
      const purged = await purge(request, { kind: 'tags', soft, tags: [tag] })
      return back(reply, '/tags', state, `${verb} ${plural(purged, 'entry', 'entries')} tagged ${tag}`)
    }
    if (action === 'matching') {
      const patterns = state.query.patterns
      if (patterns.length === 0) return back(reply, '', state, 'Nothing purged: search for the URLs to purge first')
      if (!confirmed) {
        const matches = await countMatches(api, patterns)
        if (matches > 1) {
          return reply.type('text/html; charset=utf-8').send(await render('confirm', {
            ...layoutOf(context(request, 'confirm'), soft ? 'refresh matching?' : 'purge matching?'),
            kind: 'matching',
            soft,
            q: state.q,
            hidden: [...pageParams(state)],
            count: matches > COUNT_LIMIT ? `more than ${COUNT_LIMIT.toLocaleString('en-US')}` : matches.toLocaleString('en-US')
          }))
        }
      }
      const purged = await purge(request, { kind: 'urls', soft, urls: patterns })
      return back(reply, '', state, `${verb} ${plural(purged, 'entry', 'entries')} matching ${state.q}`, { cursor: undefined, offset: 0 })
    }
    if (action === 'all') {
      if (!confirmed) return reply.redirect(`${base}/confirm`, 303)
      const purged = await purge(request, { kind: 'clear', soft: false })
      return back(reply, '', pageStateOf({}), `Purged all ${plural(purged, 'entry', 'entries')} (namespace ${namespace})`)
    }
    throw adminBadRequest('action must be key, tag, matching or all')
  }
}

/** The confirm page of "Purge all". */
export function confirmAllModel (context: ViewContext, totals: { entries: number, bytes: number }) {
  return {
    ...layoutOf(context, 'purge all?'),
    kind: 'all',
    soft: false,
    namespace: context.namespace,
    entries: totals.entries.toLocaleString('en-US'),
    bytes: formatBytes(totals.bytes)
  }
}
