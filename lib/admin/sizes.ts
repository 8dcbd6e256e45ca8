import type { RememberedEntry } from '../stores/store.ts'
import { routeSizes, type RouteSizes } from './detail.ts'
import { SORT_ALL_LIMIT } from './listing.ts'
import type { Scope } from './scope.ts'

const PAGE = 1000

/**
 * Entries and bytes per route, from the remembered URLs: all of them up to SORT_ALL_LIMIT, else the first
 * SORT_ALL_LIMIT the store's scan yields (the page then says the counts are partial).
 */
export async function routeSizesOf (scope: Scope): Promise<RouteSizes> {
  const entries: RememberedEntry[] = []
  let cursor = '0'
  // A bound on round trips too, in case entries keep arriving while the scan runs.
  for (let round = 0; round < (SORT_ALL_LIMIT / PAGE) * 4; round++) {
    const page = await scope.api.scanUrls({ cursor, count: PAGE })
    entries.push(...page.entries)
    cursor = page.cursor
    if (cursor === '0' || entries.length >= SORT_ALL_LIMIT) break
  }
  const partial = cursor === '0' ? undefined : entries.length
  return routeSizes(scope.collector.routes().map((c) => c.route), entries, partial)
}
