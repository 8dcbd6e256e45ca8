// autocannon ships no types and @types/autocannon is not a dependency: the part of its API the bench uses.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  export interface Options {
    url: string
    connections?: number
    pipelining?: number
    /** Seconds. */
    duration?: number
    /** Stop after this many requests instead of after `duration`. */
    amount?: number
    /** Seconds before a request counts as timed out. */
    timeout?: number
    headers?: Record<string, string>
    /** Replace `[<id>]` in the request with a fresh unique id on every request. */
    idReplacement?: boolean
  }

  export interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    p50: number
    p90: number
    p99: number
    total: number
  }

  export interface Result {
    /** Seconds the run took. */
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    requests: Histogram & { sent: number }
    latency: Histogram
    throughput: Histogram
    statusCodeStats: Record<string, { count: number }>
  }

  /** A run: an EventEmitter (`response` events carry the response time in ms) that is also a promise of its result. */
  export interface Instance extends EventEmitter, PromiseLike<Result> {
    stop (): void
  }

  export default function autocannon (options: Options): Instance
}
