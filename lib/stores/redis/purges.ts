import { randomUUID } from 'node:crypto'
import type { PurgeOptions } from '../store.ts'
import { shardOf } from './codec.ts'
import { bounded, type Context, foreign, isWrongType, STATS_TTL_MS } from './context.ts'

/** One tagged set in this many samples a few keys of one of its tags and untags the keys that are gone. */
const SWEEP_ONE_IN = 16

/** List purges (kind 'k' key, 't' tag, 'p' URL pattern) in the purge record, so that sets they cover are refused. */
export async function note (ctx: Context, kind: 'k' | 't' | 'p', values: string[]): Promise<void> {
  for (let i = 0; i < values.length; i += 500) {
    const made = await bounded(ctx, ctx.commands.fancyCacheNote(1, ctx.keys.purges, randomUUID(), kind, ...values.slice(i, i + 500)))
    if (made === 1) foreign(ctx)
  }
}

/** Purge one key (hard or soft); `list` also lists it in the purge record in the same atomic step. */
export async function purge (ctx: Context, key: string, options: PurgeOptions, list: boolean): Promise<boolean> {
  ctx.evict(key)
  const shard = shardOf(key)
  const keys = [ctx.keys.group(key, shard), ctx.keys.order(key, shard), ctx.keys.index(shard)]
  if (list) keys.push(ctx.keys.purges)
  const [found, made, tagged] = await bounded(ctx, ctx.commands.fancyCachePurge(keys.length, ...keys, ctx.keys.channel, key,
    randomUUID(), Date.now(), options.soft === true ? '1' : '0', Math.max(0, Math.trunc(options.graceMs ?? 0)), STATS_TTL_MS)) as [number, number, string]
  ctx.evict(key)
  if (made === 1) foreign(ctx)
  // The tag sets live on other slots: a hard-purged key leaves them in a second step.
  if (tagged !== '') await untag(ctx, key, tagged.split('\n'))
  return found === 1
}

async function untag (ctx: Context, key: string, tags: string[]): Promise<void> {
  await Promise.all(tags.map(async (tag) => {
    const set = ctx.keys.tag(tag)
    try {
      if (await bounded(ctx, ctx.commands.srem(set, key)) === 1) await bounded(ctx, ctx.commands.fancyCacheUntag(2, set, ctx.keys.tagName(set)))
    } catch (err) {
      if (!isWrongType(err)) throw err
    }
  }))
}

/** Purge every key labelled with one of the tags (already listed); resolves how many keys had something stored. */
export async function purgeTagged (ctx: Context, tags: string[], options: PurgeOptions): Promise<number> {
  const seen = new Set<string>()
  let purged = 0
  for (const tag of tags) {
    const set = ctx.keys.tag(tag)
    let cursor = '0'
    do {
      let next: string
      let members: string[]
      try {
        [next, members] = await bounded(ctx, ctx.commands.sscan(set, cursor, 'COUNT', 500))
      } catch (err) {
        if (!isWrongType(err)) throw err
        foreign(ctx)
        break
      }
      cursor = next
      const keys = members.filter((key) => !seen.has(key))
      if (keys.length === 0) continue
      for (const key of keys) seen.add(key)
      // A hard purge untags first, then deletes: a set racing in between re-tags a key whose entry this then
      // deletes, which loses an entry but never leaves one untagged. A soft purge keeps the entries, so their tags.
      if (options.soft !== true) await bounded(ctx, ctx.commands.srem(set, ...keys))
      const results = await Promise.all(keys.map((key) => purge(ctx, key, options, false)))
      for (const result of results) if (result) purged++
    } while (cursor !== '0')
    if (options.soft !== true) await bounded(ctx, ctx.commands.fancyCacheUntag(2, set, ctx.keys.tagName(set)))
  }
  return purged
}

/**
 * Tag sets have no expiry (an evicting Redis must not drop what purges walk), so keys whose groups expired are
 * taken out of them by sampling, now and then, in the background.
 */
export function sweepTag (ctx: Context, tagSets: string[]): void {
  if (Math.random() * SWEEP_ONE_IN >= 1) return
  const set = tagSets[Math.floor(Math.random() * tagSets.length)]!
  const sweep = async () => {
    const members = await bounded(ctx, ctx.commands.srandmember(set, 3))
    const gone = []
    for (const key of members) {
      if (await bounded(ctx, ctx.commands.exists(ctx.keys.group(key))) === 0) gone.push(key)
    }
    if (gone.length === 0) return
    await bounded(ctx, ctx.commands.srem(set, ...gone))
    await bounded(ctx, ctx.commands.fancyCacheUntag(2, set, ctx.keys.tagName(set)))
  }
  sweep().catch(() => {})
}
