import type { Cluster, Redis } from 'ioredis'
import { storeUnavailable } from '../../errors.ts'

/**
 * Whether a store call may go to Redis now. Calls fail fast while disconnected rather than let commands pile up in
 * the client's offline queue; only before the client was ever ready (the app is starting) do they wait for its first
 * connection, or its first error.
 */
export class Connection {
  readonly #client: Redis | Cluster
  #connected = false
  #first: Promise<void> | undefined

  constructor (client: Redis | Cluster) {
    this.#client = client
  }

  /** `undefined` when ready; a promise of the first connection while starting; throws when disconnected. */
  ready (): Promise<void> | undefined {
    const status = this.#client.status
    if (status === 'ready') {
      this.#connected = true
      return undefined
    }
    if (this.#connected || (status !== 'wait' && status !== 'connecting' && status !== 'connect')) {
      throw storeUnavailable(status)
    }
    return (this.#first ??= this.#connect())
  }

  #connect (): Promise<void> {
    const client = this.#client
    return new Promise<void>((resolve, reject) => {
      const done = (err?: unknown) => {
        client.off('ready', done)
        client.off('error', done)
        this.#first = undefined
        if (err === undefined) resolve()
        else reject(storeUnavailable(client.status))
      }
      client.on('ready', done)
      client.on('error', done)
      if (client.status === 'wait') client.connect().catch(() => {})
    })
  }
}
