import Fastify, { type FastifyServerOptions } from 'fastify'
import fancyCache, { type FancyCacheOptions } from '../../index.ts'

/** An app with the plugin registered first, and a counter of handler runs by name. */
export async function cachedApp (options: FancyCacheOptions = {}, fastify: FastifyServerOptions = {}) {
  const app = Fastify(fastify)
  await app.register(fancyCache, options)
  const counts = new Map<string, number>()
  /** Count one run of `name`; resolves the new count. */
  const run = (name: string) => {
    counts.set(name, (counts.get(name) ?? 0) + 1)
    return counts.get(name)!
  }
  return { app, run, runs: (name: string) => counts.get(name) ?? 0 }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Poll `check` until it holds or `ms` pass (for work the app does in the background). */
export async function eventually (check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`)
    await sleep(10)
  }
}
