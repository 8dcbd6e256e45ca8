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
// The README's picture is refreshed on request (UPDATE_SCREENSHOT=1 npm test); otherwise the run's own goes to tmp,
// so a test run never leaves the work tree changed.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT === '1'
  ? fileURLToPath(new URL('../docs/admin.png', import.meta.url))
  : join(tmpdir(), 'fancy-cache-admin.png')

test('in a real browser: the example app\'s admin page searches, sorts, purges a row, and the next request is a miss', async () => {
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
    await page.screenshot({ path: SCREENSHOT, fullPage: true })

    // Purge all goes through a confirm page, without JavaScript.
    await page.click('a:text("Purge all…")')
    await page.waitForURL(/\/fancy-cache\/confirm$/)
    await page.click('button:text("Yes, purge all")')
    await page.waitForURL(/flash=/)
    assert.match(await page.locator('.flash').textContent() ?? '', /^Purged all \d+ entries/)
    assert.equal(await page.locator('td.url').count(), 0)
    assert.deepEqual(problems, [], 'no console errors or CSP violations')
  } finally {
    await browser.close()
    await app.close()
  }
})
