import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { MemoryStore } from '../../lib/stores/memory.ts'
import { makeEntry, meta } from '../../lib/stores/conformance.ts'

// Tags used to live outside the bounds: 500 tags on each of 2,000 URLs grew the heap by about 250 MiB while the
// store reported well under 1 MiB. The tag index, remembered URLs and stats now count toward maxBytes.
const MAX_BYTES = 8 * 1024 * 1024

function heapOf (shape: 'shared' | 'distinct', urls = 2000, tags = 500): { grown: number, bytes: number, entries: number } {
  // A fresh process with --expose-gc, so that the heap measured is the store's alone.
  const out = execFileSync(process.execPath, [
    '--expose-gc', '--import', 'tsx', new URL('../helpers/memory-heap.ts', import.meta.url).pathname,
    shape, String(urls), String(tags), String(MAX_BYTES)
  ], { encoding: 'utf8', cwd: new URL('../..', import.meta.url).pathname })
  return JSON.parse(out)
}

for (const shape of ['shared', 'distinct'] as const) {
  test(`tags grow memory: 500 ${shape} tags on each of 2,000 URLs stay within maxBytes`, () => {
    const { grown, bytes, entries } = heapOf(shape)
    assert.ok(bytes <= MAX_BYTES, `the store counts ${bytes} bytes`)
    assert.ok(entries > 0, 'the newest pages are still cached')
    // The store's count covers its bookkeeping up to hash-table slack and index holes, hence the margin.
    assert.ok(grown <= MAX_BYTES * 1.5, `heap grew by ${(grown / 1048576).toFixed(1)} MiB for a ${MAX_BYTES / 1048576} MiB store`)
  })
}

test('tags grow memory: 100,000 small remembered pages with stats stay within maxBytes too', () => {
  const { grown, bytes } = heapOf('shared', 100_000, 0)
  assert.ok(bytes <= MAX_BYTES, `the store counts ${bytes} bytes`)
  assert.ok(grown <= MAX_BYTES * 1.5, `heap grew by ${(grown / 1048576).toFixed(1)} MiB for a ${MAX_BYTES / 1048576} MiB store`)
})

test('tags grow memory: tags dropped with their last key give their bytes back', async () => {
  const store = new MemoryStore()
  const epoch = await store.epoch()
  for (let i = 0; i < 50; i++) {
    const tags = Array.from({ length: 20 }, (_, j) => `t${(i + j) % 30}`)
    await store.set(`k${i}`, 'a', makeEntry('x'), meta(epoch, { vary: ['accept'], url: `/${i}`, tags }))
    await store.set(`k${i}`, 'b', makeEntry('y'), meta(epoch, { vary: ['accept'], url: `/${i}`, tags }))
  }
  assert.equal(await store.deleteTags(['t0', 't5']), 50 - 10)
  for (let i = 0; i < 50; i++) await store.delete(`k${i}`)
  assert.deepEqual(await store.summary(), { entries: 0, bytes: 0, hits: 0, misses: 0 })
  assert.deepEqual((await store.scanTags('0', 100)).tags, [])
})
