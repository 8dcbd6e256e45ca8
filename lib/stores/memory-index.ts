import { invalidArgument } from '../errors.ts'

/** An item of a SeqIndex: its sequence number is set when it is added. */
export interface Sequenced {
  seq: number
}

// Removed items leave holes that are compacted away once they outnumber the live ones, so removal stays O(log n)
// and the arrays never hold more than about twice the live items.
const COMPACT_AFTER = 1024

/**
 * Items in the order they were added, each with a sequence number that only grows, for scans with Redis SCAN
 * semantics: a cursor is the last sequence number returned, so the same cursor always resumes at the same place,
 * any number of cursors can be open, and none of them expires. Reordering elsewhere (an LRU) never moves an item
 * here, so a scan visits each item at most once.
 */
export class SeqIndex<T extends Sequenced> {
  #seqs: number[] = []
  #items: Array<T | undefined> = []
  #next = 0
  #holes = 0

  /** Live items. */
  get size (): number {
    return this.#items.length - this.#holes
  }

  add (item: T): void {
    item.seq = ++this.#next
    this.#seqs.push(item.seq)
    this.#items.push(item)
  }

  remove (item: T): void {
    const at = this.#lowerBound(item.seq)
    if (this.#items[at] !== item) return
    this.#items[at] = undefined
    if (++this.#holes > COMPACT_AFTER && this.#holes * 2 > this.#items.length) this.#compact()
  }

  /**
   * Up to `count` live items after the cursor that `accept` takes, examining at most `examine` slots; resolves the
   * cursor to resume from (`'0'` when the walk reached the end).
   */
  page (cursor: string, count: number, examine: number, accept: (item: T) => boolean): { cursor: string, items: T[] } {
    const after = parseCursor(cursor)
    const items: T[] = []
    let at = this.#lowerBound(after + 1)
    let last = after
    for (let examined = 0; at < this.#items.length && items.length < count && examined < examine; at++, examined++) {
      const item = this.#items[at]
      last = this.#seqs[at]!
      if (item !== undefined && accept(item)) items.push(item)
    }
    return { cursor: at >= this.#items.length ? '0' : String(last), items }
  }

  clear (): void {
    // Sequence numbers keep growing, so a cursor from before a clear resumes among the new items, never repeats.
    this.#seqs = []
    this.#items = []
    this.#holes = 0
  }

  #lowerBound (seq: number): number {
    let lo = 0
    let hi = this.#seqs.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.#seqs[mid]! < seq) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  #compact (): void {
    const seqs: number[] = []
    const items: T[] = []
    for (let i = 0; i < this.#items.length; i++) {
      const item = this.#items[i]
      if (item === undefined) continue
      seqs.push(this.#seqs[i]!)
      items.push(item)
    }
    this.#seqs = seqs
    this.#items = items
    this.#holes = 0
  }
}

function parseCursor (cursor: string): number {
  if (typeof cursor !== 'string' || !/^(0|[1-9]\d{0,15})$/.test(cursor)) {
    throw invalidArgument(`invalid scan cursor ${JSON.stringify(cursor)}: pass '0' or a cursor a scan returned`)
  }
  return Number(cursor)
}
