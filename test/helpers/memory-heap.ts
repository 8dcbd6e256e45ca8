/**
 * Child process for heap measurements of the memory store (run with --expose-gc): fills a store with `urls`
 * remembered URLs carrying `tags` tags each, then prints the heap it grew by and what the store counted, as JSON.
 * Args: shape ('shared': every URL has the same tag names; 'distinct': each URL its own), urls, tags, maxBytes.
 */
import { MemoryStore } from '../../lib/stores/memory.ts'
import { makeEntry, meta } from '../../lib/stores/conformance.ts'

const [shape = 'shared', urls = '2000', tags = '500', maxBytes = String(8 * 1024 * 1024), variants = '1'] = process.argv.slice(2)
const gc = (globalThis as { gc?: () => void }).gc!

function used (): number {
  gc()
  gc()
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return heapUsed + arrayBuffers
}

const store = new MemoryStore({ maxEntries: 1_000_000, maxBytes: Number(maxBytes) })
const epoch = await store.epoch()
const before = used()
for (let i = 0; i < Number(urls); i++) {
  // Tag strings are built per write, as a handler computing them per request does.
  const list = Array.from({ length: Number(tags) }, (_, j) => shape === 'shared' ? `tag-${j}` : `url-${i}-tag-${j}`)
  for (let v = 0; v < Number(variants); v++) {
    await store.set(`key-${i}`, `v${v}`, makeEntry(`page ${i}`), meta(epoch, { vary: ['accept'], url: `/page/${i}?ref=${i}`, tags: list }))
  }
  await store.count(`key-${i}`, 'misses')
}
const grown = used() - before
const summary = await store.summary()
process.stdout.write(JSON.stringify({ grown, bytes: summary.bytes, entries: summary.entries }))
