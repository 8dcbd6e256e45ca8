import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import Fastify from 'fastify'
import formbody from '@fastify/formbody'
import fastifyView from '@fastify/view'
import { Eta } from 'eta'
import { Redis } from 'ioredis'
import fancyCache, { MemoryStore } from '../index.ts'
import { Signer } from '../lib/admin/security.ts'
import { adminApp, csrfOf, flashOf, keysOf, postForm, unescape, urlsOf } from './helpers/admin-page.ts'
import { RedisServer } from './helpers/redis-server.ts'

const SAME_ORIGIN = { origin: 'http://localhost:80', 'sec-fetch-site': 'same-origin' }

async function warm (app: { inject: (url: string) => Promise<unknown> }, urls: string[]) {
  for (const url of urls) await app.inject(url)
}

async function page (app: Parameters<typeof postForm>[0], url = '/fancy-cache') {
  const response = await app.inject(url)
  assert.equal(response.statusCode, 200, response.body)
  return response.body
}

/** Seed remembered entries straight into a memory store, far faster than through requests. */
async function seed (store: MemoryStore, count: number, prefix = '/item/') {
  const now = Date.now()
  const epoch = await store.epoch()
  for (let i = 0; i < count; i++) {
    const body = Buffer.from(`item ${i}`)
    await store.set(`key-${prefix}${i}`, '', {
      status: 200, headers: { 'content-type': 'text/plain' }, body, etag: `"${i}"`, storedAt: now, expiresAt: now + 600_000, staleUntil: now + 600_000
    }, { vary: [], url: `${prefix}${i}`, epoch, maxVariants: 64 })
  }
}

test('a loopback client gets the page: totals, one row per remembered URL, hits, misses and ratio', async () => {
  const { app } = await adminApp()
  await warm(app, ['/a', '/a', '/a', '/b?x=1'])
  const html = await page(app)
  assert.deepEqual(urlsOf(html).sort(), ['/a', '/b?x=1'])
  // Each total says what it counts: entries now, hits and misses since the store was last cleared.
  assert.match(html, /<span class="n">2<\/span><span class="l">entries<\/span><span class="since">now<\/span>/)
  assert.match(html, /<span class="n">2<\/span><span class="l">hits<\/span><span class="since">since clear<\/span>/)
  assert.match(html, /<span class="n">2<\/span><span class="l">misses<\/span><span class="since">since clear<\/span>/)
  assert.match(html, /<span class="n">50%<\/span><span class="l">hit ratio<\/span><span class="since">since clear<\/span>/)
  // The /a row: hits 2, misses 1, 66.7%, a size, an age and the time left of a 600 s ttl.
  assert.match(html, /<td class="url"><a href="\/fancy-cache\/entry\?key=[\w-]{43}">\/a<\/a><\/td>\s*<td class="key"><code title="[\w-]{43}">[\w-]{10}…<\/code><\/td>\s*<td class="num">2<\/td>\s*<td class="num">1<\/td>\s*<td class="num">66.7%<\/td>\s*<td class="num">[\d.]+ (B|KiB)<\/td>\s*<td class="num">0 s<\/td>\s*<td class="num">(9|10) min<\/td>/)
  for (const label of ['URL', 'Key', 'Hits', 'Misses', 'Hit ratio', 'Size', 'Age', 'Time left']) assert.ok(html.includes(`>${label}<`), label)
})

test('the page sends a script-free CSP, frame denial and no-store, and its stylesheet is served from the prefix', async () => {
  const { app } = await adminApp()
  const response = await app.inject('/fancy-cache')
  const csp = response.headers['content-security-policy'] as string
  assert.match(csp, /default-src 'none'/)
  assert.match(csp, /style-src 'self'/)
  assert.match(csp, /form-action 'self'/)
  assert.match(csp, /frame-ancestors 'none'/)
  assert.doesNotMatch(csp, /script-src|unsafe-inline/)
  assert.equal(response.headers['x-frame-options'], 'DENY')
  assert.equal(response.headers['cache-control'], 'no-store')
  assert.equal(response.headers['content-type'], 'text/html; charset=utf-8')
  assert.doesNotMatch(response.body, /<script/i)
  assert.match(response.body, /<link rel="stylesheet" href="\/fancy-cache\/style.css">/)
  const css = await app.inject('/fancy-cache/style.css')
  assert.equal(css.statusCode, 200)
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8')
  assert.match(css.body, /table/)
})

test('admin routes are never cached: no Cache-Status hit, nothing remembered, the listing is always fresh', async () => {
  const { app } = await adminApp()
  await warm(app, ['/a'])
  for (const url of ['/fancy-cache', '/fancy-cache', '/fancy-cache/api/urls', '/fancy-cache/api/urls', '/fancy-cache/style.css']) {
    const response = await app.inject(url)
    assert.equal(response.headers['cache-status'], undefined, url)
  }
  await warm(app, ['/b'])
  assert.deepEqual(urlsOf(await page(app)).sort(), ['/a', '/b'])
  assert.deepEqual((await app.fancyCache.stats()).entries, 2)
})

test('a remote client without authorize gets 403 on the page, the API and the purge routes', async () => {
  const { app } = await adminApp()
  await warm(app, ['/a'])
  for (const url of ['/fancy-cache', '/fancy-cache/api/urls', '/fancy-cache/confirm', '/fancy-cache/style.css']) {
    const response = await app.inject({ url, remoteAddress: '203.0.113.9' })
    assert.equal(response.statusCode, 403, url)
    assert.equal(response.headers['cache-control'], 'no-store')
  }
  const api = await app.inject({ method: 'POST', url: '/fancy-cache/api/purge', remoteAddress: '203.0.113.9', payload: { all: true } })
  assert.equal(api.statusCode, 403)
  assert.equal(api.json().error, 'Forbidden')
  assert.equal((await app.fancyCache.stats()).entries, 1)
})

test('loopback means 127.0.0.0/8 and ::1, also IPv4-mapped; a request relayed by a proxy is not local', async () => {
  const { app } = await adminApp()
  for (const remoteAddress of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
    assert.equal((await app.inject({ url: '/fancy-cache', remoteAddress })).statusCode, 200, remoteAddress)
  }
  for (const remoteAddress of ['10.0.0.1', '::ffff:10.0.0.1', '::2', '128.0.0.1']) {
    assert.equal((await app.inject({ url: '/fancy-cache', remoteAddress })).statusCode, 403, remoteAddress)
  }
  for (const header of ['x-forwarded-for', 'x-real-ip', 'forwarded']) {
    const response = await app.inject({ url: '/fancy-cache', headers: { [header]: '198.51.100.7' } })
    assert.equal(response.statusCode, 403, header)
  }
})

test('authorize decides: false gets 403 even on loopback, true lets a remote client in', async () => {
  const { app } = await adminApp({
    admin: { authorize: (request) => request.headers['x-admin-token'] === 'let-me-in' }
  })
  assert.equal((await app.inject('/fancy-cache')).statusCode, 403)
  assert.equal((await app.inject('/fancy-cache/api/urls')).statusCode, 403)
  const remote = await app.inject({ url: '/fancy-cache', remoteAddress: '203.0.113.9', headers: { 'x-admin-token': 'let-me-in' } })
  assert.equal(remote.statusCode, 200)
  const asyncNo = await adminApp({ admin: { authorize: async () => false } })
  assert.equal((await asyncNo.app.inject('/fancy-cache')).statusCode, 403)
})

test('a remembered URL containing <script> shows as text, never as markup', async () => {
  const store = new MemoryStore()
  const { app } = await adminApp({ store })
  await seed(store, 1, '/<script>alert(1)</script>?a="b"&c=\'d\'')
  const html = await page(app)
  assert.ok(!html.includes('<script>alert(1)</script>'))
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'))
  assert.deepEqual(urlsOf(html), ['/<script>alert(1)</script>?a="b"&c=\'d\'0'])
  // A search term is escaped too, in the box and in the "no match" hint.
  const search = await page(app, '/fancy-cache?q=%22%3E%3Cscript%3Ex()%3C%2Fscript%3E')
  assert.ok(!search.includes('<script>x()</script>'))
  assert.ok(search.includes('value="&quot;&gt;&lt;script&gt;x()&lt;/script&gt;"'))
})

test('purging a row from the page: 303 back with a flash line, the row is gone and the next request is a miss', async () => {
  const { app, runs } = await adminApp()
  await warm(app, ['/a', '/b'])
  const html = await page(app)
  const key = keysOf(html)[urlsOf(html).indexOf('/a')]!
  const response = await postForm(app, '/fancy-cache/purge', { _csrf: csrfOf(html), action: 'key', key, url: '/a' }, SAME_ORIGIN)
  assert.equal(response.statusCode, 303)
  const location = response.headers.location as string
  assert.match(location, /^\/fancy-cache\?flash=/)
  const after = await page(app, location)
  assert.equal(flashOf(after), 'Purged /a')
  assert.deepEqual(urlsOf(after), ['/b'])
  const next = await app.inject('/a')
  assert.match(next.headers['cache-status'] as string, /fwd=miss/)
  assert.equal(runs('/a'), 2)
  assert.match((await app.inject('/b')).headers['cache-status'] as string, /hit/)
})

test('a flash line whose signature does not match is not shown', async () => {
  const { app } = await adminApp()
  const html = await page(app, '/fancy-cache?flash=Purged+everything&sig=forged')
  assert.equal(flashOf(html), undefined)
  assert.ok(!html.includes('Purged everything'))
})

test('purge matching asks first when it matches more than one entry, then purges what the search lists and says how many', async () => {
  const { app } = await adminApp()
  await warm(app, ['/blog/1', '/blog/2', '/blog/2?page=3', '/about'])
  const html = await page(app, '/fancy-cache?q=%2Fblog%2F*')
  assert.deepEqual(urlsOf(html).sort(), ['/blog/1', '/blog/2', '/blog/2?page=3'])
  assert.match(html, /Purge matching <code>\/blog\/\*<\/code>/)
  const asked = await postForm(app, '/fancy-cache/purge', { _csrf: csrfOf(html), action: 'matching', q: '/blog/*' }, SAME_ORIGIN)
  assert.equal(asked.statusCode, 200)
  assert.match(asked.body, /matches <strong>3<\/strong> cached entries/)
  assert.match(asked.body, /Yes, purge 3 entries/)
  assert.equal((await app.fancyCache.stats()).entries, 4, 'nothing purged before the answer')
  const response = await postForm(app, '/fancy-cache/purge', { _csrf: csrfOf(asked.body), action: 'matching', q: '/blog/*', confirm: 'yes' }, SAME_ORIGIN)
  assert.equal(response.statusCode, 303)
  const after = await page(app, response.headers.location as string)
  assert.equal(flashOf(after), 'Purged 3 entries matching /blog/*')
  assert.deepEqual(urlsOf(after), [])
  assert.deepEqual(urlsOf(await page(app)), ['/about'])
})

test('purge all asks first (a JS-free confirm page), then clears everything and says how many', async () => {
  const { app } = await adminApp()
  await warm(app, ['/a', '/b', '/c'])
  const html = await page(app)
  assert.match(html, /<a class="button danger" href="\/fancy-cache\/confirm">Purge all…<\/a>/)
  const unconfirmed = await postForm(app, '/fancy-cache/purge', { _csrf: csrfOf(html), action: 'all' }, SAME_ORIGIN)
  assert.equal(unconfirmed.statusCode, 303)
  assert.equal(unconfirmed.headers.location, '/fancy-cache/confirm')
  assert.equal((await app.fancyCache.stats()).entries, 3)
  const confirm = await page(app, '/fancy-cache/confirm')
  assert.match(confirm, /removes all <strong>3<\/strong> cached entries/)
  assert.match(confirm, /name="confirm" value="yes"/)
  const response = await postForm(app, '/fancy-cache/purge', { _csrf: csrfOf(confirm), action: 'all', confirm: 'yes' }, SAME_ORIGIN)
  assert.equal(response.statusCode, 303)
  const after = await page(app, response.headers.location as string)
  assert.equal(flashOf(after), 'Purged all 3 entries (namespace fancy-cache)')
  assert.deepEqual(urlsOf(after), [])
  assert.match((await app.inject('/a')).headers['cache-status'] as string, /fwd=miss/)
})

test('a purge POST without a token, with a wrong or foreign token, or an expired one gets 403 and purges nothing', async () => {
  const { app } = await adminApp({ admin: { secret: 'a-secret-of-this-cluster' } })
  await warm(app, ['/a'])
  const html = await page(app)
  const good = csrfOf(html)
  const [issued, nonce] = good.split('.')
  const foreign = new Signer('another-secret-entirely', 'fancy-cache\0/fancy-cache', 3600_000).token()
  const expired = new Signer('a-secret-of-this-cluster', 'fancy-cache\0/fancy-cache', 3600_000).token(Date.now() - 13 * 3600_000)
  const cases: Array<[string, Record<string, string>]> = [
    ['no token', { action: 'all', confirm: 'yes' }],
    ['empty token', { _csrf: '', action: 'all', confirm: 'yes' }],
    ['garbage', { _csrf: 'nope', action: 'all', confirm: 'yes' }],
    ['tampered time', { _csrf: `${Number(issued) + 1}.${nonce}.${good.split('.')[2]}`, action: 'all', confirm: 'yes' }],
    ['other secret', { _csrf: foreign, action: 'all', confirm: 'yes' }],
    ['expired', { _csrf: expired, action: 'all', confirm: 'yes' }]
  ]
  for (const [what, fields] of cases) {
    const response = await postForm(app, '/fancy-cache/purge', fields, SAME_ORIGIN)
    assert.equal(response.statusCode, 403, what)
    assert.match(response.body, /CSRF token/, what)
  }
  assert.equal((await app.fancyCache.stats()).entries, 1)
})

test('a token from one instance is accepted by another that shares the secret', async () => {
  const secret = 'shared-by-every-instance'
  const one = await adminApp({ admin: { secret } })
  const two = await adminApp({ admin: { secret } })
  const alone = await adminApp()
  await warm(two.app, ['/a'])
  const token = csrfOf(await page(one.app, '/fancy-cache/confirm'))
  const fields = { _csrf: token, action: 'matching', q: '/a' }
  assert.equal((await postForm(alone.app, '/fancy-cache/purge', fields, SAME_ORIGIN)).statusCode, 403)
  const response = await postForm(two.app, '/fancy-cache/purge', fields, SAME_ORIGIN)
  assert.equal(response.statusCode, 303)
  assert.equal(flashOf(await page(two.app, response.headers.location as string)), 'Purged 1 entry matching /a')
})

test('a cross-site POST gets 403 even with a valid token; same-origin and tool requests pass', async () => {
  const { app } = await adminApp()
  await warm(app, ['/a', '/b', '/c'])
  const token = csrfOf(await page(app))
  const post = (q: string, headers: Record<string, string>) =>
    postForm(app, '/fancy-cache/purge', { _csrf: token, action: 'matching', q }, headers)
  const crossSite: Array<Record<string, string>> = [
    { origin: 'https://evil.example' },
    { origin: 'null' },
    { origin: 'http://localhost:8080' },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site', origin: 'http://localhost:80' }
  ]
  for (const headers of crossSite) {
    const response = await post('/a', headers)
    assert.equal(response.statusCode, 403, JSON.stringify(headers))
    assert.match(response.body, /cross-site request refused/)
  }
  assert.equal((await app.fancyCache.stats()).entries, 3)
  assert.equal((await post('/a', SAME_ORIGIN)).statusCode, 303)
  assert.equal((await post('/b', { origin: 'http://localhost:80' })).statusCode, 303)
  assert.equal((await post('/c', {})).statusCode, 303, 'curl sends neither header')
  assert.equal((await app.fancyCache.stats()).entries, 0)
})

test('GET (or PUT, DELETE) to a purge URL gets 405 and changes nothing', async () => {
  const { app } = await adminApp()
  await warm(app, ['/a'])
  for (const [method, url] of [['GET', '/fancy-cache/purge'], ['HEAD', '/fancy-cache/purge'], ['DELETE', '/fancy-cache/purge'],
    ['GET', '/fancy-cache/api/purge'], ['PUT', '/fancy-cache/api/purge'], ['POST', '/fancy-cache/api/urls']] as const) {
    const response = await app.inject({ method, url: `${url}?action=all&confirm=yes` })
    assert.equal(response.statusCode, 405, `${method} ${url}`)
    assert.equal(response.headers.allow, url.endsWith('urls') ? 'GET' : 'POST')
  }
  assert.equal((await app.fancyCache.stats()).entries, 1)
})

test('the purge form only takes form posts, and an unknown action is a 400', async () => {
  const { app } = await adminApp()
  const token = csrfOf(await page(app, '/fancy-cache/confirm'))
  const json = await app.inject({ method: 'POST', url: '/fancy-cache/purge', payload: { _csrf: token, action: 'all', confirm: 'yes' } })
  assert.equal(json.statusCode, 415)
  assert.equal((await postForm(app, '/fancy-cache/purge', { _csrf: token, action: 'drop-tables' })).statusCode, 400)
})

test('search uses the findUrls wildcard syntax; several patterns are OR\'d; no match explains the syntax', async () => {
  const { app } = await adminApp()
  await warm(app, ['/page1.html', '/page2.html', '/page2.html?a=1', '/other/page1.html'])
  const find = async (q: string) => urlsOf(await page(app, `/fancy-cache?q=${encodeURIComponent(q)}`)).sort()
  assert.deepEqual(await find('/page2.html*'), ['/page2.html', '/page2.html?a=1'])
  assert.deepEqual(await find('/page1.html'), ['/page1.html'])
  assert.deepEqual(await find('/page1.html  /other/*'), ['/other/page1.html', '/page1.html'])
  const none = await page(app, '/fancy-cache?q=page1')
  assert.deepEqual(urlsOf(none), [])
  assert.match(unescape(none), /No cached URL matches page1\. Patterns match the whole URL, with \* for any run of characters: try \*page1\*/)
})

test('sorting by each column, both ways, with the sort kept by the search box and pagination links', async () => {
  const { app } = await adminApp()
  await warm(app, ['/b', '/b', '/b', '/a', '/a', '/c'])
  const order = async (query: string) => urlsOf(await page(app, `/fancy-cache?${query}`))
  assert.deepEqual(await order('sort=hits&dir=desc'), ['/b', '/a', '/c'])
  assert.deepEqual(await order('sort=hits&dir=asc'), ['/c', '/a', '/b'])
  assert.deepEqual(await order('sort=url&dir=asc'), ['/a', '/b', '/c'])
  assert.deepEqual(await order('sort=url&dir=desc'), ['/c', '/b', '/a'])
  assert.deepEqual(await order('sort=ratio&dir=desc'), ['/b', '/a', '/c'])
  for (const column of ['key', 'misses', 'size', 'age', 'left']) {
    assert.equal((await order(`sort=${column}`)).length, 3, column)
  }
  const html = await page(app, '/fancy-cache?sort=hits&dir=desc')
  // The active column links to the other direction and says how it is sorted.
  assert.match(html, /aria-sort="descending"><a href="\/fancy-cache\?sort=hits&amp;dir=asc">Hits <span class="arrow">▼<\/span>/)
  assert.match(html, /<input type="hidden" name="sort" value="hits"><input type="hidden" name="dir" value="desc">/)
  assert.deepEqual(await order('sort=bogus'), ['/b', '/a', '/c'], 'an unknown column leaves the store order')
})

test('pagination: every URL on exactly one page, next and previous links, the sort kept across pages', async () => {
  const { app } = await adminApp()
  const all = Array.from({ length: 7 }, (_, i) => `/p${i}`)
  await warm(app, all)
  const seen: string[] = []
  let url: string | undefined = '/fancy-cache?sort=url&dir=desc&limit=3'
  const summaries: string[] = []
  while (url !== undefined) {
    const html = await page(app, unescape(url))
    seen.push(...urlsOf(html))
    summaries.push(/<p class="summary">([^<]*)/.exec(html)![1]!)
    url = /<a rel="next" href="([^"]+)">/.exec(html)?.[1]
    if (url !== undefined) assert.match(url, /sort=url/)
  }
  assert.deepEqual(seen, [...all].sort().reverse())
  assert.deepEqual(summaries, ['1–3 of 7 URLs', '4–6 of 7 URLs', '7–7 of 7 URLs'])
  const last = await page(app, '/fancy-cache?sort=url&dir=desc&limit=3&offset=6')
  assert.match(last, /href="\/fancy-cache\?sort=url&amp;dir=desc&amp;limit=3&amp;offset=3">‹ Previous page/)
})

test('past 10,000 entries the page follows the scan cursor, sorts within the page and says so', async () => {
  const store = new MemoryStore({ maxEntries: 20_000 })
  const { app } = await adminApp({ store })
  await seed(store, 10_050)
  const first = await page(app, '/fancy-cache?limit=1000')
  assert.match(first, /sorting applies within the page shown/)
  assert.equal(urlsOf(first).length, 1000)
  const nextHref = unescape(/<a rel="next" href="([^"]+)">/.exec(first)![1]!)
  assert.match(nextHref, /cursor=/)
  const second = await page(app, nextHref)
  const secondUrls = urlsOf(second)
  assert.equal(secondUrls.length, 1000)
  assert.equal(new Set([...urlsOf(first), ...secondUrls]).size, 2000, 'no URL on both pages')
  // Store cursors can be reused: reloading or sorting the page still shows the same URLs.
  assert.deepEqual(urlsOf(await page(app, nextHref)), secondUrls)
  const sorted = urlsOf(await page(app, `${nextHref}&sort=url&dir=asc`))
  assert.deepEqual(sorted, [...secondUrls].sort())
  // Purging a row on that page comes back to that page, without the row (the page fills up from further on).
  const html = await page(app, nextHref)
  const response = await postForm(app, '/fancy-cache/purge', {
    _csrf: csrfOf(html), action: 'key', key: keysOf(html)[0]!, url: secondUrls[0]!, cursor: new URL(nextHref, 'http://x').searchParams.get('cursor')!, limit: '1000'
  }, SAME_ORIGIN)
  const back = await page(app, response.headers.location as string)
  assert.equal(flashOf(back), `Purged ${secondUrls[0]}`)
  assert.deepEqual(urlsOf(back).slice(0, 999), secondUrls.slice(1))
  assert.ok(!urlsOf(back).includes(secondUrls[0]!))
  // A rare match far into the scan still shows on the first page of the search.
  assert.deepEqual(urlsOf(await page(app, '/fancy-cache?q=%2Fitem%2F10049')), ['/item/10049'])
  // A cursor nobody knows starts over, with a notice.
  const lost = await page(app, '/fancy-cache?cursor=nope&limit=10')
  assert.match(lost, /That page is no longer available/)
  assert.equal(urlsOf(lost).length, 10)
})

test('warnings when rememberAllUrls or rememberStatsAllUrls is off, none when both are on', async () => {
  const on = await page((await adminApp()).app)
  assert.doesNotMatch(on, /class="warning"/)
  const off = await page((await adminApp({ rememberAllUrls: false, rememberStatsAllUrls: false })).app)
  assert.match(off, /rememberAllUrls is off/)
  assert.match(off, /rememberStatsAllUrls is off/)
  const statsOff = await adminApp({ rememberStatsAllUrls: false })
  await warm(statsOff.app, ['/a'])
  const html = await page(statsOff.app)
  assert.doesNotMatch(html, /rememberAllUrls is off/)
  assert.match(html, /rememberStatsAllUrls is off/)
  assert.match(html, /<td class="url"><a [^>]*>\/a<\/a><\/td>[\s\S]*?<td class="num">–<\/td>\s*<td class="num">–<\/td>/, 'no stats shows a dash')
})

test('JSON API: GET api/urls lists url, key, hits, misses, bytes, storedAt, expiresAt and the totals', async () => {
  const { app } = await adminApp()
  await warm(app, ['/a', '/a', '/b'])
  const response = await app.inject('/fancy-cache/api/urls')
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['cache-control'], 'no-store')
  const body = response.json()
  assert.equal(body.cursor, null)
  assert.deepEqual(body.totals, { entries: 2, bytes: body.totals.bytes, hits: 1, misses: 2 })
  const a = body.urls.find((u: { url: string }) => u.url === '/a')
  assert.deepEqual(Object.keys(a), ['url', 'key', 'hits', 'misses', 'bytes', 'storedAt', 'expiresAt'])
  assert.equal(a.hits, 1)
  assert.equal(a.misses, 1)
  assert.ok(a.bytes > 0)
  assert.equal(a.expiresAt - a.storedAt, 600_000)
  const q = await app.inject('/fancy-cache/api/urls?q=/b*')
  assert.deepEqual(q.json().urls.map((u: { url: string }) => u.url), ['/b'])
  const two = await app.inject('/fancy-cache/api/urls?q=/a&q=/b')
  assert.equal(two.json().urls.length, 2)
})

test('JSON API: limit and cursor walk every URL once; a bad limit or cursor is a 400', async () => {
  const store = new MemoryStore()
  const { app } = await adminApp({ store })
  await seed(store, 25)
  const seen: string[] = []
  let cursor: string | null = ''
  let pages = 0
  do {
    const response: Awaited<ReturnType<typeof app.inject>> =
      await app.inject(`/fancy-cache/api/urls?limit=10&cursor=${encodeURIComponent(cursor ?? '')}`)
    assert.equal(response.statusCode, 200)
    const body: { cursor: string | null, urls: Array<{ url: string }> } = response.json()
    seen.push(...body.urls.map((u) => u.url))
    cursor = body.cursor
    pages++
  } while (cursor !== null)
  assert.equal(seen.length, 25)
  assert.equal(new Set(seen).size, 25)
  assert.ok(pages >= 3)
  for (const limit of ['0', '1001', 'ten', '2.5']) {
    const response = await app.inject(`/fancy-cache/api/urls?limit=${limit}`)
    assert.equal(response.statusCode, 400, limit)
    assert.match(response.json().message, /limit must be a whole number from 1 to 1000/)
  }
  const bad = await app.inject('/fancy-cache/api/urls?cursor=nope')
  assert.equal(bad.statusCode, 400)
  assert.match(bad.json().message, /cursor/)
})

test('JSON API: POST api/purge with urls, tags or all removes the entries and says how many', async () => {
  const { app, runs } = await adminApp()
  await warm(app, ['/blog/1', '/blog/2', '/about', '/tagged/1', '/tagged/2'])
  const purge = (payload: unknown) => app.inject({ method: 'POST', url: '/fancy-cache/api/purge', payload: payload as object })
  let response = await purge({ urls: ['/blog/*'] })
  assert.equal(response.statusCode, 200)
  assert.deepEqual(response.json(), { purged: 2 })
  assert.match((await app.inject('/blog/1')).headers['cache-status'] as string, /fwd=miss/)
  assert.equal(runs('/blog/1'), 2)
  response = await purge({ tags: 'item:2' })
  assert.deepEqual(response.json(), { purged: 1 })
  const listed = (await app.inject('/fancy-cache/api/urls')).json().urls.map((u: { url: string }) => u.url).sort()
  assert.deepEqual(listed, ['/about', '/blog/1', '/tagged/1'])
  response = await purge({ all: true })
  assert.deepEqual(response.json(), { purged: 3 })
  assert.deepEqual((await app.inject('/fancy-cache/api/urls')).json().urls, [])
})

test('JSON API: a bad body is a 400, a non-JSON body a 415, a cross-site Origin a 403', async () => {
  const { app } = await adminApp()
  await warm(app, ['/a'])
  for (const payload of [{}, { urls: ['/a'], all: true }, { all: false }, { urls: 42 }, { tags: [1] }]) {
    const response = await app.inject({ method: 'POST', url: '/fancy-cache/api/purge', payload })
    assert.equal(response.statusCode, 400, JSON.stringify(payload))
  }
  for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
    const response = await app.inject({ method: 'POST', url: '/fancy-cache/api/purge', headers: { 'content-type': type }, payload: 'all=true' })
    assert.equal(response.statusCode, 415, type)
  }
  const cross = await app.inject({ method: 'POST', url: '/fancy-cache/api/purge', headers: { origin: 'https://evil.example' }, payload: { all: true } })
  assert.equal(cross.statusCode, 403)
  assert.equal((await app.fancyCache.stats()).entries, 1)
})

test('a custom prefix and title; admin off means no routes', async () => {
  const { app } = await adminApp({ admin: { prefix: '/ops/cache', title: 'Blog cache' } })
  await warm(app, ['/a'])
  const html = await page(app, '/ops/cache')
  assert.match(html, /<title>Blog cache · cached URLs<\/title>/)
  assert.match(html, /href="\/ops\/cache\/style.css"/)
  assert.match(html, /action="\/ops\/cache\/purge"/)
  assert.equal((await app.inject('/ops/cache/api/urls')).json().urls.length, 1)
  const off = Fastify()
  await off.register(fancyCache, { rememberAllUrls: true })
  assert.equal((await off.inject('/fancy-cache')).statusCode, 404)
})

test('a user\'s own @fastify/view works side by side, registered before or after the plugin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fancy-cache-views-'))
  try {
    writeFileSync(join(dir, 'hello.eta'), 'Hello {{= it.name }} from the app')
    for (const order of ['view first', 'cache first']) {
      const app = Fastify()
      const userView = () => app.register(fastifyView, { engine: { eta: new Eta({ tags: ['{{', '}}'] }) }, root: dir })
      if (order === 'view first') await userView()
      await app.register(fancyCache, { rememberAllUrls: true, rememberStatsAllUrls: true, admin: true })
      if (order === 'cache first') await userView()
      app.get('/hello', { config: { fancyCache: true } }, async (_request, reply) => reply.view('hello', { name: '<Ann>' }))
      // A route whose hooks the cache reorders at its first request (the view's onRequest hook came after the
      // cache's) is cached from its second request on.
      await app.inject('/hello')
      const hello = await app.inject('/hello')
      assert.equal(hello.statusCode, 200, order)
      assert.equal(hello.body, 'Hello &lt;Ann&gt; from the app', order)
      const admin = await app.inject('/fancy-cache')
      assert.equal(admin.statusCode, 200, order)
      assert.deepEqual(urlsOf(admin.body), ['/hello'], order)
      await app.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('the app\'s own form parser (@fastify/formbody) and the admin forms both work', async () => {
  const app = Fastify()
  await app.register(formbody)
  await app.register(fancyCache, { rememberAllUrls: true, admin: true })
  app.post('/echo', async (request) => request.body)
  app.get('/a', { config: { fancyCache: true } }, async () => 'a')
  await app.inject('/a')
  const echo = await postForm(app, '/echo', { x: '1', y: '2' })
  assert.deepEqual(echo.json(), { x: '1', y: '2' })
  const html = await page(app)
  const response = await postForm(app, '/fancy-cache/purge', { _csrf: csrfOf(html), action: 'matching', q: '/a' }, SAME_ORIGIN)
  assert.equal(response.statusCode, 303)
  assert.equal((await app.fancyCache.stats()).entries, 0)
})

test('on the Redis store: the page lists, pages, purges a row, and the API agrees', async () => {
  const redis = await RedisServer.start()
  const client = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  try {
    const { app } = await adminApp({ store: 'redis', redis: client, namespace: 'admin-test' })
    await warm(app, ['/a', '/a', '/b', '/c'])
    const html = await page(app, '/fancy-cache?sort=url&dir=asc')
    assert.deepEqual(urlsOf(html), ['/a', '/b', '/c'])
    assert.match(html, /namespace <code>admin-test<\/code> · redis store/)
    const response = await postForm(app, '/fancy-cache/purge', {
      _csrf: csrfOf(html), action: 'key', key: keysOf(html)[1]!, url: '/b', sort: 'url', dir: 'asc'
    }, SAME_ORIGIN)
    const after = await page(app, response.headers.location as string)
    assert.equal(flashOf(after), 'Purged /b')
    assert.deepEqual(urlsOf(after), ['/a', '/c'])
    assert.match((await app.inject('/b')).headers['cache-status'] as string, /fwd=miss/)
    const api = (await app.inject('/fancy-cache/api/urls?q=/a')).json()
    assert.deepEqual(api.urls.map((u: { url: string, hits: number }) => [u.url, u.hits]), [['/a', 1]])
    await app.close()
  } finally {
    client.disconnect()
    await redis.stop()
  }
})
