import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cli, fakeServer } from '../helpers/cli.ts'

// Retitle the terminal, clear the screen, a C1 CSI, and a right-to-left override that reverses what follows.
const HOSTILE = '/a\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202etxt.exe'
const RAW_CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/ // eslint-disable-line no-control-regex

test('URLs, tags and error messages are printed with control characters escaped', async () => {
  const server = await fakeServer((request, response) => {
    response.setHeader('content-type', 'application/json')
    if (request.url!.startsWith('/fancy-cache/api/urls')) {
      response.end(JSON.stringify({ cursor: null, urls: [{ url: HOSTILE, key: 'k', hits: 1, misses: 2 }] }))
    } else if (request.url!.startsWith('/fancy-cache/api/tags')) {
      response.end(JSON.stringify({ cursor: null, tags: [{ tag: HOSTILE, keys: 3 }] }))
    } else {
      response.statusCode = 500
      response.end(JSON.stringify({ message: `broken \u001b[2J${HOSTILE}` }))
    }
  })
  try {
    const urls = await cli('urls', '--server', server.origin)
    assert.equal(urls.code, 0, urls.stderr)
    assert.doesNotMatch(urls.stdout, RAW_CONTROLS)
    assert.match(urls.stdout, /^\/a\\x1b\]0;pwned\\x07\\x1b\[2J\\x9b31m\\u202etxt\.exe\s+HITS 1\s+MISSES 2$/m)
    const json = await cli('urls', '--json', '--server', server.origin)
    assert.doesNotMatch(json.stdout, RAW_CONTROLS)
    assert.equal(JSON.parse(json.stdout).url, HOSTILE, 'the JSON still says exactly what the URL is')
    const tags = await cli('tags', '--server', server.origin)
    assert.doesNotMatch(tags.stdout, RAW_CONTROLS)
    assert.match(tags.stdout, /^\/a\\x1b.*ENTRIES 3$/m)
    const failed = await cli('stats', '--server', server.origin)
    assert.equal(failed.code, 1)
    assert.doesNotMatch(failed.stderr, RAW_CONTROLS)
    assert.match(failed.stderr, /answered 500: broken \\x1b\[2J/)
  } finally {
    await server.close()
  }
})
