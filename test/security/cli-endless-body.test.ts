import assert from 'node:assert/strict'
import { test } from 'node:test'
import { cli, fakeServer } from '../helpers/cli.ts'

test('a --server that streams an endless body is cut off at the byte limit, not buffered', async () => {
  const chunk = Buffer.alloc(64 * 1024, 'a')
  const server = await fakeServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' })
    const pump = () => { while (response.write(chunk)); }
    response.on('drain', pump)
    pump()
  })
  try {
    const run = await cli('urls', '--server', server.origin, '--timeout', '60000')
    assert.equal(run.code, 1)
    assert.match(run.stderr, /answered more than 16777216 bytes, more than a page may have; stopped/)
    assert.equal(run.stdout, '')
  } finally {
    await server.close()
  }
})

test('a declared Content-Length over the limit is refused before reading', async () => {
  const server = await fakeServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 ** 31) })
    response.write('{"cursor":null,')
  })
  try {
    const run = await cli('stats', '--server', server.origin)
    assert.equal(run.code, 1)
    assert.match(run.stderr, /answered 2147483648 bytes, more than the 16777216 a page may have/)
  } finally {
    await server.close()
  }
})

test('--timeout covers the whole exchange: a body that trickles forever times out', async () => {
  const server = await fakeServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' })
    response.write('{"urls":[')
    const timer = setInterval(() => response.write(' '), 50)
    response.on('close', () => clearInterval(timer))
  })
  try {
    const run = await cli('urls', '--server', server.origin, '--timeout', '500')
    assert.equal(run.code, 1)
    assert.match(run.stderr, /did not finish answering: timed out after 500 ms/)
  } finally {
    await server.close()
  }
})
