/**
 * Micro-benchmark of MemoryStore.peek, the synchronous lookup every hit makes: ns per call on a warm store, and
 * again after a flood of distinct sets has cycled the store's whole capacity several times (evictions, tombstones).
 * Run: `node --import tsx bench/memory-peek.ts [path of the store module]`.
 */
import { pathToFileURL } from 'node:url'

const modulePath = process.argv[2] ?? new URL('../lib/stores/memory.ts', import.meta.url).pathname
const { MemoryStore } = await import(pathToFileURL(modulePath).href) as typeof import('../lib/stores/memory.ts')
const { makeEntry } = await import('../lib/stores/conformance.ts')

const CAPACITY = 10_000
const HOT = 1000
const OPS = 2_000_000
const ROUNDS = 5

const store = new MemoryStore({ maxEntries: CAPACITY })
const epoch = await store.epoch()
const meta = { vary: [], epoch, maxVariants: 64 } as unknown as Parameters<typeof store.set>[3]
const entry = makeEntry('x'.repeat(2000), 3_600_000)

function measure (keys: string[]): number {
  let found = 0
  // CPU time, not wall time: on a shared machine the process is often descheduled mid-run.
  const started = process.cpuUsage()
  for (let i = 0; i < OPS; i++) {
    if (store.peek(keys[i % keys.length]!, '')?.entry !== undefined) found++
  }
  const used = process.cpuUsage(started)
  const ns = (used.user + used.system) * 1000 / OPS
  if (found !== OPS) throw new Error(`only ${found} of ${OPS} peeks found their entry`)
  return ns
}

function best (keys: string[]): string {
  const runs = Array.from({ length: ROUNDS }, () => measure(keys))
  return `${Math.min(...runs).toFixed(1)} ns/op (median ${runs.sort((a, b) => a - b)[ROUNDS >> 1]!.toFixed(1)})`
}

const hot = Array.from({ length: HOT }, (_, i) => `hot-${i}`)
// A full store first, so that the two measurements differ only by the flood.
for (let i = 0; i < CAPACITY - HOT; i++) await store.set(`fill-${i}`, '', entry, meta)
for (const key of hot) await store.set(key, '', entry, meta)
console.log(`full store, ${HOT} hot keys:`, best(hot))

// Keep the hot keys recently used while 60,000 distinct keys flood through, as a site does under a crawler: each
// a miss (a lookup finding nothing, a counted miss) then a set.
for (let i = 0; i < 60_000; i++) {
  const key = `flood-${i}`
  store.peek(key, '')
  await store.count(key, 'misses')
  await store.set(key, '', entry, meta)
  if (i % 1000 === 0) for (const hotKey of hot) store.peek(hotKey, '')
}
console.log('after 60,000 distinct sets:', best(hot))
const all = [...hot]
for (let i = 60_000 - (CAPACITY - HOT); i < 60_000; i++) all.push(`flood-${i}`)
console.log(`after the flood, all ${all.length} keys:`, best(all))
