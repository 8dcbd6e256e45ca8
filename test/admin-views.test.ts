import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { adminApp, csrfOf, flashOf, keysOf, postForm, unescape, urlsOf } from './helpers/admin-page.ts'
import { eventually } from './helpers/app.ts'

const SAME_ORIGIN = { origin: 'http://localhost:80', 'sec-fetch-site': 'same-origin' }

async function page (app: Parameters<typeof postForm>[0], url = '/fancy-cache') {
  const response = await app.inject(url)
  assert.equal(response.statusCode, 200, response.body)
  return response.body
}

async function warm (app: Parameters<typeof postForm>[0], urls: string[]) {
  for (const url of urls) await app.inject(url)
}

/** The text of every cell of a table's body, row by row. */
function cells (html: string, table: string): string[][] {
  const body = new RegExp(`<table class="${table}">[\\s\\S]*?<tbody>([\\s\\S]*?)</tbody>`).exec(html)?.[1] ?? ''
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((cell) => unescape(cell[1]!.replace(/<[^>]+>/g, '').trim())))
}

test('the URLs page charts hits, stale hits and misses per minute in inline SVG, and shows the store\'s health', async () => {
  const { app } = await adminApp()
  await warm(app, ['/a', '/a', '/a', '/b'])
  const html = await page(app)
  assert.match(html, /<svg viewBox="0 0 600 150" role="img" aria-label="Hits, stale hits and misses per minute over the last hour">/)
  assert.match(html, /<span class="key hit">hits 2<\/span>/)
  assert.match(html, /<span class="key miss">misses 2<\/span>/)
  assert.match(html, /<title>\d\d:\d\d: 2 hits, 0 stale, 2 misses<\/title><rect class="hit"/)
  assert.doesNotMatch(html, /<script|style="/, 'no script, no inline style: the CSP holds')
  assert.match(html, /<section class="health" aria-label="Store health">[\s\S]*<strong>memory<\/strong>[\s\S]*answering · connected[\s\S]*circuit breaker closed/)
})

test('the routes page: entries, bytes, hits, misses, hit ratio and the estimated time saved per route pattern', async () => {
  const { app } = await adminApp()
  await warm(app, ['/a', '/a', '/a', '/b', '/tagged/1', '/tagged/2', '/tagged/1'])
  const html = await page(app, '/fancy-cache/routes')
  assert.match(html, /counted in this process since it started/)
  assert.match(html, /Time saved \(est\.\)/)
  const rows = cells(html, 'routes')
  const byRoute = Object.fromEntries(rows.map((r) => [r[0], r]))
  // route, entries, bytes, hits, misses, bypassed, ratio, mean miss, saved
  assert.deepEqual(byRoute['/*']!.slice(0, 1).concat(byRoute['/*']![1]!, byRoute['/*']![3]!, byRoute['/*']![4]!, byRoute['/*']![6]!), ['/*', '2', '2', '2', '50%'])
  assert.deepEqual([byRoute['/tagged/:id']![1], byRoute['/tagged/:id']![3], byRoute['/tagged/:id']![4], byRoute['/tagged/:id']![6]], ['2', '1', '2', '33.3%'])
  assert.match(byRoute['/*']![7]!, /^\d+ ms$/, 'mean miss time measured')
  assert.match(byRoute['/*']![8]!, /^\d+ ms$/, 'time saved estimated')
  const stats = (await app.inject('/fancy-cache/api/stats')).json()
  const tagged = stats.routes.find((r: { route: string }) => r.route === '/tagged/:id')
  assert.deepEqual({ entries: tagged.entries, hits: tagged.hits, misses: tagged.misses }, { entries: 2, hits: 1, misses: 2 })
  assert.equal(stats.requests.hit, 3)
  assert.equal(stats.totals.entries, 4)
  assert.equal(stats.health.type, 'memory')
})

test('the tags page lists tags with their entries; Purge removes them, Refresh marks them stale', async () => {
  const { app, runs } = await adminApp()
  await warm(app, ['/tagged/1', '/tagged/2', '/tagged/2', '/plain'])
  const html = await page(app, '/fancy-cache/tags')
  assert.deepEqual(cells(html, 'tags').map((r) => r.slice(0, 2)).sort(), [['item:1', '1'], ['item:2', '1']])
  const token = csrfOf(html)
  const purged = await postForm(app, '/fancy-cache/purge', { _csrf: token, action: 'tag', tag: 'item:1', soft: '0' }, SAME_ORIGIN)
  assert.equal(purged.statusCode, 303)
  assert.match(purged.headers.location as string, /^\/fancy-cache\/tags\?flash=/)
  assert.equal(flashOf(await page(app, purged.headers.location as string)), 'Purged 1 entry tagged item:1')
  assert.match((await app.inject('/tagged/1')).headers['cache-status'] as string, /fwd=miss/)
  const refreshed = await postForm(app, '/fancy-cache/purge', { _csrf: token, action: 'tag', tag: 'item:2', soft: '1' }, SAME_ORIGIN)
  assert.equal(flashOf(await page(app, refreshed.headers.location as string)), 'Refreshed 1 entry tagged item:2')
  // Soft: the old page is still answered at once, while the handler runs once more to regenerate it.
  const stale = await app.inject('/tagged/2')
  assert.equal(stale.body, 'tagged /tagged/2 run 1')
  await eventually(() => runs('/tagged/2') === 2)
})

test('each row and the search have Refresh beside Purge: the entry stays listed and is regenerated', async () => {
  const { app, runs } = await adminApp()
  await warm(app, ['/a', '/b'])
  const html = await page(app)
  assert.match(html, /aria-label="Refresh \/a"/)
  const key = keysOf(html)[urlsOf(html).indexOf('/a')]!
  const response = await postForm(app, '/fancy-cache/purge', { _csrf: csrfOf(html), action: 'key', key, url: '/a', soft: '1' }, SAME_ORIGIN)
  const after = await page(app, response.headers.location as string)
  assert.equal(flashOf(after), 'Refreshed /a')
  assert.equal((await app.inject('/a')).body, 'page /a run 1', 'served stale at once')
  await eventually(() => runs('/a') === 2)
  const search = await page(app, '/fancy-cache?q=%2F*')
  assert.match(search, /<button type="submit" name="soft" value="1"[^>]*>Refresh matching<\/button>/)
  const asked = await postForm(app, '/fancy-cache/purge', { _csrf: csrfOf(search), action: 'matching', q: '/*', soft: '1' }, SAME_ORIGIN)
  assert.match(asked.body, /<h1>Refresh 2 entries\?<\/h1>/)
  assert.match(asked.body, /name="soft" value="1"/)
})

test('the entry view: variants, stored headers, tags, size, times and stats; a purged key is a 404 page', async () => {
  const { app } = await adminApp()
  await warm(app, ['/tagged/7', '/tagged/7'])
  const listing = await page(app)
  const key = keysOf(listing)[0]!
  assert.match(listing, new RegExp(`<a href="/fancy-cache/entry\\?key=${encodeURIComponent(key)}">/tagged/7</a>`))
  const html = await page(app, `/fancy-cache/entry?key=${encodeURIComponent(key)}`)
  assert.match(html, /<title>fancy-cache · entry<\/title>/)
  assert.match(html, /<dt>URL<\/dt><dd><code>\/tagged\/7<\/code><\/dd>/)
  assert.match(html, /<code class="tag">item:7<\/code>/)
  assert.match(html, /<dt>Stats<\/dt><dd>1 hit, 1 miss \(50%\)<\/dd>/)
  assert.match(html, /Variant 1: <code>\(the only variant: no Vary\)<\/code>/)
  assert.match(html, /<dt>Status<\/dt><dd>200 · fresh<\/dd>/)
  assert.match(html, /<td><code>content-type<\/code><\/td><td class="value"><code>text\/plain; charset=utf-8<\/code><\/td>/)
  assert.match(html, /<dt>Fresh until<\/dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in (9|10) min\)<\/dd>/)
  await app.fancyCache.purgeKey(key)
  const gone = await app.inject(`/fancy-cache/entry?key=${encodeURIComponent(key)}`)
  assert.equal(gone.statusCode, 404)
  assert.match(gone.headers['content-type'] as string, /text\/html/)
  assert.match(gone.body, /<h1>404 Not Found<\/h1>\s*<p>nothing is cached under key/)
  assert.equal((await app.inject('/fancy-cache/entry')).statusCode, 400)
})

test('every purge is logged with the client address and what was purged', async () => {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(JSON.parse(String(chunk))); done() } })
  const { app } = await adminApp({}, { logger: { level: 'info', stream } })
  await warm(app, ['/a', '/tagged/1'])
  const html = await page(app)
  const key = keysOf(html)[urlsOf(html).indexOf('/a')]!
  await postForm(app, '/fancy-cache/purge', { _csrf: csrfOf(html), action: 'key', key, url: '/a' }, SAME_ORIGIN)
  await app.inject({ method: 'POST', url: '/fancy-cache/api/purge', remoteAddress: '::1', payload: { tags: ['item:1'], soft: true } })
  const purges = lines.filter((l) => l.msg === 'fancy-cache admin: purge')
  assert.deepEqual(purges.map((l) => [l.client, l.purge, l.purged]), [
    ['127.0.0.1', { kind: 'key', soft: false, key }, 1],
    ['::1', { kind: 'tags', soft: true, tags: ['item:1'] }, 1]
  ])
})

test('the routes page puts each remembered URL under the route the router would pick', async () => {
  const { app } = await adminApp()
  app.get('/docs/about', { config: { fancyCache: true } }, async () => 'about')
  app.get('/docs/:page', { config: { fancyCache: true } }, async () => 'page')
  app.get('/n/:id(^\\d+$)', { config: { fancyCache: true } }, async () => 'number')
  app.get('/files/*', { config: { fancyCache: true } }, async () => 'file')
  await warm(app, ['/docs/about', '/docs/intro', '/docs/faq?x=1', '/n/42', '/n/abc', '/files/a/b.txt', '/other'])
  const rows = cells(await page(app, '/fancy-cache/routes'), 'routes')
  const entries = Object.fromEntries(rows.map((r) => [r[0], r[1]]))
  assert.deepEqual(entries, {
    '/docs/about': '1', '/docs/:page': '2', '/n/:id(^\\d+$)': '1', '/files/*': '1', '/tagged/:id': '0', '/*': '2'
  })
})
