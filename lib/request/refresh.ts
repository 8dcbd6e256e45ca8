import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Flight, Flights } from './flights.ts'
import { REFRESH_HEADER } from './lookup.ts'

/** A background regeneration in progress, as its request finds it. */
export interface Refresh {
  key: string
  variant: string
  flight: Flight
}

interface Pending extends Refresh {
  encrypted: boolean
}

/**
 * Stale-while-revalidate and soft purges: the stale copy is sent at once and the page is regenerated in the
 * background by a request the app makes to itself (`inject`), marked with a one-time token only this process knows.
 * That request carries the original's headers, client address and protocol, so the handler renders the page it
 * would have rendered for the original (https links, the public host, `request.ip`), and the key is checked again
 * before anything is stored under the original's.
 */
export class Refresher {
  readonly #app: FastifyInstance
  readonly #flights: Flights
  readonly #pending = new Map<string, Pending>()

  constructor (app: FastifyInstance, flights: Flights) {
    this.#app = app
    this.#flights = flights
  }

  /** Regenerate the page of `request` in the background, unless a regeneration of it is already running here. */
  start (request: FastifyRequest, key: string, variant: string, id: string): void {
    if (this.#flights.get(id) !== undefined) return
    const flight = this.#flights.lead(id, undefined)
    const token = randomUUID()
    const socket = request.raw.socket as typeof request.raw.socket & { encrypted?: boolean }
    this.#pending.set(token, { key, variant, flight, encrypted: socket?.encrypted === true })
    const headers: Record<string, string | string[] | undefined> = { ...request.headers, [REFRESH_HEADER]: token }
    delete headers['if-none-match']
    delete headers['if-modified-since']
    delete headers.range
    delete headers['if-range']
    const leader = flight.leader
    this.#app.inject({ method: 'GET', url: request.url, headers, remoteAddress: socket?.remoteAddress })
      .catch((err: unknown) => request.log.warn({ err }, 'fastify-fancy-cache: background regeneration failed'))
      .finally(() => {
        this.#pending.delete(token)
        this.#flights.uncacheable(flight, leader)
      })
  }

  /** The regeneration a request is, when it carries a valid token; the token is spent and the header removed. */
  take (request: FastifyRequest): Refresh | undefined {
    const token = request.headers[REFRESH_HEADER]
    if (token === undefined) return undefined
    delete request.headers[REFRESH_HEADER]
    const pending = typeof token === 'string' ? this.#pending.get(token) : undefined
    if (pending === undefined) return undefined
    this.#pending.delete(token as string)
    // The injected request's socket is a stand-in: give it the original's protocol.
    if (pending.encrypted) (request.raw.socket as typeof request.raw.socket & { encrypted?: boolean }).encrypted = true
    return pending
  }
}
