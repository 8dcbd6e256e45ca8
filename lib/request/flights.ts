import type { ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CacheEntry, Store } from '../stores/store.ts'
import { FAILED, type StoreGuard } from '../guard.ts'

/** What a leader produced for its waiters: the entry it stored (or would have, when the store failed). */
export interface Produced {
  entry: CacheEntry
  variant: string
}

/**
 * How a wait ends: with the leader's entry; `lead` (the leader failed, timed out or its entry was refused: this
 * request regenerates now); `own` (the leader's response was not cacheable: run your own handler); `gone` (the
 * client left while waiting).
 */
export type Waited = Produced | 'lead' | 'own' | 'gone'

interface Waiter {
  resolve: (waited: Waited) => void
  res: ServerResponse
  onClose: () => void
}

/** One regeneration of one key variant, with the requests waiting for it. */
export class Flight {
  readonly id: string
  waiters: Waiter[] = []
  /** Changes whenever another request takes the lead, so a superseded leader cannot end the flight. */
  leader = 0
  /** When the current leader started, and its response (whose early close hands the lead on). */
  since: number
  res: ServerResponse | undefined
  // Armed only while someone waits: a miss nobody waits for costs no timer and no listener.
  timer: NodeJS.Timeout | undefined
  onLeaderGone: (() => void) | undefined

  constructor (id: string, res: ServerResponse | undefined) {
    this.id = id
    this.res = res
    this.since = Date.now()
  }
}

/**
 * In-process single flight: while one request regenerates a page, the others for the same key variant wait for its
 * result. Waits are bounded: after `timeoutMs` one waiter takes over (not every waiter), and waiters whose client
 * left are dropped at once, so a hung handler holds neither requests nor memory for long. It works the same when
 * the store is down: the leader hands its entry to its waiters directly.
 */
export class Flights {
  readonly #flights = new Map<string, Flight>()
  readonly #timeoutMs: number

  constructor (timeoutMs: number) {
    this.#timeoutMs = timeoutMs
  }

  /** The regeneration of `id` in progress. */
  get (id: string): Flight | undefined {
    return this.#flights.get(id)
  }

  /** Start leading a regeneration of `id` for the response `res`: its leader token is `flight.leader`. */
  lead (id: string, res: ServerResponse | undefined): Flight {
    const flight = new Flight(id, res)
    this.#flights.set(id, flight)
    return flight
  }

  /** A waiter that was told to `lead` takes over with its own response. */
  takeOver (flight: Flight, res: ServerResponse): void {
    flight.res = res
    if (flight.waiters.length > 0) this.#watch(flight)
  }

  /** Wait for the regeneration of `id` in progress; `undefined` when there is none. */
  wait (id: string, res: ServerResponse): Promise<Waited> | undefined {
    const flight = this.#flights.get(id)
    if (flight === undefined) return undefined
    return new Promise<Waited>((resolve) => {
      const waiter: Waiter = {
        resolve,
        res,
        onClose: () => {
          const at = flight.waiters.indexOf(waiter)
          if (at !== -1) flight.waiters.splice(at, 1)
          resolve('gone')
        }
      }
      res.once('close', waiter.onClose)
      flight.waiters.push(waiter)
      if (flight.waiters.length === 1) this.#watch(flight)
    })
  }

  /** The leader's entry: every waiter gets it, whoever leads now. */
  produced (flight: Flight, produced: Produced): void {
    this.#end(flight)
    for (const waiter of flight.waiters.splice(0)) this.#release(waiter, produced)
  }

  /** The leader's response could not be stored by anyone: its waiters run their own handlers. */
  uncacheable (flight: Flight, token: number): void {
    if (token !== flight.leader) return
    this.#end(flight)
    for (const waiter of flight.waiters.splice(0)) this.#release(waiter, 'own')
  }

  /** The leader failed, left, or its entry was refused by a purge: one waiter regenerates, the others keep waiting. */
  failed (flight: Flight, token: number): void {
    if (token !== flight.leader) return
    this.#promote(flight)
  }

  #promote (flight: Flight): void {
    this.#unwatch(flight)
    const next = flight.waiters.shift()
    if (next === undefined) {
      this.#end(flight)
      return
    }
    flight.leader++
    flight.since = Date.now()
    flight.res = undefined
    this.#release(next, 'lead')
  }

  /** Someone waits: bound the wait from the leader's start, and hand the lead on if the leader's client leaves. */
  #watch (flight: Flight): void {
    this.#unwatch(flight)
    flight.timer = setTimeout(() => this.#promote(flight), Math.max(flight.since + this.#timeoutMs - Date.now(), 0))
    const res = flight.res
    if (res === undefined) return
    const token = flight.leader
    flight.onLeaderGone = () => { if (token === flight.leader && !res.writableFinished) this.#promote(flight) }
    res.once('close', flight.onLeaderGone)
  }

  #unwatch (flight: Flight): void {
    clearTimeout(flight.timer)
    flight.timer = undefined
    if (flight.onLeaderGone !== undefined) flight.res?.removeListener('close', flight.onLeaderGone)
    flight.onLeaderGone = undefined
  }

  #end (flight: Flight): void {
    this.#unwatch(flight)
    if (this.#flights.get(flight.id) === flight) this.#flights.delete(flight.id)
  }

  #release (waiter: Waiter, waited: Waited): void {
    waiter.res.removeListener('close', waiter.onClose)
    waiter.resolve(waited)
  }
}

/**
 * Across processes, for stores with locks: take the store's lock for the key variant, or wait (at most `timeoutMs`)
 * for whoever holds it to store the entry. Resolves the entry another process stored, or `undefined` when this
 * request should run its handler: it holds the lock, the holder gave up, the wait ran out, or the store failed.
 * `locked` says whether this process now holds the lock. A lock granted after its call timed out is released.
 */
export async function lockOrWait (guard: StoreGuard | undefined, store: Store, key: string, variant: string,
  timeoutMs: number): Promise<{ entry: CacheEntry | undefined, locked: boolean }> {
  const call = <T>(op: () => Promise<T>, write: boolean, late?: (value: T) => void) =>
    guard === undefined ? op() : guard.call(op, { write, late })
  const release = (taken: boolean) => { if (taken) store.unlock!(key, variant).catch(() => {}) }
  const deadline = Date.now() + timeoutMs
  for (let pause = 10; Date.now() < deadline; pause = Math.min(pause * 2, 100)) {
    const locked = await call(() => store.lock!(key, variant, timeoutMs), true, release)
    if (locked === FAILED) return { entry: undefined, locked: false }
    if (locked) return { entry: undefined, locked: true }
    await sleep(Math.min(pause, Math.max(deadline - Date.now(), 0)))
    const found = await call(() => store.get(key, variant), false)
    if (found === FAILED) return { entry: undefined, locked: false }
    const entry = found?.entry
    if (entry !== undefined && entry.expiresAt > Date.now() && entry.softPurged !== true) return { entry, locked: false }
  }
  return { entry: undefined, locked: false }
}
