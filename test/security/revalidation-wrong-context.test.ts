import assert from 'node:assert/strict'
import { test } from 'node:test'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { get as httpsGet } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import fancyCache from '../../index.ts'
import { eventually, sleep } from '../helpers/app.ts'

// The background regeneration of stale-while-revalidate arrived as plain http from 127.0.0.1: behind a proxy an
// https page was re-rendered with http:// links and an internal host, the handler saw the wrong request.ip, and the
// result was stored under the public key.

test('revalidation wrong context: behind a trusted proxy the regeneration sees the original protocol, host and client', async () => {
  // The proxy is 127.0.0.5 and only it is trusted: a request the app makes to itself from elsewhere would not be.
  const app = Fastify({ trustProxy: '127.0.0.5' })
  await app.register(fancyCache, { staleWhileRevalidate: 30 })
  let version = 1
  const seen: string[] = []
  app.get('/page', { config: { fancyCache: 1 } }, async (request) => {
    seen.push(`${request.protocol} ${request.host} ${request.ip}`)
    return `<a href="${request.protocol}://${request.host}/next">v${version}</a>`
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const get = () => new Promise<{ body: string, status: string }>((resolve, reject) => {
    httpRequest({
      host: '127.0.0.1',
      port,
      path: '/page',
      localAddress: '127.0.0.5',
      headers: { host: 'app-internal:3000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example', 'x-forwarded-for': '203.0.113.7' }
    }, (res) => {
      let body = ''
      res.on('data', (chunk) => { body += String(chunk) })
      res.on('end', () => resolve({ body, status: String(res.headers['cache-status']) }))
    }).on('error', reject).end()
  })
  try {
    assert.equal((await get()).body, '<a href="https://shop.example/next">v1</a>')
    await sleep(1100)
    version = 2
    assert.match((await get()).status, /stale-while-revalidate/)
    await eventually(async () => (await get()).body.includes('v2'))
    assert.equal((await get()).body, '<a href="https://shop.example/next">v2</a>')
    assert.deepEqual([...new Set(seen)], ['https shop.example 203.0.113.7'])
  } finally {
    await app.close()
  }
})

test('revalidation wrong context: on an https server the regeneration is rendered as https too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fancy-tls-'))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
  const app = Fastify({ https: { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) } })
  await app.register(fancyCache, { staleWhileRevalidate: 30 })
  let version = 1
  const protocols: string[] = []
  app.get('/tls', { config: { fancyCache: 1 } }, async (request) => {
    protocols.push(request.protocol)
    return `${request.protocol} v${version}`
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const get = () => new Promise<string>((resolve, reject) => {
    httpsGet({ host: '127.0.0.1', port, path: '/tls', rejectUnauthorized: false }, (res) => {
      let body = ''
      res.on('data', (chunk) => { body += String(chunk) })
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
  try {
    assert.equal(await get(), 'https v1')
    await sleep(1100)
    version = 2
    assert.equal(await get(), 'https v1')
    await eventually(async () => (await get()) === 'https v2')
    assert.deepEqual([...new Set(protocols)], ['https'])
  } finally {
    await app.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
