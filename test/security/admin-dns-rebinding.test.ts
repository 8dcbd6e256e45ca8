import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import type { FancyCacheOptions } from '../../index.ts'
import { adminApp } from '../helpers/admin-page.ts'

/** A real HTTP request to the app on 127.0.0.1, with the Host header a browser would send after rebinding. */
function send (app: FastifyInstance, path: string, headers: Record<string, string>, body?: string) {
  const { port } = app.server.address() as AddressInfo
  return new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode!, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function listening (options?: FancyCacheOptions) {
  const { app } = await adminApp(options)
  await app.listen({ port: 0, host: '127.0.0.1' })
  for (const url of ['/account?token=s3cret', '/a']) await app.inject(url)
  return app
}

test('DNS rebinding: a page under an attacker\'s name pointed at 127.0.0.1 neither lists nor purges', async () => {
  const app = await listening()
  try {
    const rebound = { host: 'rebind.attacker.example', origin: 'http://rebind.attacker.example' }
    const listing = await send(app, '/fancy-cache/api/urls', { host: rebound.host })
    assert.equal(listing.status, 403)
    assert.doesNotMatch(listing.body, /s3cret/)
    assert.match(JSON.parse(listing.body).message, /Host header/)
    assert.equal((await send(app, '/fancy-cache', { host: rebound.host })).status, 403)
    assert.equal((await send(app, '/fancy-cache/metrics', { host: `${rebound.host}:80` })).status, 403)
    const purge = await send(app, '/fancy-cache/api/purge', { ...rebound, 'content-type': 'application/json' }, '{"all":true}')
    assert.equal(purge.status, 403)
    assert.equal((await app.fancyCache.stats()).entries, 2, 'nothing purged')
  } finally {
    await app.close()
  }
})

test('loopback names on any port get in; the Origin must be one of them and the Host itself', async () => {
  const app = await listening()
  const { port } = app.server.address() as AddressInfo
  try {
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'localhost', 'LOCALHOST:8080']) {
      assert.equal((await send(app, '/fancy-cache/api/urls', { host })).status, 200, host)
    }
    for (const host of ['localhost.attacker.example', '127.0.0.1.nip.io', 'attacker.example:' + port, 'localhost:80:80', 'user@localhost']) {
      assert.equal((await send(app, '/fancy-cache/api/urls', { host })).status, 403, host)
    }
    const json = { 'content-type': 'application/json' }
    // The Host is fine, the Origin names the attacker: refused as cross-site.
    const foreign = await send(app, '/fancy-cache/api/purge', { ...json, host: `localhost:${port}`, origin: 'http://rebind.attacker.example' }, '{"urls":["/a"]}')
    assert.equal(foreign.status, 403)
    assert.match(JSON.parse(foreign.body).message, /cross-site request refused/)
    const same = await send(app, '/fancy-cache/api/purge', { ...json, host: `localhost:${port}`, origin: `http://localhost:${port}` }, '{"urls":["/a"]}')
    assert.equal(same.status, 200)
    assert.deepEqual(JSON.parse(same.body), { purged: 1 })
  } finally {
    await app.close()
  }
})

test('admin.hosts replaces the loopback names, in loopback mode and with authorize', async () => {
  const listed = await listening({ admin: { hosts: ['cache.internal', 'localhost:9999'] } })
  try {
    assert.equal((await send(listed, '/fancy-cache/api/urls', { host: 'cache.internal:3000' })).status, 200)
    assert.equal((await send(listed, '/fancy-cache/api/urls', { host: 'localhost:9999' })).status, 200)
    assert.equal((await send(listed, '/fancy-cache/api/urls', { host: 'localhost:3000' })).status, 403, 'port pinned')
    assert.equal((await send(listed, '/fancy-cache/api/urls', { host: 'rebind.attacker.example' })).status, 403)
  } finally {
    await listed.close()
  }
  // An authorize check by address alone would let a rebinding page through; admin.hosts pins the name too.
  const authorized = await listening({ admin: { authorize: (request) => request.ip === '127.0.0.1', hosts: ['cache.internal'] } })
  try {
    assert.equal((await send(authorized, '/fancy-cache/api/urls', { host: 'cache.internal' })).status, 200)
    assert.equal((await send(authorized, '/fancy-cache/api/urls', { host: 'rebind.attacker.example' })).status, 403)
  } finally {
    await authorized.close()
  }
})

test('bad admin.hosts or a short admin.secret fail at start-up naming the field, without echoing the secret', async () => {
  await assert.rejects(adminApp({ admin: { hosts: ['http://x'] } }).then(({ app }) => app.ready()), /admin\.hosts: not a host name/)
  await assert.rejects(adminApp({ admin: { hosts: [] } }).then(({ app }) => app.ready()), /admin\.hosts: a non-empty array/)
  await assert.rejects(adminApp({ admin: { secret: 'hunter2' } }).then(({ app }) => app.ready()), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'FANCY_CACHE_ERR_INVALID_OPTION')
    assert.match(err.message, /admin\.secret: a string of at least 16 characters/)
    assert.match(err.message, /one of 7 characters/)
    assert.doesNotMatch(err.message, /hunter2/)
    return true
  })
})
