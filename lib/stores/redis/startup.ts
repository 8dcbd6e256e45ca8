import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { evictingRedis } from '../../errors.ts'
import { bounded, type Context } from './context.ts'

/** Where the Redis store's warnings go: a pino logger (`app.log`) or anything with `warn(message)`. */
export interface StoreLog {
  warn: (message: string) => void
}

/** Apps that wrote the default namespace within this long count as sharing it. */
const SHARING_WINDOW_MS = 7 * 24 * 3600 * 1000

/**
 * Refuse a Redis that may evict any key (`allkeys-*`): it can drop the index shards and tag sets that purges walk,
 * and a page that a purge did not find keeps being served. `volatile-*` policies only evict keys with a ttl, and the
 * keys purges depend on have none. A Redis that does not let us read its configuration (managed services rename
 * CONFIG) is accepted with a warning.
 */
export async function checkPolicy (ctx: Context, allow: boolean): Promise<void> {
  for (const node of ctx.nodes()) {
    let policy: string | undefined
    try {
      const reply = await bounded(ctx, node.config('GET', 'maxmemory-policy') as Promise<string[]>)
      policy = reply[1]
    } catch {
      ctx.warn('config', 'cannot read maxmemory-policy (CONFIG is disabled on this Redis): make sure it is noeviction or ' +
        'volatile-*, since an allkeys-* policy can evict what purges rely on and leave purged pages served')
      return
    }
    if (policy?.startsWith('allkeys-') === true && !allow) throw evictingRedis(policy)
  }
}

/** The name of the running app, for telling apps apart: the nearest package.json's name, or the main script. */
function appName (): string {
  try {
    const manifest = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { name?: unknown }
    if (typeof manifest.name === 'string' && manifest.name !== '') return manifest.name
  } catch {}
  return process.argv[1] ?? 'unknown'
}

/**
 * Several apps on one Redis that all keep the default namespace share one cache: one app's `clear()` and purges
 * reach the other's pages. Each app writes its name in the namespace; seeing another one recently warns, once.
 */
export async function noteApp (ctx: Context, name = appName()): Promise<void> {
  const now = Date.now()
  await bounded(ctx, ctx.commands.hset(ctx.keys.apps, name, now))
  const seen = await bounded(ctx, ctx.commands.hgetall(ctx.keys.apps))
  const others = Object.entries(seen).filter(([app, at]) => app !== name && Number(at) + SHARING_WINDOW_MS > now).map(([app]) => app)
  if (others.length === 0) return
  ctx.warn('shared', `the default namespace '${ctx.keys.prefix.slice(0, -2)}' is also used by ${others.map((a) => `'${a}'`).join(', ')} ` +
    'on this Redis: purges and clear() of one app reach the other\'s pages; give each app its own `namespace`')
}
