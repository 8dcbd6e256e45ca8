import { randomBytes } from 'node:crypto'
import { compilePattern } from '../patterns.ts'

/** What a purge covered: one key, any of some tags, URLs matching patterns, or everything. */
type PurgeRecord =
  | { kind: 'key', key: string, text: number }
  | { kind: 'tags', tags: Set<string>, text: number }
  | { kind: 'urls', matches: (url: string) => boolean, text: number }
  | { kind: 'clear', text: number }

// The most purges remembered, and the most text (keys, tags, patterns) they may hold together. A write whose epoch
// is older than what is remembered is refused: a store that cannot tell must not store a possibly outdated page.
const RECORDS = 4096
const TEXT_BYTES = 256 * 1024
const RECORD_BYTES = 48

/**
 * Purge generations for one in-process store: a sequence number bumped by every purge and a bounded ring of the
 * most recent purges, so that a write started before a purge is refused only when that purge covered it. Purging
 * one page then never stops another page from being stored, however often purges come.
 */
export class PurgeLog {
  // Unique per store instance, so an epoch handed out by another instance is never mistaken for one of ours.
  readonly #id = `m${randomBytes(6).toString('hex')}:`
  readonly #ring: Array<PurgeRecord | undefined> = new Array(RECORDS)
  #newest = 0
  // Purges with a sequence number up to #floor are forgotten; an epoch below it cannot be checked.
  #floor = 0
  #text = 0

  /** The current generation, as an opaque string. */
  epoch (): string {
    return this.#id + this.#newest
  }

  /** Bytes the ring holds now (bounded by its own limits, apart from the store's maxBytes). */
  get bytes (): number {
    return this.#text
  }

  key (key: string): void {
    this.#push({ kind: 'key', key, text: RECORD_BYTES + key.length })
  }

  tags (tags: string[]): void {
    let text = RECORD_BYTES
    for (const tag of tags) text += tag.length + RECORD_BYTES
    this.#push({ kind: 'tags', tags: new Set(tags), text })
  }

  urls (patterns: string[]): void {
    const matchers = patterns.map(compilePattern)
    let text = RECORD_BYTES
    for (const pattern of patterns) text += pattern.length + RECORD_BYTES
    this.#push({ kind: 'urls', matches: (url) => matchers.some((match) => match(url)), text })
  }

  clear (): void {
    this.#push({ kind: 'clear', text: RECORD_BYTES })
  }

  /** Whether a write that took `epoch` before its work may be stored: no purge since then covered it. */
  allows (epoch: string, key: string, url: string | undefined, tags: string[] | undefined): boolean {
    if (typeof epoch !== 'string' || !epoch.startsWith(this.#id)) return false
    const since = Number(epoch.slice(this.#id.length))
    if (!Number.isSafeInteger(since) || since > this.#newest) return false
    if (since === this.#newest) return true
    if (since < this.#floor) return false
    for (let seq = since + 1; seq <= this.#newest; seq++) {
      if (covers(this.#ring[seq % RECORDS]!, key, url, tags)) return false
    }
    return true
  }

  #push (record: PurgeRecord): void {
    const seq = ++this.#newest
    const slot = seq % RECORDS
    if (this.#ring[slot] !== undefined) this.#forgetOldest()
    this.#ring[slot] = record
    this.#text += record.text
    while (this.#text > TEXT_BYTES && this.#floor < this.#newest) this.#forgetOldest()
  }

  #forgetOldest (): void {
    const slot = ++this.#floor % RECORDS
    this.#text -= this.#ring[slot]!.text
    this.#ring[slot] = undefined
  }
}

function covers (record: PurgeRecord, key: string, url: string | undefined, tags: string[] | undefined): boolean {
  switch (record.kind) {
    case 'key': return record.key === key
    case 'tags': return tags?.some((tag) => record.tags.has(tag)) === true
    case 'urls': return url !== undefined && record.matches(url)
    case 'clear': return true
  }
}
