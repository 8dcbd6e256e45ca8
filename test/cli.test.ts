import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { adminApp } from './helpers/admin-page.ts'
import { RedisServer } from './helpers/redis-server.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface Run { code: number, stdout: string, stderr: string }

/** Run the command line as a user would, in a subprocess (the test process serves the app meanwhile). */
function cli (...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'bin/fancy-cache.ts', ...args], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

async function listening (app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

/** A port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

let app: FastifyInstance
let origin: string
let runs: (name: string) => number

before(async () => {
  const cached = await adminApp()
  app = cached.app
  runs = cached.runs
  origin = await listening(app)
})
after(() => app.close())

async function warm (...urls: string[]) {
  await app.fancyCache.clear()
  for (const url of urls) await app.inject(url)
}

test('--help prints the usage with examples and exits 0', async () => {
  const run = await cli('--help')
  assert.equal(run.code, 0)
  assert.match(run.stdout, /^Usage: fancy-cache urls \[patterns\.\.\.\] \[--purge\] \[--json\] \(--redis URL \[--namespace NS\] \| --server URL\)/)
  assert.match(run.stdout, /Examples:/)
  assert.equal((await cli('urls', '-h')).code, 0)
})

test('bad arguments: a clear message, a pointer to --help and exit 2', async () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /missing command/],
    [['list', '--server', origin], /unknown command "list"/],
    [['urls'], /exactly one of --redis URL or --server URL/],
    [['urls', '--server', origin, '--redis', 'redis://127.0.0.1:1'], /exactly one of/],
    [['urls', '--bogus'], /Unknown option '--bogus'/],
    [['urls', '--server'], /argument missing/],
    [['urls', '--server', 'not a url'], /--server must be a URL/],
    [['urls', '--server', 'ftp://example.com'], /http or https/],
    [['urls', '--redis', 'http://127.0.0.1:1'], /--redis must be a redis:\/\//],
    [['urls', '--server', origin, '--namespace', 'x'], /--namespace goes with --redis/],
    [['urls', '--redis', 'redis://127.0.0.1:1', '--namespace', 'a b'], /--namespace must be 1-100 characters/],
    [['urls', '--redis', 'redis://127.0.0.1:1', '--namespace', ''], /--namespace must be 1-100 characters/],
    [['urls', '--redis', 'redis://127.0.0.1:1', '--header', 'a: b'], /--header goes with --server/],
    [['urls', '--server', origin, '--header', 'nocolon'], /--header must look like "Name: value"/],
    [['urls', '--server', origin, '--timeout', 'soon'], /--timeout must be a whole number/]
  ]
  for (const [args, message] of cases) {
    const run = await cli(...args)
    assert.equal(run.code, 2, args.join(' '))
    assert.match(run.stderr, message, args.join(' '))
    assert.match(run.stderr, /Run fancy-cache --help for usage/)
    assert.equal(run.stdout, '')
  }
})

test('--server lists one row per URL: URL  HITS n  MISSES n, like manage.py fancy-urls', async () => {
  await warm('/page5.html', '/page5.html', '/page5.html', '/page4.html')
  const run = await cli('urls', '--server', `${origin}/fancy-cache`)
  assert.equal(run.code, 0, run.stderr)
  const lines = run.stdout.trimEnd().split('\n').sort()
  assert.equal(lines.length, 2)
  assert.match(lines[0]!, /^\/page4\.html\s+HITS 0\s+MISSES 1$/)
  assert.match(lines[1]!, /^\/page5\.html\s+HITS 2\s+MISSES 1$/)
  // A bare origin means the default prefix.
  assert.deepEqual((await cli('urls', '--server', origin)).stdout, run.stdout)
})

test('--server with patterns lists only the matching URLs; no match says so on stderr', async () => {
  await warm('/blog/1', '/blog/2?page=2', '/about')
  const run = await cli('urls', '/blog/*', '/nothing', '--server', origin)
  assert.equal(run.code, 0, run.stderr)
  assert.deepEqual(run.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/)[0]).sort(), ['/blog/1', '/blog/2?page=2'])
  const none = await cli('urls', '/nope*', '--server', origin)
  assert.equal(none.code, 0)
  assert.equal(none.stdout, '')
  assert.match(none.stderr, /No cached URL matches/)
})

test('--json prints one JSON object per URL and line', async () => {
  await warm('/a', '/a', '/b')
  const run = await cli('urls', '--json', '--server', origin)
  assert.equal(run.code, 0, run.stderr)
  const rows = run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line)).sort((x, y) => x.url < y.url ? -1 : 1)
  assert.deepEqual(rows.map((r) => [r.url, r.hits, r.misses]), [['/a', 1, 1], ['/b', 0, 1]])
  assert.deepEqual(Object.keys(rows[0]), ['url', 'key', 'hits', 'misses', 'bytes', 'storedAt', 'expiresAt'])
})

test('--purge lists and purges the matching URLs; the next request to them runs the handler', async () => {
  await warm('/blog/1', '/blog/2', '/about')
  const before = runs('/blog/1')
  const run = await cli('urls', '/blog/*', '--purge', '--server', origin)
  assert.equal(run.code, 0, run.stderr)
  assert.match(run.stdout, /^\/blog\/1\s+HITS/m)
  assert.match(run.stdout, /^Purged 2 entries$/m)
  assert.match((await app.inject('/blog/1')).headers['cache-status'] as string, /fwd=miss/)
  assert.equal(runs('/blog/1'), before + 1)
  const left = await cli('urls', '--server', origin)
  assert.deepEqual(left.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/)[0]).sort(), ['/about', '/blog/1'])
  const json = await cli('urls', '--purge', '--json', '--server', origin)
  assert.equal(json.code, 0)
  assert.equal(json.stdout.trimEnd().split('\n').length, 2, 'stdout keeps only the JSON rows')
  assert.match(json.stderr, /Purged 2 entries/)
  assert.equal((await app.fancyCache.stats()).entries, 0)
})

test('--server walks every page of a large listing', async () => {
  await app.fancyCache.clear()
  for (let i = 0; i < 1200; i++) await app.inject(`/many/${i}`)
  const run = await cli('urls', '/many/*', '--json', '--server', origin)
  assert.equal(run.code, 0, run.stderr)
  const urls = run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line).url)
  assert.equal(urls.length, 1200)
  assert.equal(new Set(urls).size, 1200)
})

test('unreachable targets: a clear error and exit 1', async () => {
  const port = await closedPort()
  const server = await cli('urls', '--server', `http://127.0.0.1:${port}`)
  assert.equal(server.code, 1)
  assert.match(server.stderr, new RegExp(`cannot reach http://127.0.0.1:${port}/fancy-cache: .*ECONNREFUSED`))
  const redis = await cli('urls', '--redis', `redis://127.0.0.1:${port}`)
  assert.equal(redis.code, 1)
  assert.match(redis.stderr, new RegExp(`cannot reach Redis at redis://127.0.0.1:${port}: connect ECONNREFUSED`))
})

test('a server that accepts but never answers times out after --timeout', async () => {
  const sockets = new Set<Socket>()
  const silent = createServer((socket) => sockets.add(socket))
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  const { port } = silent.address() as AddressInfo
  try {
    const started = Date.now()
    const run = await cli('urls', '--server', `http://127.0.0.1:${port}`, '--timeout', '500')
    assert.equal(run.code, 1)
    assert.match(run.stderr, /cannot reach .*: timed out/)
    assert.ok(Date.now() - started < 10_000)
  } finally {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
  }
})

test('a URL that is not an admin API, or one that refuses us: exit 1 with the status and a hint', async () => {
  const notAdmin = await cli('urls', '--server', `${origin}/not-admin`)
  assert.equal(notAdmin.code, 1)
  assert.match(notAdmin.stderr, /did not answer JSON|answered 404/)
  const guarded = await adminApp({ admin: { authorize: (request) => request.headers.authorization === 'Bearer s3cret' } })
  const guardedOrigin = await listening(guarded.app)
  try {
    await guarded.app.inject('/x')
    const refused = await cli('urls', '--server', guardedOrigin)
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /answered 403: not authorized/)
    const allowed = await cli('urls', '--server', guardedOrigin, '-H', 'Authorization: Bearer s3cret')
    assert.equal(allowed.code, 0, allowed.stderr)
    assert.match(allowed.stdout, /^\/x\s+HITS 0\s+MISSES 1$/m)
  } finally {
    await guarded.app.close()
  }
})

test('--redis reads the Redis store directly: rows, patterns, --json, --namespace and --purge', async () => {
  const redis = await RedisServer.start()
  const client = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  const onRedis = await adminApp({ store: 'redis', redis: client, namespace: 'cli-test' })
  try {
    for (const url of ['/page5.html', '/page5.html', '/page5.html', '/page4.html', '/blog/1', '/blog/2']) {
      await onRedis.app.inject(url)
    }
    const target = ['--redis', redis.url, '--namespace', 'cli-test']
    const all = await cli('urls', ...target)
    assert.equal(all.code, 0, all.stderr)
    const lines = all.stdout.trimEnd().split('\n').sort()
    assert.equal(lines.length, 4)
    assert.match(lines.find((l) => l.startsWith('/page5.html'))!, /^\/page5\.html\s+HITS 2\s+MISSES 1$/)
    assert.match(lines.find((l) => l.startsWith('/page4.html'))!, /^\/page4\.html\s+HITS 0\s+MISSES 1$/)

    const json = await cli('urls', '/page*', '--json', ...target)
    assert.deepEqual(json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l).url).sort(), ['/page4.html', '/page5.html'])

    const otherNamespace = await cli('urls', '--redis', redis.url)
    assert.equal(otherNamespace.stdout, '', 'the default namespace holds nothing')
    assert.match(otherNamespace.stderr, /looked in namespace fancy-cache: if the app sets the namespace option, pass --namespace/)
    const stats = await cli('stats', ...target)
    assert.match(stats.stdout, /^Entries 4 {2}Stored .* {2}Hits 2 {2}Misses 4 {2}/m)
    assert.match(stats.stdout, /use --server for them/)
    const tags = await cli('tags', ...target)
    assert.equal(tags.code, 0, tags.stderr)

    const purge = await cli('urls', '/blog/*', '--purge', ...target)
    assert.equal(purge.code, 0, purge.stderr)
    assert.match(purge.stdout, /^Purged 2 entries$/m)
    assert.match((await onRedis.app.inject('/blog/1')).headers['cache-status'] as string, /fwd=miss/)
    assert.match((await onRedis.app.inject('/page4.html')).headers['cache-status'] as string, /hit/)
  } finally {
    await onRedis.app.close()
    client.disconnect()
    await redis.stop()
  }
})

test('--version prints the package version and exits 0', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  for (const flag of ['--version', '-v']) {
    const run = await cli(flag)
    assert.equal(run.code, 0)
    assert.equal(run.stdout, `${version}\n`)
  }
})

test('stats --server prints the totals and one line per route; --json the same as one object', async () => {
  await warm('/s/1', '/s/1', '/s/2', '/tagged/1')
  const run = await cli('stats', '--server', origin)
  assert.equal(run.code, 0, run.stderr)
  assert.match(run.stdout, /^Entries 3 {2}Stored \d+(\.\d)? (B|KiB) {2}Hits 1 {2}Misses 3 {2}Hit ratio 25% {2}\(entries now; hits and misses since the last clear\)$/m)
  assert.match(run.stdout, /^ROUTE\s+ENTRIES\s+BYTES\s+HITS\s+MISSES\s+RATIO\s+SAVED \(EST\.\)$/m)
  assert.match(run.stdout, /^\/tagged\/:id\s+1\s+[\d.]+ (B|KiB)\s+0\s+1\s+0%\s+/m)
  assert.match(run.stdout, /^\/\*\s+2\s+/m, 'the catch-all route keeps /s/1 and /s/2')
  const json = await cli('stats', '--json', '--server', origin)
  const report = JSON.parse(json.stdout)
  assert.deepEqual({ entries: report.totals.entries, hits: report.totals.hits, misses: report.totals.misses }, { entries: 3, hits: 1, misses: 3 })
  const catchAll = report.routes.find((r: { route: string }) => r.route === '/*')
  assert.equal(catchAll.entries, 2)
  assert.ok(catchAll.hits >= 1)
  assert.match(report.since, /^\d{4}-\d\d-\d\dT/)
})

test('tags --server lists each tag with its entries; with patterns and --purge it purges those tags', async () => {
  await warm('/tagged/1', '/tagged/2', '/tagged/3', '/untagged')
  const run = await cli('tags', '--server', origin)
  assert.equal(run.code, 0, run.stderr)
  assert.deepEqual(run.stdout.trimEnd().split('\n').sort(), ['item:1', 'item:2', 'item:3'].map((t) => `${t.padEnd(40)}  ENTRIES 1`))
  const json = await cli('tags', 'item:1', '--json', '--server', origin)
  assert.deepEqual(JSON.parse(json.stdout), { tag: 'item:1', keys: 1 })
  const purge = await cli('tags', 'item:[12]', 'item:1', 'item:2', '--purge', '--server', origin)
  assert.equal(purge.code, 0, purge.stderr)
  assert.match(purge.stdout, /^Purged 2 entries \(2 tags\)$/m)
  assert.match((await app.inject('/tagged/1')).headers['cache-status'] as string, /fwd=miss/)
  assert.match((await app.inject('/tagged/3')).headers['cache-status'] as string, /hit/)
  const none = await cli('tags', 'nothing:*', '--server', origin)
  assert.match(none.stderr, /^No tag matches\.$/m)
  const bad = await cli('tags', '--purge', '--server', origin)
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /tags --purge needs the tags to purge/)
})
