import type { FastifyBaseLogger } from 'fastify'
import { storeTimeout } from './errors.ts'

/** What a guarded store call resolves to when the store failed, timed out or is being skipped. */
export const FAILED = Symbol('fancy-cache store failed')
export type Guarded<T> = T | typeof FAILED

/** How a call is guarded. */
export interface CallOptions<T> {
  /**
   * A write (set, count, lock, unlock): its failures open the write breaker only, so a store that refuses writes
   * (full, read-only replica) still serves reads.
   */
  write?: boolean
  /** Called with the value of a call that resolved after it had timed out (to release a late lock, say). */
  late?: (value: T) => void
}

/** A call in flight: when it times out, whether it settled, and what to do when it times out. */
interface Pending {
  deadline: number
  settled: boolean
  expire: () => void
}

const TRIP_AFTER = 3
const OPEN_MS = 1000
/**
 * An outage ends when calls succeed again and none has failed for this long: a store that fails now and then (a
 * flaky link, a full Redis refusing some writes) is one outage with one warning, not a warning per failure.
 */
const QUIET_MS = 1000

/** One circuit breaker: after TRIP_AFTER failures in a row, calls are skipped for OPEN_MS, then tried again. */
class Breaker {
  failures = 0
  openUntil = 0
  get open (): boolean {
    return this.failures >= TRIP_AFTER && Date.now() < this.openUntil
  }

  fail (): void {
    this.failures++
    if (this.failures >= TRIP_AFTER) this.openUntil = Date.now() + OPEN_MS
  }
}

/**
 * Fail-open wrapper around store calls: a call slower than `timeoutMs` or one that rejects resolves to FAILED, so
 * the request is served by its handler. Reads and writes have a breaker each, so a store that refuses writes (a full
 * Redis with noeviction) keeps serving hits. One warning per outage, one info line when the store is back.
 */
export class StoreGuard {
  readonly #reads = new Breaker()
  readonly #writes = new Breaker()
  #down = false
  #lastFailure = 0
  readonly #timeoutMs: number
  readonly #log: FastifyBaseLogger

  constructor (timeoutMs: number, log: FastifyBaseLogger) {
    this.#timeoutMs = timeoutMs
    this.#log = log
  }

  /** Whether the last calls succeeded, and whether a breaker is skipping calls. */
  get health (): { up: boolean, circuitOpen: boolean } {
    return { up: !this.#down, circuitOpen: this.#reads.open || this.#writes.open }
  }

  call<T> (op: () => Promise<T>, options?: CallOptions<T>): Promise<Guarded<T>> {
    const breaker = options?.write === true ? this.#writes : this.#reads
    if (breaker.open) return Promise.resolve(FAILED)
    let pending: Promise<T>
    try {
      pending = op()
    } catch (err) {
      pending = Promise.reject(err)
    }
    return new Promise<Guarded<T>>((resolve) => {
      const call: Pending = { deadline: Date.now() + this.#timeoutMs, settled: false, expire: () => {} }
      call.expire = () => {
        const late = options?.late
        pending.then((value) => late?.(value), () => {})
        breaker.fail()
        this.#failed(storeTimeout(this.#timeoutMs))
        resolve(FAILED)
      }
      this.#track(call)
      pending.then((result) => {
        if (call.settled) return
        call.settled = true
        if (breaker.failures > 0 || this.#down) this.#recovered(breaker)
        resolve(result)
      }, (err: unknown) => {
        if (call.settled) return
        call.settled = true
        breaker.fail()
        this.#failed(err)
        resolve(FAILED)
      })
    })
  }

  // Every call has the same timeout, so deadlines come in the order calls start: one queue and one timer for the
  // oldest unsettled call serve them all, instead of a timer per call on the hot path.
  readonly #queue: Pending[] = []
  #head = 0
  #timer: NodeJS.Timeout | undefined

  #track (call: Pending): void {
    this.#queue.push(call)
    if (this.#timer === undefined) this.#arm()
  }

  #arm (): void {
    const queue = this.#queue
    while (this.#head < queue.length && queue[this.#head]!.settled) this.#head++
    if (this.#head === queue.length) {
      queue.length = 0
      this.#head = 0
      this.#timer = undefined
      return
    }
    if (this.#head > 1024) {
      queue.splice(0, this.#head)
      this.#head = 0
    }
    this.#timer = setTimeout(() => this.#expire(), Math.max(queue[this.#head]!.deadline - Date.now(), 0))
  }

  #expire (): void {
    const now = Date.now()
    const queue = this.#queue
    while (this.#head < queue.length) {
      const call = queue[this.#head]!
      if (!call.settled) {
        if (call.deadline > now) break
        call.settled = true
        call.expire()
      }
      this.#head++
    }
    this.#arm()
  }

  #failed (err: unknown): void {
    this.#lastFailure = Date.now()
    if (!this.#down) {
      this.#down = true
      this.#log.warn({ err }, 'fastify-fancy-cache: store failing, serving requests uncached until it recovers')
    }
  }

  #recovered (breaker: Breaker): void {
    breaker.failures = 0
    if (this.#down && this.#reads.failures === 0 && this.#writes.failures === 0 && Date.now() - this.#lastFailure >= QUIET_MS) {
      this.#down = false
      this.#log.info('fastify-fancy-cache: store recovered, caching again')
    }
  }
}
