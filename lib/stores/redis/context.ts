import type { Redis } from 'ioredis'
import { storeTimeout } from '../../errors.ts'
import type { KeyLayout } from './codec.ts'
import type { Commands } from './commands.ts'

/** How long hits and misses are kept after their last count: they outlive entries, but not forever. */
export const STATS_TTL_MS = 30 * 24 * 3600 * 1000

/** What the store's multi-step operations (purges, walks, clear) need from it. */
export interface Context {
  commands: Commands
  keys: KeyLayout
  cluster: boolean
  /** Longest wait for one command, ms. */
  timeoutMs: number
  nodes: () => Redis[]
  warn: (code: string, message: string) => void
  evict: (key: string) => void
}

/** Whether Redis refused a command because the key holds another type of value (someone else's). */
export function isWrongType (err: unknown): boolean {
  return err instanceof Error && err.message.includes('WRONGTYPE')
}

/**
 * One command's reply, or a rejection once it has taken `timeoutMs`: on a connection that swallows packets the
 * client stays "ready" and would wait forever, and a purge or stats() call must answer all the same.
 */
export function bounded<T> (ctx: Context, pending: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(storeTimeout(ctx.timeoutMs)), ctx.timeoutMs)
  })
  return Promise.race([pending, deadline]).finally(() => clearTimeout(timer))
}

/** Warn, once per store, that a key of the namespace holds a value the store did not write. */
export function foreign (ctx: Context): void {
  ctx.warn('foreign', `a key under the namespace '${ctx.keys.prefix.slice(0, -2)}' holds a value this store did ` +
    'not write; it is skipped (or replaced) and caching goes on. Is another program writing there?')
}
