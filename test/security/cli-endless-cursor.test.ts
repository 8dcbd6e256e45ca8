import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cli, fakeServer } from '../helpers/cli.ts'

test('a --server whose cursor never ends is stopped after a bound, with an error and exit 1', async () => {
  let pages = 0
  const server = await fakeServer((_request, response) => {
    pages++
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ cursor: `c${pages}`, urls: [], totals: { entries: 1 } }))
  })
  try {
    const run = await cli('urls', '--server', server.origin)
    assert.equal(run.code, 1)
    assert.match(run.stderr, /api\/urls: still not finished after 1000 pages; stopped/)
    assert.equal(pages, 1000)
  } finally {
    await server.close()
  }
})

test('a cursor handed back unchanged stops at once', async () => {
  const server = await fakeServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ cursor: 'same', urls: [{ url: '/x', key: 'k', hits: 1, misses: 1 }], tags: [] }))
  })
  try {
    const urls = await cli('urls', '--server', server.origin)
    assert.equal(urls.code, 1)
    assert.match(urls.stderr, /the cursor did not advance \("same"\); stopped/)
    assert.equal(urls.stdout.trimEnd().split('\n').length, 2, 'the two pages read are printed once each')
    const tags = await cli('tags', '--server', server.origin)
    assert.equal(tags.code, 1)
    assert.match(tags.stderr, /api\/tags: the cursor did not advance/)
  } finally {
    await server.close()
  }
})
