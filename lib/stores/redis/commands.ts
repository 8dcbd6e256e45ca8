import type { Redis } from 'ioredis'
import * as lua from './scripts.ts'

/** One argument of a command or script. */
export type Arg = string | Buffer | number
type Scripted = (numKeys: number, ...args: Arg[]) => Promise<unknown>

/** The commands the store sends through the client (a Redis and a Cluster both have them), scripts included. */
export interface Commands extends Pick<Redis, 'hmgetBuffer' | 'hgetallBuffer' | 'hget' | 'hscan' | 'get' | 'mget' |
  'sscan' | 'srem' | 'scard' | 'srandmember' | 'exists' | 'publish' | 'hset' | 'hgetall'> {
  fancyCacheSet: Scripted
  fancyCacheUnset: Scripted
  fancyCachePurge: Scripted
  fancyCacheNote: Scripted
  fancyCacheEpoch: Scripted
  fancyCacheCheck: Scripted
  fancyCacheRenew: Scripted
  fancyCacheTag: Scripted
  fancyCacheUntag: Scripted
  fancyCacheCount: Scripted
  fancyCacheTouch: Scripted
  fancyCacheLock: Scripted
  fancyCacheUnlock: Scripted
  fancyCacheTotals: Scripted
}

/** Script sources by command name, defined on the client with `defineCommand` (so sent as EVALSHA). */
export const SCRIPTS = {
  fancyCacheSet: lua.SET,
  fancyCacheUnset: lua.UNSET,
  fancyCachePurge: lua.PURGE,
  fancyCacheNote: lua.NOTE,
  fancyCacheEpoch: lua.EPOCH,
  fancyCacheCheck: lua.CHECK,
  fancyCacheRenew: lua.RENEW,
  fancyCacheTag: lua.TAG,
  fancyCacheUntag: lua.UNTAG,
  fancyCacheCount: lua.COUNT,
  fancyCacheTouch: lua.TOUCH,
  fancyCacheLock: lua.LOCK,
  fancyCacheUnlock: lua.UNLOCK,
  fancyCacheTotals: lua.TOTALS
}
