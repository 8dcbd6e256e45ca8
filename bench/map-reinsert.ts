// Why hits got slower after a miss flood: V8's Map keeps a deleted entry in its hash bucket's chain until the table
// is rebuilt, and `set` of an absent key walks the whole chain. Re-inserting one hot key on every hit (an LRU done
// with delete + set) grows that one chain by a dead slot per hit, and a large Map is rebuilt only every few thousand
// inserts. Run: `node --import tsx bench/map-reinsert.ts` (plain Map operations, no plugin code).

const HITS = 200_000

/** ns per hit for `hot` keys hit in turn, each hit doing `touch`, in a Map that also holds `size` other entries. */
function measure (size: number, hot: number, touch: (map: Map<string, object>, key: string) => void): number {
  const map = new Map<string, object>()
  for (let i = 0; i < size; i++) map.set(`cold-${i}-${'x'.repeat(40)}`, { i })
  const keys = Array.from({ length: hot }, (_, i) => `hot-${i}-${'y'.repeat(40)}`)
  for (const key of keys) map.set(key, { key })
  const started = process.hrtime.bigint()
  for (let i = 0; i < HITS; i++) touch(map, keys[i % hot]!)
  return Number(process.hrtime.bigint() - started) / HITS
}

const reinsert = (map: Map<string, object>, key: string) => {
  const value = map.get(key)!
  map.delete(key)
  map.set(key, value)
}
const read = (map: Map<string, object>, key: string) => {
  if (map.get(key) === undefined) throw new Error('missing')
}

console.log('| entries in the Map | hot keys | get + delete + set, ns per hit | get only, ns per hit |')
console.log('|---:|---:|---:|---:|')
for (const [size, hot] of [[1, 1], [1_000, 1], [10_000, 1], [60_000, 1], [10_000, 10], [10_000, 100], [10_000, 1_000]] as const) {
  console.log(`| ${size.toLocaleString('en')} | ${hot.toLocaleString('en')} | ${measure(size, hot, reinsert).toFixed(0)} | ` +
    `${measure(size, hot, read).toFixed(0)} |`)
}
