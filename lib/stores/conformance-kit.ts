import type { CacheEntry, EntryMeta, RememberedEntry, Store } from './store.ts'

/** Declares one conformance test that gets a fresh store. */
export type WithStore = (title: string, fn: (store: Store) => Promise<void>) => void

/** A fresh entry for tests: fresh for `freshMs`, kept `staleMs` longer. */
export function makeEntry (body: string | Buffer, freshMs = 60_000, staleMs = 0): CacheEntry {
  const now = Date.now()
  return {
    status: 200,
    headers: { 'content-type': 'text/html; charset=utf-8', link: ['</a.css>; rel=preload', '</b.js>; rel=preload'] },
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    etag: '"e1"',
    storedAt: now,
    expiresAt: now + freshMs,
    staleUntil: now + freshMs + staleMs
  }
}

/** Write options for tests: no Vary, the given epoch, the default variant cap; `extra` overrides. */
export function meta (epoch: string, extra: Partial<EntryMeta> = {}): EntryMeta {
  return { vary: [], epoch, maxVariants: 64, ...extra }
}

/** Every remembered entry, walking the scan from `'0'` to `'0'`. */
export async function scanAll (store: Store, count: number): Promise<RememberedEntry[]> {
  const all: RememberedEntry[] = []
  let cursor = '0'
  do {
    const page = await store.scan(cursor, count)
    all.push(...page.entries)
    cursor = page.cursor
  } while (cursor !== '0')
  return all
}
