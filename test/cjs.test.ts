import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

// The build and the consumers are not this suite's code: keep them out of its coverage data (empty, not removed:
// Node copies a missing NODE_V8_COVERAGE into a child's environment).
const env = { ...process.env, NODE_V8_COVERAGE: '' }

function run (command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${command} ${args.join(' ')} failed: ${String(err)}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

// A CommonJS project with the package installed from the tarball `npm pack` makes (its prepack script builds
// dist/), so what is tested is what gets published.
let consumer: string
before(async () => {
  consumer = mkdtempSync(join(tmpdir(), 'fancy-cache-cjs-'))
  await run('npm', ['pack', '--silent', '--pack-destination', consumer], ROOT)
  const tarball = readdirSync(consumer).find((name) => name.endsWith('.tgz'))
  assert.ok(tarball !== undefined, 'npm pack wrote a tarball')
  const installed = join(consumer, 'node_modules', 'fastify-fancy-cache')
  mkdirSync(installed, { recursive: true })
  await run('tar', ['-xzf', join(consumer, tarball), '-C', installed, '--strip-components=1'], consumer)
  // Only what the published package.json declares, so a runtime import of a dev dependency fails here as it would
  // for a user. Each link resolves to this repository's copy, whose own dependencies resolve from there.
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  for (const name of [...Object.keys(manifest.dependencies), 'fastify']) {
    mkdirSync(dirname(join(consumer, 'node_modules', name)), { recursive: true })
    symlinkSync(join(ROOT, 'node_modules', name), join(consumer, 'node_modules', name), 'dir')
  }
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'commonjs' }))
})
after(() => { if (consumer !== undefined) rmSync(consumer, { recursive: true, force: true }) })

/** Run a CommonJS script in the consumer project and parse the JSON it prints. */
async function inConsumer (source: string): Promise<Record<string, unknown>> {
  writeFileSync(join(consumer, 'main.js'), source)
  return JSON.parse(await run(process.execPath, ['main.js'], consumer))
}

test('require() loads the CommonJS build, registers on a Fastify app and serves a cache hit and the admin page', async () => {
  const result = await inConsumer(`
    const Fastify = require('fastify')
    const fancyCache = require('fastify-fancy-cache')
    const { fancyCache: named, MemoryStore } = require('fastify-fancy-cache')
    async function main () {
      const app = Fastify()
      let runs = 0
      await app.register(fancyCache, { store: new MemoryStore({ maxEntries: 10 }), rememberAllUrls: true, admin: true })
      app.get('/page', { config: { fancyCache: 60 } }, async () => 'page ' + ++runs)
      const first = await app.inject('/page')
      const second = await app.inject('/page')
      const urls = []
      for await (const { url } of app.fancyCache.findUrls()) urls.push(url)
      const admin = await app.inject('/fancy-cache')
      await app.close()
      console.log(JSON.stringify({
        resolved: require.resolve('fastify-fancy-cache').slice(${JSON.stringify(consumer.length)}),
        sameExport: named === fancyCache.default,
        first: first.headers['cache-status'],
        second: second.headers['cache-status'],
        body: second.body,
        runs,
        urls,
        admin: admin.statusCode,
        adminListsPage: admin.body.includes('/page')
      }))
    }
    main().catch((err) => { console.error(err); process.exit(1) })
  `)
  assert.deepEqual(result, {
    resolved: '/node_modules/fastify-fancy-cache/dist/cjs/index.js',
    sameExport: true,
    first: 'fancy-cache; fwd=miss; stored',
    second: result.second,
    body: 'page 1',
    runs: 1,
    urls: ['/page'],
    admin: 200,
    adminListsPage: true
  })
  assert.match(String(result.second), /^fancy-cache; hit; ttl=\d+$/)
})

test('CommonJS users get coded errors they can test with instanceof', async () => {
  const result = await inConsumer(`
    const Fastify = require('fastify')
    const { fancyCache, FancyCacheError, errorCodes } = require('fastify-fancy-cache')
    const app = Fastify()
    app.register(fancyCache, { ttl: 'long' })
    app.ready().then(() => process.exit(1), (err) => {
      console.log(JSON.stringify({
        code: err.code,
        statusCode: err.statusCode,
        message: err.message,
        isFancy: err instanceof FancyCacheError,
        isInvalidOption: err instanceof errorCodes.FANCY_CACHE_ERR_INVALID_OPTION
      }))
    })
  `)
  assert.deepEqual(result, {
    code: 'FANCY_CACHE_ERR_INVALID_OPTION',
    statusCode: 500,
    message: 'fastify-fancy-cache: ttl: a whole number of seconds >= 0 (got "long")',
    isFancy: true,
    isInvalidOption: true
  })
})

test('the conformance suite and the package.json can be required too', async () => {
  const result = await inConsumer(`
    const { storeConformance } = require('fastify-fancy-cache/conformance')
    const { version } = require('fastify-fancy-cache/package.json')
    console.log(JSON.stringify({ conformance: typeof storeConformance, version }))
  `)
  assert.equal(result.conformance, 'function')
  assert.equal(result.version, JSON.parse(await run(process.execPath, ['-p', 'JSON.stringify(require("./package.json").version)'], ROOT)))
})

test('the same tarball imports as ESM, with its admin page, and its command line runs', async () => {
  writeFileSync(join(consumer, 'main.mjs'), `
    import Fastify from 'fastify'
    import fancyCache, { MemoryStore } from 'fastify-fancy-cache'
    const app = Fastify()
    await app.register(fancyCache, { admin: true })
    app.get('/page', { config: { fancyCache: true } }, async () => 'page')
    await app.inject('/page')
    const hit = await app.inject('/page')
    const admin = await app.inject('/fancy-cache')
    await app.close()
    console.log(JSON.stringify({ status: hit.headers['cache-status'], store: typeof MemoryStore, admin: admin.statusCode }))
  `)
  const result = JSON.parse(await run(process.execPath, ['main.mjs'], consumer))
  assert.match(result.status, /^fancy-cache; hit; /)
  assert.equal(result.store, 'function')
  assert.equal(result.admin, 200)
  const help = await run(process.execPath, [join(consumer, 'node_modules', 'fastify-fancy-cache', 'dist', 'bin', 'fancy-cache.js'), '--help'], consumer)
  assert.match(help, /Usage: fancy-cache urls/)
})
