import type { FastifyBaseLogger } from 'fastify'
import { storeTimeout } from './errors.ts'

/** What a guarded store call resolves to when the store failed, timed out or is being skipped. */
export const FAILED = Symbol('fancy-cache store failed')
export type Guarded<T> = T | typeof FAILED

const TRIP_AFTER = 3
const OPEN_MS = 1000

/**
 * Fail-open wrapper around store calls (SPEC §9): a call slower than `timeoutMs` or one that rejects resolves to
 * FAILED; after TRIP_AFTER failures in a row the breaker opens and calls are skipped for OPEN_MS, then tried again.
 * One warning per outage, one info line when the store is back.
 */
export class StoreGuard {
  #failures = 0
  #openUntil = 0
  #down = false
  readonly #timeoutMs: number
  readonly #log: FastifyBaseLogger

  constructor (timeoutMs: number, log: FastifyBaseLogger) {
    this.#timeoutMs = timeoutMs
    this.#log = log
  }

  get down (): boolean {
    return this.#down
  }

  async call<T> (op: () => Promise<T>): Promise<Guarded<T>> {
    if (this.#failures >= TRIP_AFTER && Date.now() < this.#openUntil) return FAILED
    let timer: NodeJS.Timeout | undefined
    try {
      const result = await Promise.race([
        op(),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(storeTimeout(this.#timeoutMs)), this.#timeoutMs)
        })
      ])
      if (this.#failures > 0 || this.#down) this.#recovered()
      return result
    } catch (err) {
      this.#failed(err)
      return FAILED
    } finally {
      clearTimeout(timer)
    }
  }

  #failed (err: unknown): void {
    this.#failures++
    if (this.#failures >= TRIP_AFTER) this.#openUntil = Date.now() + OPEN_MS
    if (!this.#down) {
      this.#down = true
      this.#log.warn({ err }, 'fastify-fancy-cache: store failing, serving requests uncached until it recovers')
    }
  }

  #recovered (): void {
    this.#failures = 0
    if (this.#down) {
      this.#down = false
      this.#log.info('fastify-fancy-cache: store recovered, caching again')
    }
  }
}
