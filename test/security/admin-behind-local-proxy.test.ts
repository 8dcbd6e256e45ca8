import assert from 'node:assert/strict'
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { adminApp } from '../helpers/admin-page.ts'

/**
 * A reverse proxy on this machine in front of the app, as people configure nginx or Caddy: it connects from
 * 127.0.0.1 and rewrites the request's headers with `rewrite` (pass the public Host on, add X-Forwarded-For, Via...).
 */
async function localProxy (appPort: number, rewrite: (headers: IncomingHttpHeaders, client: string) => IncomingHttpHeaders): Promise<Server> {
  const proxy = createServer((req, res) => {
    const upstream = httpRequest({
      host: '127.0.0.1',
      port: appPort,
      method: req.method,
      path: req.url,
      headers: rewrite({ ...req.headers }, req.socket.remoteAddress ?? '')
    }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  return proxy
}

const PUBLIC_HOST = 'shop.example.com'

const PROXIES: Array<[string, (headers: IncomingHttpHeaders, client: string) => IncomingHttpHeaders]> = [
  ['passes the public Host on (proxy_set_header Host $host)', (h) => ({ ...h, host: PUBLIC_HOST })],
  ['adds X-Forwarded-For', (h, client) => ({ ...h, 'x-forwarded-for': client })],
  ['adds X-Real-IP', (h, client) => ({ ...h, 'x-real-ip': client })],
  ['adds Forwarded', (h, client) => ({ ...h, forwarded: `for=${client};proto=https` })],
  ['adds Via', (h) => ({ ...h, via: '1.1 edge' })],
  ['adds X-Client-IP', (h, client) => ({ ...h, 'x-client-ip': client })],
  ['adds True-Client-IP', (h, client) => ({ ...h, 'true-client-ip': client })],
  ['adds CF-Connecting-IP', (h, client) => ({ ...h, 'cf-connecting-ip': client })]
]

test('behind a reverse proxy on the same machine, the loopback-only admin page refuses every visitor', async () => {
  const { app } = await adminApp()
  await app.listen({ port: 0, host: '127.0.0.1' })
  await app.inject('/private?session=alice')
  const appPort = (app.server.address() as AddressInfo).port
  try {
    for (const [how, rewrite] of PROXIES) {
      const proxy = await localProxy(appPort, rewrite)
      const origin = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
      try {
        const listing = await fetch(`${origin}/fancy-cache/api/urls`)
        assert.equal(listing.status, 403, how)
        const body = await listing.text()
        assert.doesNotMatch(body, /alice/, how)
        assert.equal((await fetch(`${origin}/fancy-cache`)).status, 403, how)
        const purge = await fetch(`${origin}/fancy-cache/api/purge`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"all":true}'
        })
        assert.equal(purge.status, 403, how)
      } finally {
        await new Promise((resolve) => proxy.close(resolve))
      }
    }
    assert.equal((await app.fancyCache.stats()).entries, 1, 'nothing purged')
    // The same request straight from this machine still gets in.
    assert.equal((await fetch(`http://127.0.0.1:${appPort}/fancy-cache/api/urls`)).status, 200)
  } finally {
    await app.close()
  }
})

test('the refusal says why and what to do: behind a proxy, set admin.authorize', async () => {
  const { app } = await adminApp()
  const relayed = await app.inject({ url: '/fancy-cache/api/urls', headers: { via: '1.1 edge' } })
  assert.equal(relayed.statusCode, 403)
  assert.equal(relayed.json().code, 'FANCY_CACHE_ERR_ADMIN_FORBIDDEN')
  assert.match(relayed.json().message, /came through a proxy \(via header\); behind a proxy, set admin\.authorize/)
  // With authorize the app decides, forwarded or not (here: a token only the operators have).
  const { app: authorized } = await adminApp({ admin: { authorize: (request) => request.headers['x-ops-token'] === 'ok' } })
  const allowed = await authorized.inject({ url: '/fancy-cache/api/urls', headers: { via: '1.1 edge', 'x-forwarded-for': '198.51.100.7', 'x-ops-token': 'ok', host: PUBLIC_HOST } })
  assert.equal(allowed.statusCode, 200)
})
