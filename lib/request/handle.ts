import type { FastifyInstance, FastifyReply } from 'fastify'
import { invalidArgument } from '../errors.ts'
import { stateOf } from './state.ts'

/** `reply.fancyCache`: what the handler decides about the response it is making. */
export interface ReplyCacheControl {
  /** Add tags to the entry this response is stored under (merged with the route's `tags`). */
  tag (...tags: string[]): void
  /** This response's ttl in seconds (overrides the route's; `0` stores nothing). */
  ttl (seconds: number): void
  /** Send this response but do not store it. */
  noStore (): void
}

/** Most tags one entry carries. */
export const MAX_TAGS = 64
// Tags go into index keys and, with `tagsHeader`, into a response header: printable, no separators.
const TAG = /^[\x21-\x2b\x2d-\x7e]{1,256}$/

/** Check tags from the route's `tags` or the handler; throws a coded error naming what was wrong. */
export function checkTags (tags: unknown, what: string): string[] {
  if (!Array.isArray(tags)) throw invalidArgument(`${what} must be an array of strings`)
  for (const tag of tags) {
    if (typeof tag !== 'string' || !TAG.test(tag)) {
      throw invalidArgument(`${what}: each tag is 1-256 printable characters without spaces or commas (got ${JSON.stringify(tag)})`)
    }
  }
  if (tags.length > MAX_TAGS) throw invalidArgument(`${what}: at most ${MAX_TAGS} tags per entry (got ${tags.length})`)
  return tags
}

function handleOf (reply: FastifyReply): ReplyCacheControl {
  // Only a request that may store its response takes note; on a hit or a bypass the calls change nothing.
  const state = () => {
    const s = stateOf(reply.request)
    return s !== null && s.mode === 'miss' ? s : undefined
  }
  return {
    tag (...tags) {
      checkTags(tags, 'reply.fancyCache.tag()')
      const s = state()
      if (s === undefined) return
      const merged = s.tags === undefined ? tags : [...new Set([...s.tags, ...tags])]
      s.tags = checkTags(merged, 'reply.fancyCache.tag()')
    },
    ttl (seconds) {
      if (!Number.isInteger(seconds) || seconds < 0) {
        throw invalidArgument(`reply.fancyCache.ttl() takes a whole number of seconds >= 0 (got ${String(seconds)})`)
      }
      const s = state()
      if (s !== undefined) s.ttl = seconds
    },
    noStore () {
      const s = state()
      if (s !== undefined) s.noStore = true
    }
  }
}

/** Decorate replies with `fancyCache`, made on first use only, so replies that never touch it cost nothing. */
export function decorateReply (app: FastifyInstance): void {
  app.decorateReply('fancyCache', {
    getter (this: FastifyReply) {
      return handleOf(this)
    }
  })
}
