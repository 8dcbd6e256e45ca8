import { randomUUID } from 'node:crypto'
import { invalidArgument } from '../../errors.ts'
import type { KeyDetail, RememberedEntry, ScanPage, Stats, StoreSummary } from '../store.ts'
import { decodeEntry, decodeVary, SHARDS, shardOf } from './codec.ts'
import { bounded, type Context, foreign, isWrongType } from './context.ts'

/** Most HSCAN steps one scan() call takes before it answers with what it found and a cursor. */
const SCAN_ROUNDS = 64
/** Largest HSCAN COUNT of one step (a page of about this many records per round trip). */
const SCAN_STEP = 1000

/** The fields of an index record: "storedAt expiresAt staleUntil bytes variants hits misses countedAt url". */
function fields (record: string): string[] | undefined {
  const parts: string[] = []
  let at = 0
  for (let i = 0; i < 8; i++) {
    const space = record.indexOf(' ', at)
    if (space === -1) return undefined
    parts.push(record.slice(at, space))
    at = space + 1
  }
  parts.push(record.slice(at))
  return parts
}

function statsOfRecord (parts: string[]): Stats | null {
  return parts[7] === '0' ? null : { hits: Number(parts[5]), misses: Number(parts[6]) }
}

/** The remembered entry an index record describes, when its group is still stored and it has a URL. */
function remembered (key: string, record: string, now: number): RememberedEntry | undefined {
  const parts = fields(record)
  if (parts === undefined || parts[8] === '' || Number(parts[2]) <= now) return undefined
  return { url: parts[8]!, key, bytes: Number(parts[3]), storedAt: Number(parts[0]), expiresAt: Number(parts[1]), stats: statsOfRecord(parts) }
}

/** A key's counters from its index record; `null` when none were counted. */
export async function statsOf (ctx: Context, key: string): Promise<Stats | null> {
  let record: string | null
  try {
    record = await bounded(ctx, ctx.commands.hget(ctx.keys.index(shardOf(key)), key))
  } catch (err) {
    if (!isWrongType(err)) throw err
    foreign(ctx)
    return null
  }
  const parts = record === null ? undefined : fields(record)
  return parts === undefined ? null : statsOfRecord(parts)
}

function parseCursor (cursor: string): [number, string] {
  if (cursor === '0') return [0, '0']
  const match = /^(\d{1,3})\.(\d{1,20})$/.exec(cursor)
  if (match === null || Number(match[1]) >= SHARDS) throw invalidArgument(`unknown scan cursor ${JSON.stringify(cursor)}`)
  return [Number(match[1]), match[2]!]
}

/** One HSCAN step of a shard's index; a shard that is not a hash of ours reads as empty (and warns once). */
async function hscan (ctx: Context, shard: number, position: string, step: number): Promise<[string, string[]]> {
  try {
    return await bounded(ctx, ctx.commands.hscan(ctx.keys.index(shard), position, 'COUNT', step))
  } catch (err) {
    if (!isWrongType(err)) throw err
    foreign(ctx)
    return ['0', []]
  }
}

/** A page of remembered URLs whose pages are still stored; the cursor is `<shard>.<HSCAN cursor>`. */
export async function scan (ctx: Context, cursor: string, count: number): Promise<ScanPage> {
  let [shard, position] = parseCursor(cursor)
  const want = Math.max(Math.trunc(count) || 1, 1)
  const entries: RememberedEntry[] = []
  const seen = new Set<string>()
  const now = Date.now()
  // Shards are read one HSCAN step at a time; while they turn out small (read whole in one step), several are read
  // in parallel, so that walking a small index does not cost a round trip per shard.
  let parallel = 1
  for (let round = 0; round < SCAN_ROUNDS && entries.length < want && shard < SHARDS; round++) {
    const step = Math.min(Math.max(want - entries.length, 10), SCAN_STEP)
    const shards = Array.from({ length: Math.min(parallel, SHARDS - shard) }, (_, i) => shard + i)
    const pages = await Promise.all(shards.map((s, i) => hscan(ctx, s, i === 0 ? position : '0', step)))
    parallel = Math.min(parallel * 4, 32)
    for (const [i, [next, found]] of pages.entries()) {
      for (let j = 0; j < found.length; j += 2) {
        const key = found[j]!
        if (seen.has(key)) continue
        seen.add(key)
        const entry = remembered(key, found[j + 1]!, now)
        if (entry !== undefined) entries.push(entry)
      }
      shard = shards[i]! + (next === '0' ? 1 : 0)
      position = next
      // A shard that needs more steps continues alone; the pages read past it are dropped.
      if (next !== '0') parallel = 1
      if (next !== '0' || entries.length >= want) break
    }
  }
  return { cursor: shard >= SHARDS ? '0' : `${shard}.${position}`, entries }
}

/** Tags in use, with how many keys carry each: a SCAN of the tag sets, node by node on a Cluster. */
export async function scanTags (ctx: Context, cursor: string, count: number) {
  const nodes = ctx.nodes()
  const match = /^(\d{1,4})\.(\d{1,20})$/.exec(cursor)
  if (cursor !== '0' && (match === null || Number(match[1]) >= nodes.length)) {
    throw invalidArgument(`unknown tag scan cursor ${JSON.stringify(cursor)}`)
  }
  let node = match === null ? 0 : Number(match[1])
  const [next, sets] = await bounded(ctx, nodes[node]!.scan(match === null ? '0' : match[2]!, 'MATCH', ctx.keys.tags,
    'COUNT', Math.min(Math.max(Math.trunc(count) || 1, 10), 1000)))
  const tags: Array<{ tag: string, keys: number }> = []
  for (const set of sets) {
    try {
      const [name, keys] = await Promise.all([bounded(ctx, ctx.commands.get(ctx.keys.tagName(set))), bounded(ctx, ctx.commands.scard(set))])
      if (name !== null && keys > 0) tags.push({ tag: name, keys })
    } catch (err) {
      if (!isWrongType(err)) throw err
      foreign(ctx)
    }
  }
  if (next === '0') node++
  return { cursor: node >= nodes.length ? '0' : `${node}.${next}`, tags }
}

/** Everything stored under one key. */
export async function inspect (ctx: Context, key: string): Promise<KeyDetail | undefined> {
  let hash: Record<string, Buffer>
  try {
    hash = await bounded(ctx, ctx.commands.hgetallBuffer(ctx.keys.group(key)))
  } catch (err) {
    if (isWrongType(err)) return undefined
    throw err
  }
  const vary = hash.v === undefined || hash.f?.toString() !== '2' ? undefined : decodeVary(hash.v.toString('latin1'))
  if (vary === undefined) return undefined
  const now = Date.now()
  const variants: KeyDetail['variants'] = []
  for (const [field, value] of Object.entries(hash)) {
    if (!field.startsWith('=')) continue
    const variant = field.slice(1)
    const entry = decodeEntry(value, hash[`m:${variant}`]?.toString('latin1') ?? '')
    if (entry !== undefined && entry.staleUntil > now) variants.push({ variant, entry })
  }
  if (variants.length === 0) return undefined
  const record = await bounded(ctx, ctx.commands.hget(ctx.keys.index(shardOf(key)), key)).catch(() => null)
  const parts = record === null ? undefined : fields(record)
  const tags = hash.t === undefined || hash.t.length === 0 ? [] : hash.t.toString().split('\n')
  return { key, vary, url: parts?.[8] === '' ? undefined : parts?.[8], tags, variants, stats: parts === undefined ? null : statsOfRecord(parts) }
}

/**
 * Delete the namespace. A new token comes first: a set whose render began before the clear is refused from then
 * on, and one that wrote before it is found by the SCAN that follows.
 */
export async function clear (ctx: Context): Promise<void> {
  await bounded(ctx, ctx.commands.fancyCacheRenew(1, ctx.keys.purges, randomUUID()))
  for (const node of ctx.nodes()) {
    let cursor = '0'
    do {
      const [next, found] = await bounded(ctx, node.scan(cursor, 'MATCH', ctx.keys.all, 'COUNT', 1000))
      cursor = next
      const keys = found.filter((key) => key !== ctx.keys.purges)
      if (keys.length === 0) continue
      if (!ctx.cluster) {
        await bounded(ctx, node.unlink(...keys))
      } else {
        // Keys of several slots: one UNLINK each, pipelined to the node that holds them all.
        const pipeline = node.pipeline()
        for (const key of keys) pipeline.unlink(key)
        await bounded(ctx, pipeline.exec())
      }
    } while (cursor !== '0')
  }
  await bounded(ctx, ctx.commands.publish(ctx.keys.channel, '*'))
}

/** Totals by a walk over every shard's index: the work grows with the number of entries. */
export async function summary (ctx: Context): Promise<StoreSummary> {
  const totals = { entries: 0, bytes: 0, hits: 0, misses: 0 }
  const now = Date.now()
  for (let shard = 0; shard < SHARDS; shard++) {
    let cursor = '0'
    do {
      let step: [string, ...number[]]
      try {
        step = await bounded(ctx, ctx.commands.fancyCacheTotals(1, ctx.keys.index(shard), cursor, 1000, now)) as [string, ...number[]]
      } catch (err) {
        if (!isWrongType(err)) throw err
        foreign(ctx)
        break
      }
      const [next, entries, bytes, hits, misses] = step
      cursor = next
      totals.entries += entries!
      totals.bytes += bytes!
      totals.hits += hits!
      totals.misses += misses!
    } while (cursor !== '0')
  }
  return totals
}
