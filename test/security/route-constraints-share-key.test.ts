import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import type { ConstraintStrategy, HTTPVersion } from 'find-my-way'
import fancyCache from '../../index.ts'

// Two routes on one path told apart by router constraints (version, or a custom strategy such as a tenant) shared
// one key: the v2 body went to `Accept-Version: 1.x`, one tenant's page to another.

test('route constraints share key: versioned routes on one path keep their own entries', async () => {
  const app = Fastify()
  await app.register(fancyCache)
  app.get('/api/item', { constraints: { version: '1.0.0' }, config: { fancyCache: true } }, async () => 'item v1')
  app.get('/api/item', { constraints: { version: '2.0.0' }, config: { fancyCache: true } }, async () => 'item v2')
  await app.inject({ url: '/api/item', headers: { 'accept-version': '2.x' } })
  const v1 = await app.inject({ url: '/api/item', headers: { 'accept-version': '1.x' } })
  assert.equal(v1.body, 'item v1')
  assert.equal((await app.inject({ url: '/api/item', headers: { 'accept-version': '2.x' } })).body, 'item v2')
  assert.equal((await app.inject({ url: '/api/item', headers: { 'accept-version': '1.x' } })).body, 'item v1')
})

test('route constraints share key: a custom constraint strategy (tenant) keeps tenants apart', async () => {
  const app = Fastify({
    routerOptions: {
      constraints: {
        tenant: ({
          name: 'tenant',
          storage () {
            const map = new Map<string, unknown>()
            return { get: (k: string) => map.get(k) ?? null, set: (k: string, v: unknown) => { map.set(k, v) } }
          },
          deriveConstraint: (req: { headers: Record<string, string | string[] | undefined> }) => String(req.headers['x-tenant'] ?? ''),
          mustMatchWhenDerived: true,
          validate () {}
        }) as unknown as ConstraintStrategy<HTTPVersion.V1>
      }
    }
  })
  await app.register(fancyCache)
  for (const tenant of ['acme', 'globex']) {
    app.get('/dashboard', { constraints: { tenant }, config: { fancyCache: true } }, async () => `dashboard of ${tenant}`)
  }
  await app.inject({ url: '/dashboard', headers: { 'x-tenant': 'acme' } })
  assert.equal((await app.inject({ url: '/dashboard', headers: { 'x-tenant': 'globex' } })).body, 'dashboard of globex')
  assert.equal((await app.inject({ url: '/dashboard', headers: { 'x-tenant': 'acme' } })).body, 'dashboard of acme')
})
