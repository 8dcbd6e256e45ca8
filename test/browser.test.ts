import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { buildApp } from '../example/app.ts'

const CHROMIUM = '/usr/bin/chromium'
// The pictures in the README and docs/admin.md are refreshed on request (UPDATE_SCREENSHOT=1 npm test); otherwise
// the run's own go to tmp, so a test run never leaves the work tree changed.
const screenshot = (name: string) => process.env.UPDATE_SCREENSHOT === '1'
  ? fileURLToPath(new URL(`../docs/${name}.png`, import.meta.url))
  : join(tmpdir(), `fancy-cache-${name}.png`)

test('in a real browser: the admin page searches, sorts, purges and refreshes rows, and shows entries, routes, tags and the chart', async () => {
  // Fails rather than skips: CI installs Chromium (.ci/run), and a missing browser must not pass silently.
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (the browser test needs it)`)
  const app = await buildApp()
  await app.listen({ port: 0, host: '127.0.0.1' })
  const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run']
  })
  try {
    // Warm the blog: the list pages once, the posts a different number of times so sorting by hits means something.
    const visits: Array<[string, number]> = [
      ['/', 3], ['/?page=2', 1], ['/posts/1', 5], ['/posts/2', 3], ['/posts/3', 1], ['/posts/4', 4], ['/posts/5', 2],
      ['/posts/6', 7], ['/posts/7', 6]
    ]
    const posts = ['/posts/1', '/posts/2', '/posts/3', '/posts/4', '/posts/5', '/posts/6', '/posts/7']
    for (const [url, times] of visits) {
      for (let i = 0; i < times; i++) assert.equal((await fetch(origin + url)).status, 200)
    }

    const page = await browser.newPage({ viewport: { width: 1280, height: 820 } })
    const problems: string[] = []
    page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()) })
    page.on('pageerror', (err) => problems.push(err.message))
    page.on('response', (response) => { if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`) })
    const urls = () => page.locator('td.url').allTextContents()

    await page.goto(`${origin}/fancy-cache`)
    assert.equal(await page.title(), 'fancy-cache · cached URLs')
    assert.deepEqual((await urls()).sort(), ['/', '/?page=2', ...posts])
    assert.equal(await page.locator('.totals div:has(.l:text-is("entries")) .n').textContent(), '9')
    // The stylesheet loaded under the page's CSP.
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(246, 247, 249)')

    await page.fill('#q', '/posts/*')
    await page.click('form.search button[type=submit]')
    await page.waitForURL(/q=%2Fposts%2F\*/)
    assert.deepEqual((await urls()).sort(), posts)

    await page.click('th a:text("Hits")')
    await page.waitForURL(/sort=hits&dir=desc/)
    const byHits = ['/posts/6', '/posts/7', '/posts/1', '/posts/4', '/posts/2', '/posts/5', '/posts/3']
    assert.deepEqual(await urls(), byHits)
    assert.equal(await page.getAttribute('th:has(a:text("Hits"))', 'aria-sort'), 'descending')
    await page.click('th a:text("Hits")')
    await page.waitForURL(/sort=hits&dir=asc/)
    assert.deepEqual(await urls(), [...byHits].reverse())
    await page.click('th a:text("Hits")')
    await page.waitForURL(/sort=hits&dir=desc/)

    await page.click('button[aria-label="Purge /posts/2"]')
    await page.waitForURL(/flash=/)
    assert.equal(await page.locator('.flash').textContent(), 'Purged /posts/2')
    assert.deepEqual(await urls(), byHits.filter((url) => url !== '/posts/2'), 'the row is gone, the search and sort kept')
    assert.equal(await page.inputValue('#q'), '/posts/*')

    const next = await fetch(`${origin}/posts/2`)
    assert.match(next.headers.get('cache-status') ?? '', /fwd=miss/)
    assert.match((await fetch(`${origin}/posts/1`)).headers.get('cache-status') ?? '', /hit/)

    mkdirSync(fileURLToPath(new URL('../docs/', import.meta.url)), { recursive: true })
    // As tall as the content: a short viewport and a full-page shot.
    await page.setViewportSize({ width: 1280, height: 400 })
    await page.screenshot({ path: screenshot('admin'), fullPage: true })
    await page.setViewportSize({ width: 1280, height: 820 })

    // The chart and the store's health sit above the table.
    assert.ok(await page.locator('figure.chart svg rect.hit').count() > 0, 'hits are charted')
    assert.match(await page.locator('section.health').textContent() ?? '', /memory[\s\S]*circuit breaker closed/)

    // Refresh beside Purge: the entry stays listed, marked for regeneration.
    await page.click('button[aria-label="Refresh /posts/4"]')
    await page.waitForURL(/flash=/)
    assert.equal(await page.locator('.flash').textContent(), 'Refreshed /posts/4')
    assert.ok((await urls()).includes('/posts/4'))

    // A URL opens its entry: variants, stored headers, tags.
    await page.click('td.url a:text-is("/posts/6")')
    await page.waitForURL(/\/fancy-cache\/entry\?key=/)
    assert.equal(await page.title(), 'fancy-cache · entry')
    assert.equal(await page.locator('.facts dd code').first().textContent(), '/posts/6')
    assert.equal(await page.locator('code.tag').first().textContent(), 'post:6')
    assert.ok((await page.locator('table.headers td code').allTextContents()).includes('content-type'))
    await page.screenshot({ path: screenshot('admin-entry'), fullPage: true })

    // The routes page: one row per route pattern.
    await page.click('nav.tabs a:text("Routes")')
    await page.waitForURL(/\/fancy-cache\/routes$/)
    const rows: string[][] = await page.locator('table.routes tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())))
    assert.deepEqual(rows.map((r) => r[0]).sort(), ['/', '/posts/:id'])
    const postsRoute = rows.find((r) => r[0] === '/posts/:id')!
    assert.equal(postsRoute[1], '7', 'entries of /posts/:id: seven posts, /posts/2 stored again')
    // 28 visits less 7 misses, then /posts/2 missed again and /posts/1 hit.
    assert.deepEqual([postsRoute[3], postsRoute[4]], ['22', '8'], 'hits and misses of /posts/:id')
    await page.setViewportSize({ width: 1280, height: 300 })
    await page.screenshot({ path: screenshot('admin-routes'), fullPage: true })
    await page.setViewportSize({ width: 1280, height: 820 })

    // The tags page: refresh one tag, purge another.
    await page.click('nav.tabs a:text("Tags")')
    await page.waitForURL(/\/fancy-cache\/tags$/)
    const tags = await page.locator('table.tags td.tag').allTextContents()
    // Each post's tag is on its page and on the list page showing it (posts 1-5 on /, 6-10 on /?page=2).
    assert.deepEqual([...tags].sort(), Array.from({ length: 10 }, (_, i) => `post:${i + 1}`).sort())
    await page.click('button[aria-label="Refresh tag post:1"]')
    await page.waitForURL(/flash=/)
    assert.equal(await page.locator('.flash').textContent(), 'Refreshed 2 entries tagged post:1')
    await page.click('button[aria-label="Purge tag post:3"]')
    await page.waitForURL(/flash=/)
    assert.equal(await page.locator('.flash').textContent(), 'Purged 2 entries tagged post:3')
    assert.ok(!(await page.locator('table.tags td.tag').allTextContents()).includes('post:3'))

    // "Purge matching" asks first when the search matches more than one entry.
    await page.goto(`${origin}/fancy-cache?q=${encodeURIComponent('/posts/*')}`)
    const matching = (await urls()).length
    assert.equal(matching, 6, 'post 3 went with its tag')
    await page.click('button:text("Purge matching")')
    assert.equal(await page.locator('.confirm h1').textContent(), `Purge ${matching} entries?`)
    await page.click(`button:text("Yes, purge ${matching} entries")`)
    await page.waitForURL(/flash=/)
    assert.equal(await page.locator('.flash').textContent(), `Purged ${matching} entries matching /posts/*`)
    assert.equal(await page.locator('td.url').count(), 0)

    // On a 400 px screen every page wraps: nothing wider than the screen but the tables' own scroll boxes.
    await page.setViewportSize({ width: 400, height: 800 })
    for (const path of ['', '/routes', '/tags', '/confirm']) {
      await page.goto(`${origin}/fancy-cache${path}`)
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 400, `${path || '/'} fits 400 px`)
    }
    await page.goto(`${origin}/fancy-cache`)
    await page.screenshot({ path: screenshot('admin-narrow'), fullPage: true })
    await page.setViewportSize({ width: 1280, height: 820 })

    // Purge all goes through a confirm page, without JavaScript.
    await page.click('a:text("Purge all…")')
    await page.waitForURL(/\/fancy-cache\/confirm$/)
    await page.click('button:text("Yes, purge all")')
    await page.waitForURL(/flash=/)
    assert.equal(await page.locator('.flash').textContent(), 'Purged all 1 entry (namespace fancy-cache)', '/?page=2 was left')
    assert.equal(await page.locator('td.url').count(), 0)
    assert.deepEqual(problems, [], 'no console errors or CSP violations')
  } finally {
    await browser.close()
    await app.close()
  }
})
