// Type tests of the published declarations: 'fastify-fancy-cache' resolves through package.json `exports` to the
// built dist/*.d.ts, as it does for users (`npm run test:types` builds first).
import Fastify, { type FastifyReply, type FastifyRequest, type FastifyTypeProvider } from 'fastify'
import { expect, test } from 'tstyche'
import fancyCacheDefault, {
  errorCodes, fancyCache, FancyCacheError, MemoryStore,
  type FancyCacheApi, type FoundUrl, type RouteCacheConfig, type Store, type StoreSummary
} from 'fastify-fancy-cache'
import { storeConformance } from 'fastify-fancy-cache/conformance'

const app = Fastify()
const handler = async () => 'page'
interface PostRoute { Params: { id: string }, Querystring: { page?: string } }
/** A type provider for the test: a schema `{ const: X }` validates to the type of X. */
interface ConstProvider extends FastifyTypeProvider {
  validator: this['schema'] extends { const: infer C } ? C : unknown
  serializer: this['schema'] extends { const: infer C } ? C : unknown
}

test('the plugin registers with its options, as the default and the named export', () => {
  expect(app.register(fancyCacheDefault, { ttl: 60, rememberAllUrls: true, admin: { prefix: '/cache', authorize: async () => true } })).type.not.toRaiseError()
  expect(app.register(fancyCache, { store: new MemoryStore({ maxEntries: 10 }), bypassCookies: ['sessionid'] })).type.not.toRaiseError()
  expect(app.register(fancyCache)).type.not.toRaiseError()
})

test('wrong plugin options fail to compile', () => {
  expect(app.register(fancyCache, { ttl: 'long' })).type.toRaiseError()
  expect(app.register(fancyCache, { store: 'mongo' })).type.toRaiseError()
  expect(app.register(fancyCache, { admin: { authorize: true } })).type.toRaiseError()
  expect(app.register(fancyCache, { remeberAllUrls: true })).type.toRaiseError()
})

test('route config: true, a ttl, false or settings', () => {
  expect(app.get('/a', { config: { fancyCache: true } }, handler)).type.not.toRaiseError()
  expect(app.get('/b', { config: { fancyCache: 3600 } }, handler)).type.not.toRaiseError()
  expect(app.get('/c', { config: { fancyCache: false } }, handler)).type.not.toRaiseError()
  expect(app.get('/d', { config: { fancyCache: { ttl: 60, onlyGetKeys: ['page'] } } }, handler)).type.not.toRaiseError()
  expect(app.route({ method: 'GET', url: '/e', config: { fancyCache: { ttl: 60 } }, handler })).type.not.toRaiseError()
  expect(app.get('/f', { config: { fancyCache: 60, other: 'kept for other plugins' } }, handler)).type.not.toRaiseError()
})

test('a ttl written as a string fails to compile', () => {
  expect(app.get('/a', { config: { fancyCache: '60' } }, handler)).type.toRaiseError()
  expect(app.get('/b', { config: { fancyCache: { ttl: '60' } } }, handler)).type.toRaiseError()
  expect(app.route({ method: 'GET', url: '/c', config: { fancyCache: '60' }, handler })).type.toRaiseError()
})

test('settings of the wrong type fail to compile', () => {
  expect(app.get('/a', { config: { fancyCache: { keyPrefix: () => 42 } } }, handler)).type.toRaiseError()
  expect(app.get('/b', { config: { fancyCache: { onlyGetKeys: 'page' } } }, handler)).type.toRaiseError()
  expect(app.get('/c', { config: { fancyCache: { tags: () => 'post' } } }, handler)).type.toRaiseError()
})

test('a misspelt setting fails to compile on a route with its generics, and with satisfies RouteCacheConfig', () => {
  expect(app.get<PostRoute>('/a/:id', { config: { fancyCache: { tll: 60 } } }, handler)).type.toRaiseError()
  expect(app.route<PostRoute>({ method: 'GET', url: '/b/:id', config: { fancyCache: { tll: 60 } }, handler })).type.toRaiseError()
  expect(app.get('/c', { config: { fancyCache: { tll: 60 } satisfies RouteCacheConfig } }, handler)).type.toRaiseError()
})

test('the functions of a route config see the route\'s typed request', () => {
  app.get<PostRoute>('/posts/:id', {
    config: {
      fancyCache: {
        keyPrefix: (request) => {
          expect(request.params.id).type.toBe<string>()
          expect(request.query.page).type.toBe<string | undefined>()
          return request.params.id
        },
        tags: (request) => [`post:${request.params.id}`],
        postProcessResponseAlways: (body, request, reply) => {
          expect(body).type.toBe<string | Buffer>()
          expect(reply).type.toBeAssignableTo<FastifyReply>()
          return String(body).replace('*ID*', request.params.id)
        }
      }
    }
  }, async (request) => request.params.id)
  app.route<PostRoute>({
    method: 'GET',
    url: '/r/:id',
    config: { fancyCache: { keyPrefix: (request) => request.params.id } },
    handler: async (request) => request.params.id
  })
  const config = { keyPrefix: (request) => request.params.id } satisfies RouteCacheConfig<PostRoute>
  expect(app.get('/s/:id', { config: { fancyCache: config } }, handler)).type.not.toRaiseError()
  expect<RouteCacheConfig<PostRoute>>().type.toBeAssignableTo<RouteCacheConfig>()
})

test('the rest of a route\'s options keep Fastify\'s types: generics, hooks, schemas and type providers', () => {
  app.get<PostRoute>('/hooks/:id', {
    config: { fancyCache: 60 },
    onRequest: async (request) => { expect(request.params.id).type.toBe<string>() },
    preHandler: [async (request) => { expect(request.query.page).type.toBe<string | undefined>() }]
  }, async (request) => request.params.id)
  const typed = app.withTypeProvider<ConstProvider>()
  typed.get('/typed', { schema: { querystring: { const: 'hello' } }, config: { fancyCache: true } }, async (request) => {
    expect(request.query).type.toBe<'hello'>()
    return request.query
  })
  typed.route({
    method: 'GET',
    url: '/typed-route',
    schema: { querystring: { const: 'bye' } },
    config: { fancyCache: { ttl: 60 } },
    handler: async (request) => {
      expect(request.query).type.toBe<'bye'>()
      return request.query
    }
  })
})

test('without route generics the functions get a plain request', () => {
  app.get('/plain', {
    config: {
      fancyCache: {
        keyPrefix: (request) => {
          expect(request).type.toBeAssignableTo<FastifyRequest>()
          return request.headers['x-user'] === undefined ? null : 'user'
        }
      }
    }
  }, handler)
})

test('fastify.fancyCache finds, purges and counts', () => {
  expect(app.fancyCache).type.toBe<FancyCacheApi>()
  expect(app.fancyCache.findUrls('/a*', { purge: true })).type.toBeAssignableTo<AsyncIterable<FoundUrl>>()
  expect(app.fancyCache.purgeUrls(['/a', '/b'])).type.toBe<Promise<number>>()
  expect(app.fancyCache.stats()).type.toBe<Promise<StoreSummary>>()
  expect(app.fancyCache.store).type.toBeAssignableTo<Store>()
  expect(app.fancyCache.findUrls(42)).type.toRaiseError()
})

test('reply.fancyCache decides about the response being made', () => {
  app.get('/handler', async (_request, reply) => {
    expect(reply.fancyCache.tag('post:1', 'posts')).type.toBe<void>()
    expect(reply.fancyCache.ttl(60)).type.toBe<void>()
    expect(reply.fancyCache.noStore()).type.toBe<void>()
    expect(reply.fancyCache.ttl('60')).type.toRaiseError()
    return 'page'
  })
})

test('errors are FastifyErrors with a literal code and status per constructor', () => {
  const err = new errorCodes.FANCY_CACHE_ERR_INVALID_OPTION('ttl: a whole number')
  expect(err.code).type.toBe<'FANCY_CACHE_ERR_INVALID_OPTION'>()
  expect(err.statusCode).type.toBe<500>()
  expect(err).type.toBeAssignableTo<Error>()
  expect(new errorCodes.FANCY_CACHE_ERR_INVALID_ARGUMENT('x').statusCode).type.toBe<400>()
  expect<FancyCacheError['code']>().type.toBe<string>()
})

test('the conformance suite takes a name and a factory of stores', () => {
  expect(storeConformance).type.toBeCallableWith('my store', async () => new MemoryStore())
  expect(storeConformance).type.not.toBeCallableWith('my store', () => new MemoryStore())
})
