// Type tests: compiled by `tsc --noEmit` (part of npm test), never run. Each @ts-expect-error must see an error,
// or the compile fails: that proves wrong option types are rejected, and the rest proves right ones need no casts.
import Fastify from 'fastify'
import fancyCacheDefault, { fancyCache, MemoryStore, type FoundUrl, type Store, type StoreSummary } from '../index.ts'

const app = Fastify()
await app.register(fancyCacheDefault, { ttl: 60, rememberAllUrls: true, admin: { prefix: '/cache', authorize: async () => true } })
await app.register(fancyCache, { store: new MemoryStore({ maxEntries: 10 }), bypassCookies: ['sessionid'] })

app.get('/a', { config: { fancyCache: true } }, async () => 'a')
app.get('/b', { config: { fancyCache: 3600 } }, async () => 'b')
app.get('/c', {
  config: {
    fancyCache: {
      ttl: 60,
      keyPrefix: async (request) => request.headers['x-user'] === undefined ? null : 'user',
      onlyGetKeys: ['page'],
      postProcessResponse: (body) => body,
      postProcessResponseAlways: (body, request, reply) => { reply.header('x', '1'); return String(body) },
      tags: (request) => [request.url],
      staleWhileRevalidate: 10
    }
  }
}, async () => 'c')

const found: AsyncIterable<FoundUrl> = app.fancyCache.findUrls('/a*', { purge: true })
const purged: Promise<number> = app.fancyCache.purgeUrls(['/a', '/b'])
const summary: Promise<StoreSummary> = app.fancyCache.stats()
const store: Store = app.fancyCache.store
export { found, purged, summary, store }

// @ts-expect-error ttl is a number of seconds
await app.register(fancyCache, { ttl: 'long' })
// @ts-expect-error store is 'memory', 'redis' or a Store
await app.register(fancyCache, { store: 'mongo' })
// @ts-expect-error admin.authorize is a function
await app.register(fancyCache, { admin: { authorize: true } })
// @ts-expect-error a ttl is a number, not a numeric string
app.get('/d', { config: { fancyCache: { ttl: '60' } } }, async () => 'd')
// @ts-expect-error keyPrefix returns a string, null or undefined
app.get('/e', { config: { fancyCache: { keyPrefix: () => 42 } } }, async () => 'e')
// @ts-expect-error onlyGetKeys is an array of names
app.get('/f', { config: { fancyCache: { onlyGetKeys: 'page' } } }, async () => 'f')
// @ts-expect-error findUrls patterns are strings
app.fancyCache.findUrls(42)
