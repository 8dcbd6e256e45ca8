import { SeqIndex } from './memory-index.ts'
import { RECORD_BYTES, type Group, type Tag } from './memory-lru.ts'

/** Tags in use and the keys carrying each; every method reports the bytes it added or freed. */
export class TagIndex {
  #tags = new Map<string, Tag>()
  #index = new SeqIndex<Tag>()

  /** Label a key with a tag; resolves the bytes this added (0 when it already had it). */
  add (group: Group, name: string): number {
    let bytes = 0
    let tag = this.#tags.get(name)
    if (tag === undefined) {
      tag = { seq: 0, tag: name, keys: new Set() }
      this.#tags.set(name, tag)
      this.#index.add(tag)
      bytes += name.length + RECORD_BYTES.tag
    } else if (tag.keys.has(group)) {
      return 0
    }
    tag.keys.add(group)
    // The key keeps the index's own record, so a tag string is held once however many keys carry it.
    group.tags.push(tag)
    return bytes + RECORD_BYTES.tagged
  }

  /** Take a key out of all its tags; resolves the bytes freed (its memberships, and tags no key carries now). */
  remove (group: Group): number {
    let bytes = group.tags.length * RECORD_BYTES.tagged
    for (const tag of group.tags) {
      tag.keys.delete(group)
      if (tag.keys.size > 0) continue
      this.#tags.delete(tag.tag)
      this.#index.remove(tag)
      bytes += tag.tag.length + RECORD_BYTES.tag
    }
    group.tags = []
    return bytes
  }

  /** The keys carrying any of the tags, each once. */
  keysOf (tags: string[]): Set<Group> {
    const groups = new Set<Group>()
    for (const name of tags) for (const group of this.#tags.get(name)?.keys ?? []) groups.add(group)
    return groups
  }

  /** A page of tags with their key counts, with the same cursors as the URL scan. */
  page (cursor: string, count: number): { cursor: string, tags: Array<{ tag: string, keys: number }> } {
    const want = Math.max(1, Math.min(count, 10_000))
    const page = this.#index.page(cursor, want, want * 8 + 256, (tag) => tag.keys.size > 0)
    return { cursor: page.cursor, tags: page.items.map((tag) => ({ tag: tag.tag, keys: tag.keys.size })) }
  }

  clear (): void {
    this.#tags.clear()
    this.#index.clear()
  }
}
