#!/usr/bin/env node
/**
 * `fancy-cache urls`: the counterpart of django-fancy-cache's `manage.py fancy-urls`. Lists (and with --purge,
 * purges) remembered URLs, straight from the Redis store or through a running app's admin JSON API; `stats` and
 * `tags` show the totals, the routes and the tags.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { compilePattern } from '../lib/patterns.ts'
import { packageRoot } from '../lib/package-root.cts'
import { bytes, jsonLine, printable, ratio, table, tagLine, urlLine } from './print.ts'
import { TargetError, UsageError, causeOf, redisSource, serverSource, type Source, type StatsReport } from './sources.ts'
import { DEFAULT_NAMESPACE } from '../lib/defaults.ts'

const USAGE = `Usage: fancy-cache urls [patterns...] [--purge] [--json] (--redis URL [--namespace NS] | --server URL)
       fancy-cache stats [--json] (--redis URL [--namespace NS] | --server URL)
       fancy-cache tags [tags...] [--purge] [--json] (--redis URL [--namespace NS] | --server URL)

urls lists the remembered URLs that are cached, with their hits and misses, one per line:
  /page5.html                               HITS 62      MISSES 5
stats prints the store's totals and, with --server, each route's entries, hits, misses and time saved.
tags lists the tags in use with how many entries carry each; with --purge, purges the tags listed.

Patterns are findUrls patterns: * matches any run of characters, the whole URL (or tag) must match, several
patterns are OR'd, none lists everything. Quote them so the shell does not expand the *.

Where to look (exactly one):
  --redis URL          the Redis the app's store uses, e.g. redis://127.0.0.1:6379/0
  --namespace NS       with --redis: the plugin's namespace option (default fancy-cache)
  --server URL         a running app's admin page, e.g. http://127.0.0.1:3000/fancy-cache
                       (a bare origin means the default prefix /fancy-cache)
  --header "N: V"      with --server: send this header (repeatable), e.g. for your admin.authorize check

Options:
  --purge              purge every URL (or tag) listed (every variant of each)
  --json               one JSON object per line (urls: url, key, hits, misses, bytes, storedAt, expiresAt)
  --timeout MS         give up on a target that does not answer, each exchange in full, after MS ms (default 5000)
  -v, --version        print the version
  -h, --help           show this help

Exit status: 0 done, 1 the target failed or could not be reached, 2 bad arguments.

Examples:
  fancy-cache urls --server http://127.0.0.1:3000
  fancy-cache urls '/blog/*' --purge --redis redis://127.0.0.1:6379 --namespace my-app
  fancy-cache urls '/posts/*?page=*' --json --server https://example.com/fancy-cache -H 'Authorization: Bearer s3cret'
  fancy-cache stats --server http://127.0.0.1:3000
  fancy-cache tags 'post:*' --purge --server http://127.0.0.1:3000
`

const COMMANDS = ['urls', 'stats', 'tags']

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
  version: boolean
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
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false }
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
    help: values.help,
    version: values.version
  }
}

function check (options: Options): void {
  if (options.command === undefined) throw new UsageError('missing command: fancy-cache urls|stats|tags ...')
  if (!COMMANDS.includes(options.command)) {
    throw new UsageError(`unknown command ${JSON.stringify(options.command)}: the commands are urls, stats and tags`)
  }
  if ((options.redis === undefined) === (options.server === undefined)) {
    throw new UsageError('give exactly one of --redis URL or --server URL')
  }
  if (options.namespace !== undefined && options.redis === undefined) throw new UsageError('--namespace goes with --redis')
  if (options.namespace !== undefined && !/^[^{}\s]{1,100}$/.test(options.namespace)) {
    throw new UsageError(`--namespace must be 1-100 characters without braces or spaces, as the plugin's option (got ${JSON.stringify(options.namespace)})`)
  }
  if (options.header.length > 0 && options.server === undefined) throw new UsageError('--header goes with --server')
  if (options.command === 'stats' && (options.patterns.length > 0 || options.purge)) throw new UsageError('stats takes no patterns and no --purge')
  if (options.command === 'tags' && options.purge && options.patterns.length === 0) {
    throw new UsageError('tags --purge needs the tags to purge (patterns such as \'post:*\' work)')
  }
}

function nothingFound (options: Options, source: Source, what: string): string {
  // The most common reason for an empty answer from Redis: the app sets another namespace.
  const hint = options.redis !== undefined && options.namespace === undefined
    ? ` (looked in namespace ${DEFAULT_NAMESPACE}: if the app sets the namespace option, pass --namespace)`
    : source.namespace !== undefined ? ` (namespace ${source.namespace})` : ''
  return `No ${what}${hint}.\n`
}

async function urls (options: Options, source: Source): Promise<void> {
  let listed = 0
  for await (const rows of source.urls(options.patterns, options.purge)) {
    listed += rows.length
    if (rows.length > 0) await write(rows.map((row) => options.json ? jsonLine(row) : urlLine(row)).join('\n') + '\n')
  }
  const out = options.json ? process.stderr : process.stdout
  if (options.purge) out.write(`Purged ${source.purged} ${source.purged === 1 ? 'entry' : 'entries'}\n`)
  else if (listed === 0) process.stderr.write(nothingFound(options, source, 'cached URL matches'))
}

async function tags (options: Options, source: Source): Promise<void> {
  const matchers = options.patterns.map(compilePattern)
  const listed: string[] = []
  for await (const page of source.tags()) {
    const rows = matchers.length === 0 ? page : page.filter((t) => matchers.some((match) => match(t.tag)))
    listed.push(...rows.map((t) => t.tag))
    if (rows.length > 0) await write(rows.map((t) => options.json ? jsonLine(t) : tagLine(t)).join('\n') + '\n')
  }
  const out = options.json ? process.stderr : process.stdout
  if (listed.length === 0) process.stderr.write(nothingFound(options, source, 'tag matches'))
  if (options.purge) {
    const purged = listed.length === 0 ? 0 : await source.purgeTags(listed)
    out.write(`Purged ${purged} ${purged === 1 ? 'entry' : 'entries'} (${listed.length} ${listed.length === 1 ? 'tag' : 'tags'})\n`)
  }
}

function statsText (report: StatsReport): string {
  const t = report.totals
  let text = `Entries ${t.entries}  Stored ${bytes(t.bytes)}  Hits ${t.hits}  Misses ${t.misses}  Hit ratio ${ratio(t.hits, t.misses)}` +
    '  (entries now; hits and misses since the last clear)\n'
  if (report.routes === undefined) return text + 'Per-route counts come from the app: use --server for them.\n'
  text += `\nPer route, counted by the app since ${report.since ?? 'it started'}:\n`
  if (report.routes.length === 0) return text + '  no cacheable route yet\n'
  const rows = report.routes.map((r) => [
    printable(r.route), String(r.entries), bytes(r.bytes), String(r.hits), String(r.misses), ratio(r.hits, r.misses),
    r.savedMs === null ? '-' : `${(r.savedMs / 1000).toFixed(1)} s`
  ])
  return text + table(['ROUTE', 'ENTRIES', 'BYTES', 'HITS', 'MISSES', 'RATIO', 'SAVED (EST.)'], rows)
}

async function stats (options: Options, source: Source): Promise<void> {
  const report = await source.stats()
  if (report.totals === undefined || typeof report.totals.entries !== 'number') throw new TargetError('the target did not answer stats')
  await write(options.json ? jsonLine(report) + '\n' : statsText(report))
  if (options.redis !== undefined && options.namespace === undefined && report.totals.entries === 0) {
    process.stderr.write(nothingFound(options, source, 'entry is cached'))
  }
}

function version (): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version
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
    if (options.version) {
      await write(`${version()}\n`)
      return 0
    }
    check(options)
    source = options.redis !== undefined
      ? await redisSource(options.redis, options.namespace ?? DEFAULT_NAMESPACE, options.timeout)
      : serverSource(options.server!, options.header, options.timeout)
    if (options.command === 'urls') await urls(options, source)
    else if (options.command === 'tags') await tags(options, source)
    else await stats(options, source)
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`fancy-cache: ${err.message}\nRun fancy-cache --help for usage.\n`)
      return 2
    }
    process.stderr.write(`fancy-cache: ${printable(err instanceof TargetError ? err.message : causeOf(err))}\n`)
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
