#!/usr/bin/env node
/**
 * `fancy-cache urls`: the counterpart of django-fancy-cache's `manage.py fancy-urls`. Lists (and with --purge,
 * purges) remembered URLs, straight from the Redis store or through a running app's admin JSON API.
 */
import { parseArgs } from 'node:util'
import { urlRow, type UrlRow } from '../lib/urls.ts'

const USAGE = `Usage: fancy-cache urls [patterns...] [--purge] [--json] (--redis URL [--namespace NS] | --server URL)

List the remembered URLs that are cached, with their hits and misses, one per line:
  /page5.html                               HITS 62      MISSES 5

Patterns are findUrls patterns: * matches any run of characters, the whole URL must match, several patterns are
OR'd, none lists every URL. Quote them so the shell does not expand the *.

Where to look (exactly one):
  --redis URL          the Redis the app's store uses, e.g. redis://127.0.0.1:6379/0
  --namespace NS       with --redis: the plugin's namespace option (default fancy-cache)
  --server URL         a running app's admin page, e.g. http://127.0.0.1:3000/fancy-cache
                       (a bare origin means the default prefix /fancy-cache)
  --header "N: V"      with --server: send this header (repeatable), e.g. for your admin.authorize check

Options:
  --purge              purge every URL listed (every variant of each)
  --json               one JSON object per line: url, key, hits, misses, bytes, storedAt, expiresAt
  --timeout MS         give up on an unreachable target after MS milliseconds (default 5000)
  -h, --help           show this help

Exit status: 0 done, 1 the target failed or could not be reached, 2 bad arguments.

Examples:
  fancy-cache urls --server http://127.0.0.1:3000
  fancy-cache urls '/blog/*' --purge --redis redis://127.0.0.1:6379 --namespace my-app
  fancy-cache urls '/posts/*?page=*' --json --server https://example.com/fancy-cache -H 'Authorization: Bearer s3cret'
`

/** A row as printed. */
type Row = UrlRow

/** Where the rows come from. */
interface Source {
  /** Matching rows, page by page; with `purge`, each page is purged once listed. */
  pages (patterns: string[], purge: boolean): AsyncIterable<Row[]>
  /** Entries purged so far. */
  purged: number
  close (): Promise<void>
}

/** A bad command line: exit status 2. */
class UsageError extends Error {}
/** The target failed or could not be reached: exit status 1. */
class TargetError extends Error {}

const PAGE = 500

function causeOf (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  if (err.name === 'TimeoutError') return 'timed out'
  const cause = (err as Error & { cause?: unknown }).cause
  return cause instanceof Error ? cause.message : err.message
}

async function redisSource (url: string, namespace: string, timeout: number): Promise<Source> {
  if (!/^rediss?:\/\//.test(url)) throw new UsageError(`--redis must be a redis:// or rediss:// URL (got ${JSON.stringify(url)})`)
  const [{ Redis }, { RedisStore }, { createApi }] = await Promise.all([
    import('ioredis'), import('../lib/stores/redis/store.ts'), import('../lib/urls.ts')
  ])
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeout,
    commandTimeout: timeout,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null
  })
  // The connect promise only says "Connection is closed"; the error event says why (ECONNREFUSED, ETIMEDOUT...).
  let reason: unknown
  client.on('error', (err) => { reason ??= err })
  try {
    await client.connect()
  } catch (err) {
    client.disconnect()
    throw new TargetError(`cannot reach Redis at ${url}: ${causeOf(reason ?? err)}`)
  }
  const api = createApi(new RedisStore({ client, namespace }))
  const source: Source = {
    purged: 0,
    async * pages (patterns, purge) {
      let cursor = '0'
      do {
        const page = await api.scanUrls({ urls: patterns, cursor, count: PAGE })
        if (purge) {
          for (const entry of page.entries) if (await api.purgeKey(entry.key)) source.purged++
        }
        yield page.entries.map(urlRow)
        cursor = page.cursor
      } while (cursor !== '0')
    },
    async close () {
      await client.quit().catch(() => client.disconnect())
    }
  }
  return source
}

function adminBase (server: string): URL {
  let url: URL
  try {
    url = new URL(server)
  } catch {
    throw new UsageError(`--server must be a URL such as http://127.0.0.1:3000/fancy-cache (got ${JSON.stringify(server)})`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--server must be an http or https URL (got ${server})`)
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/fancy-cache'
  url.pathname = url.pathname.replace(/\/+$/, '')
  url.search = ''
  url.hash = ''
  return url
}

function headersOf (values: string[]): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const value of values) {
    const colon = value.indexOf(':')
    if (colon < 1) throw new UsageError(`--header must look like "Name: value" (got ${JSON.stringify(value)})`)
    headers[value.slice(0, colon).trim().toLowerCase()] = value.slice(colon + 1).trim()
  }
  return headers
}

function serverSource (server: string, headerValues: string[], timeout: number): Source {
  const base = adminBase(server)
  const headers = headersOf(headerValues)

  async function call<T> (path: string, init: { method?: string, body?: string } = {}): Promise<T> {
    const url = `${base.href}${path}`
    let response: Response
    try {
      response = await fetch(url, {
        method: init.method ?? 'GET',
        body: init.body,
        headers: init.body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(timeout)
      })
    } catch (err) {
      throw new TargetError(`cannot reach ${base.href}: ${causeOf(err)}`)
    }
    const text = await response.text().catch(() => '')
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined
    }
    if (!response.ok) {
      const message = (body as { message?: unknown } | undefined)?.message
      const hint = response.status === 404
        ? ` (is ${base.href} the admin page's URL, and is the admin option on?)`
        : response.status === 403 ? ' (without admin.authorize only clients on the same machine get in; see --header)' : ''
      throw new TargetError(`${url} answered ${response.status}${typeof message === 'string' ? `: ${message}` : ''}${hint}`)
    }
    if (body === undefined) throw new TargetError(`${url} did not answer JSON: is ${base.href} a fancy-cache admin page?`)
    return body as T
  }

  const source: Source = {
    purged: 0,
    async * pages (patterns, purge) {
      let cursor: string | null = null
      do {
        const query = new URLSearchParams({ limit: String(PAGE) })
        for (const pattern of patterns) query.append('q', pattern)
        if (cursor !== null) query.set('cursor', cursor)
        const page: { cursor: string | null, urls: Row[] } = await call(`/api/urls?${query}`)
        yield page.urls
        cursor = page.cursor
      } while (cursor !== null)
      if (purge) {
        const answer: { purged: number } = await call('/api/purge', {
          method: 'POST', body: JSON.stringify({ urls: patterns.length === 0 ? ['*'] : patterns })
        })
        source.purged = answer.purged
      }
    },
    async close () {}
  }
  return source
}

function formatRow (row: Row): string {
  const count = (n: number | null) => (n === null ? '-' : String(n)).padEnd(6)
  return `${row.url.padEnd(40)}  HITS ${count(row.hits)}  MISSES ${row.misses === null ? '-' : row.misses}`
}

async function write (text: string): Promise<void> {
  if (!process.stdout.write(text)) await new Promise((resolve) => process.stdout.once('drain', resolve))
}

interface Options {
  command: string | undefined
  patterns: string[]
  purge: boolean
  json: boolean
  redis: string | undefined
  namespace: string | undefined
  server: string | undefined
  header: string[]
  timeout: number
  help: boolean
}

function parse (argv: string[]): Options {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        purge: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        redis: { type: 'string' },
        namespace: { type: 'string' },
        server: { type: 'string' },
        header: { type: 'string', short: 'H', multiple: true, default: [] },
        timeout: { type: 'string', default: '5000' },
        help: { type: 'boolean', short: 'h', default: false }
      }
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  const timeout = Number(values.timeout)
  if (!Number.isInteger(timeout) || timeout < 1) throw new UsageError(`--timeout must be a whole number of milliseconds (got ${values.timeout})`)
  return {
    command: positionals[0],
    patterns: positionals.slice(1),
    purge: values.purge,
    json: values.json,
    redis: values.redis,
    namespace: values.namespace,
    server: values.server,
    header: values.header,
    timeout,
    help: values.help
  }
}

function check (options: Options): void {
  if (options.command === undefined) throw new UsageError('missing command: fancy-cache urls ...')
  if (options.command !== 'urls') throw new UsageError(`unknown command ${JSON.stringify(options.command)}: the command is urls`)
  if ((options.redis === undefined) === (options.server === undefined)) {
    throw new UsageError('give exactly one of --redis URL or --server URL')
  }
  if (options.namespace !== undefined && options.redis === undefined) throw new UsageError('--namespace goes with --redis')
  if (options.namespace !== undefined && !/^[^{}\s]{1,100}$/.test(options.namespace)) {
    throw new UsageError(`--namespace must be 1-100 characters without braces or spaces, as the plugin's option (got ${JSON.stringify(options.namespace)})`)
  }
  if (options.header.length > 0 && options.server === undefined) throw new UsageError('--header goes with --server')
}

/** Run the command line; resolves the exit status. */
async function main (argv: string[]): Promise<number> {
  let source: Source | undefined
  try {
    const options = parse(argv)
    if (options.help) {
      await write(USAGE)
      return 0
    }
    check(options)
    source = options.redis !== undefined
      ? await redisSource(options.redis, options.namespace ?? 'fancy-cache', options.timeout)
      : serverSource(options.server!, options.header, options.timeout)
    let listed = 0
    for await (const rows of source.pages(options.patterns, options.purge)) {
      listed += rows.length
      if (rows.length === 0) continue
      await write(rows.map((row) => options.json ? JSON.stringify(row) : formatRow(row)).join('\n') + '\n')
    }
    const out = options.json ? process.stderr : process.stdout
    if (options.purge) out.write(`Purged ${source.purged} ${source.purged === 1 ? 'entry' : 'entries'}\n`)
    else if (listed === 0) process.stderr.write('No cached URL matches.\n')
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`fancy-cache: ${err.message}\nRun fancy-cache --help for usage.\n`)
      return 2
    }
    process.stderr.write(`fancy-cache: ${err instanceof TargetError ? err.message : causeOf(err)}\n`)
    return 1
  } finally {
    await source?.close()
  }
}

// Piped into `head`: stop quietly once the reader is gone.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})
process.exitCode = await main(process.argv.slice(2))
