import assert from 'node:assert/strict'
import { test } from 'node:test'
import { byteRange, ifRangeMatches } from '../lib/http/range.ts'

test('a single byte range is a 206 with its Content-Range, clipped to the body', () => {
  assert.deepEqual(byteRange('bytes=0-1', 10), { status: 206, start: 0, end: 1, contentRange: 'bytes 0-1/10' })
  assert.deepEqual(byteRange('bytes=4-', 10), { status: 206, start: 4, end: 9, contentRange: 'bytes 4-9/10' })
  assert.deepEqual(byteRange('bytes=5-100', 10), { status: 206, start: 5, end: 9, contentRange: 'bytes 5-9/10' })
  assert.deepEqual(byteRange('BYTES = 2-3', 10), { status: 206, start: 2, end: 3, contentRange: 'bytes 2-3/10' })
})

test('a suffix range counts from the end; longer than the body, it is the whole body', () => {
  assert.deepEqual(byteRange('bytes=-1', 10), { status: 206, start: 9, end: 9, contentRange: 'bytes 9-9/10' })
  assert.deepEqual(byteRange('bytes=-50', 10), { status: 206, start: 0, end: 9, contentRange: 'bytes 0-9/10' })
})

test('a range past the end, or an empty suffix, is a 416 naming the size', () => {
  assert.deepEqual(byteRange('bytes=10-20', 10), { status: 416, contentRange: 'bytes */10' })
  assert.deepEqual(byteRange('bytes=-0', 10), { status: 416, contentRange: 'bytes */10' })
  assert.deepEqual(byteRange('bytes=0-', 0), { status: 416, contentRange: 'bytes */0' })
})

test('several ranges, another unit and malformed ranges get the whole body', () => {
  for (const range of ['bytes=0-1,3-4', 'items=0-1', 'bytes=5-2', 'bytes=a-b', 'bytes=-', 'bytes=', 'bytes']) {
    assert.deepEqual(byteRange(range, 10), { status: 200 }, range)
  }
})

test('If-Range: a strong ETag must match exactly, a weak one never does, a date must equal Last-Modified', () => {
  const lastModified = 'Wed, 01 Jan 2020 00:00:00 GMT'
  assert.equal(ifRangeMatches('"v1"', '"v1"', undefined), true)
  assert.equal(ifRangeMatches('"v2"', '"v1"', undefined), false)
  assert.equal(ifRangeMatches('W/"v1"', 'W/"v1"', undefined), false)
  assert.equal(ifRangeMatches('"v1"', 'W/"v1"', undefined), false)
  assert.equal(ifRangeMatches(lastModified, '"v1"', lastModified), true)
  assert.equal(ifRangeMatches('Thu, 02 Jan 2020 00:00:00 GMT', '"v1"', lastModified), false)
  assert.equal(ifRangeMatches(lastModified, '"v1"', undefined), false)
})
