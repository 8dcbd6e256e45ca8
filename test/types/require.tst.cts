// The CommonJS declarations (dist/cjs), as a TypeScript project compiled to CommonJS sees them.
import Fastify = require('fastify')
import fancyCachePackage = require('fastify-fancy-cache')
import { expect, test } from 'tstyche'

test('require() gives the plugin as default and named export with its types', () => {
  const app = Fastify()
  expect(app.register(fancyCachePackage.fancyCache, { ttl: 60 })).type.not.toRaiseError()
  expect(app.register(fancyCachePackage.default, { ttl: 'long' })).type.toRaiseError()
  expect(app.get('/a', { config: { fancyCache: '60' } }, async () => 'a')).type.toRaiseError()
  expect(new fancyCachePackage.errorCodes.FANCY_CACHE_ERR_NO_REDIS('x').code).type.toBe<'FANCY_CACHE_ERR_NO_REDIS'>()
})
