import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseAge, parseCacheControl, parseHttpDate, parseTargeted } from '../lib/http/cache-control.ts'
import { initialAge, responseFreshness, targetedForbidsStoring, type FreshnessInput } from '../lib/http/freshness.ts'
import { requestAccepts, requestDirectives } from '../lib/http/request-directives.ts'
import { conditionalHeaders, freshenHeaders, notModifiedSince } from '../lib/http/validation.ts'

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0)
const date = (offsetSeconds: number) => new Date(NOW + offsetSeconds * 1000).toUTCString()

function freshness (headers: FreshnessInput['headers'], more: Partial<FreshnessInput> = {}) {
  return responseFreshness({
    status: 200,
    headers,
    now: NOW,
    requestHadAuthorization: false,
    route: { ttl: 0, staleWhileRevalidate: 0, staleIfError: 0 },
    ...more
  })
}

test('Cache-Control: names are case-insensitive, the first of a repeated directive wins, lines join', () => {
  const directives = parseCacheControl(['Max-Age=60, PUBLIC', 'max-age=1'])
  assert.equal(directives.get('max-age'), '60')
  assert.equal(directives.get('public'), true)
})

test('Cache-Control: a comma or a directive inside a quoted string does not count', () => {
  assert.equal(freshness({ 'cache-control': 'extension="max-age=3600", max-age=1' }).freshMs, 1000)
  assert.equal(freshness({ 'cache-control': 'max-age=1, extension="max-age=3600"' }).freshMs, 1000)
  assert.equal(parseCacheControl('no-cache="set-cookie, x", max-age=5').get('no-cache'), 'set-cookie, x')
})

test('max-age: leading zeros and a quoted value are read, a negative or single-quoted one means stale at once', () => {
  assert.equal(freshness({ 'cache-control': 'max-age=003600' }).freshMs, 3600_000)
  assert.equal(freshness({ 'cache-control': 'max-age="60"' }).freshMs, 60_000)
  for (const bad of ['max-age=-1', "max-age='3600'", 'max-age=1.5']) {
    const result = freshness({ 'cache-control': bad })
    assert.equal(result.freshMs, 0, bad)
    assert.equal(result.store, false, `${bad}: stale and no validator, not worth storing`)
  }
  assert.equal(freshness({ 'cache-control': 'max-age=99999999999' }).freshMs, 2147483648_000)
})

test('s-maxage wins over max-age for a shared cache, and max-age over Expires', () => {
  assert.equal(freshness({ 'cache-control': 'max-age=1, s-maxage=3600' }).freshMs, 3600_000)
  assert.equal(freshness({ 'cache-control': 's-maxage=1, max-age=3600' }).freshMs, 1000)
  assert.equal(freshness({ 'cache-control': 'max-age=10', expires: date(3600), date: date(0) }).freshMs, 10_000)
})

test('Expires − Date is the lifetime; an invalid Expires is in the past', () => {
  assert.equal(freshness({ expires: date(100), date: date(0) }).freshMs, 100_000)
  // A Date in the past is apparent age: what is left is Expires − now.
  assert.equal(freshness({ expires: date(100), date: date(-50) }).freshMs, 100_000)
  assert.equal(freshness({ expires: '0', date: date(0) }).store, false)
  assert.equal(freshness({ expires: 'Thu, 18 Aug 2050 02:01:18 UTC' }).freshMs, 0)
})

test('HTTP dates: the three formats, names in any case; other zones, 2-digit IMF years, 1-digit hours are invalid', () => {
  const expected = Date.UTC(2050, 7, 18, 2, 1, 18)
  assert.equal(parseHttpDate('Thu, 18 Aug 2050 02:01:18 GMT'), expected)
  assert.equal(parseHttpDate('THU, 18 AUG 2050 02:01:18 gmt'), expected)
  assert.equal(parseHttpDate('Thursday, 18-Aug-50 02:01:18 GMT', NOW), expected)
  assert.equal(parseHttpDate('Thu Aug 18 02:01:18 2050'), expected)
  assert.equal(parseHttpDate('Mon Aug  8 02:01:18 2050'), Date.UTC(2050, 7, 8, 2, 1, 18))
  for (const bad of ['Thu, 18 Aug 2050 02:01:18 AEST', 'Thu, 18 Aug 50 02:01:18 GMT', 'Thu 18 Aug 2050 02:01:18 GMT',
    'Thu, 18  Aug  2050 02:01:18 GMT', 'Thu, 18-Aug-2050 02:01:18 GMT', 'Thu, 18 Aug 2050 02.01.18 GMT',
    'Thu, 18 Aug 2050 2:01:18 GMT', '0']) {
    assert.equal(parseHttpDate(bad), undefined, bad)
  }
  assert.equal(parseHttpDate(['Thu, 18 Aug 2050 02:01:18 GMT', 'Thu, 18 Aug 2050 02:01:19 GMT']), undefined)
})

test('Age: the first line, its first member, digits only', () => {
  assert.equal(parseAge('7200, 0'), 7200)
  assert.equal(parseAge(['0', '7200']), 0)
  assert.equal(parseAge('7200.0'), undefined)
  assert.equal(parseAge('-7200'), undefined)
  assert.equal(parseAge('abc'), undefined)
  assert.equal(parseAge('2147483649'), 2147483648)
})

test('the response\'s own Age and an old Date count against its freshness', () => {
  assert.equal(freshness({ 'cache-control': 'max-age=3600', age: '600' }).freshMs, 3000_000)
  assert.equal(freshness({ 'cache-control': 'max-age=3600', age: '600' }).initialAgeSeconds, 600)
  assert.equal(freshness({ 'cache-control': 'max-age=3600', age: '7200' }).store, false)
  assert.equal(initialAge({ date: date(-30) }, NOW), 30)
  // Time spent waiting for the response counts too (response_delay).
  assert.equal(initialAge({ age: '10' }, NOW, NOW - 2000), 12)
})

test('no-store and private are never stored; must-understand overrides no-store for a status this cache knows', () => {
  assert.equal(freshness({ 'cache-control': 'max-age=60, no-store' }).store, false)
  assert.equal(freshness({ 'cache-control': 'max-age=60, PRIVATE' }).store, false)
  assert.equal(freshness({ 'cache-control': 'max-age=60, no-store, must-understand' }).store, true)
  assert.equal(freshness({ 'cache-control': 'max-age=60, no-store, must-understand' }, { status: 599 }).store, false)
})

test('a request with Authorization is only stored with public, s-maxage or must-revalidate', () => {
  const auth = { requestHadAuthorization: true }
  assert.equal(freshness({ 'cache-control': 'max-age=60' }, auth).store, false)
  for (const allowed of ['public, max-age=60', 's-maxage=60', 'max-age=60, must-revalidate']) {
    assert.equal(freshness({ 'cache-control': allowed }, auth).store, true, allowed)
  }
})

test('no-cache: stored only with a validator, stale at once, never served stale', () => {
  assert.equal(freshness({ 'cache-control': 'no-cache, max-age=60' }).store, false)
  const result = freshness({ 'cache-control': 'no-cache', etag: '"v1"' }, {
    route: { ttl: 0, staleWhileRevalidate: 30, staleIfError: 30 }
  })
  assert.deepEqual([result.store, result.freshMs, result.mustRevalidate, result.staleIfErrorMs], [true, 0, true, 0])
})

test('stale windows: the response\'s directives, else the route\'s; none with must-revalidate, proxy-revalidate or s-maxage', () => {
  const route = { ttl: 0, staleWhileRevalidate: 5, staleIfError: 7 }
  const own = freshness({ 'cache-control': 'max-age=1, stale-while-revalidate=60, stale-if-error=120' }, { route })
  assert.deepEqual([own.staleWhileRevalidateMs, own.staleIfErrorMs], [60_000, 120_000])
  const routes = freshness({ 'cache-control': 'max-age=1' }, { route })
  assert.deepEqual([routes.staleWhileRevalidateMs, routes.staleIfErrorMs], [5000, 7000])
  for (const cc of ['max-age=1, must-revalidate, stale-if-error=60', 'max-age=1, proxy-revalidate', 's-maxage=1']) {
    const strict = freshness({ 'cache-control': cc }, { route })
    assert.deepEqual([strict.mustRevalidate, strict.staleWhileRevalidateMs, strict.staleIfErrorMs], [true, 0, 0], cc)
  }
})

test('the route ttl is the freshness of responses that carry none; 0 means those are not stored', () => {
  assert.equal(freshness({}).store, false)
  const withTtl = freshness({}, { route: { ttl: 60, staleWhileRevalidate: 0, staleIfError: 0 } })
  assert.deepEqual([withTtl.store, withTtl.freshMs], [true, 60_000])
  // Explicit freshness wins over the ttl, shorter or longer.
  assert.equal(freshness({ 'cache-control': 'max-age=5' }, { route: { ttl: 60, staleWhileRevalidate: 0, staleIfError: 0 } }).freshMs, 5000)
})

test('targeted fields: Fancy-Cache-Control first, then CDN-Cache-Control, replacing Cache-Control and Expires', () => {
  assert.equal(freshness({ 'cdn-cache-control': 'max-age=600', 'cache-control': 'no-store' }).freshMs, 600_000)
  assert.equal(freshness({ 'cdn-cache-control': 'max-age=1', 'cache-control': 'max-age=3600' }).freshMs, 1000)
  assert.equal(freshness({ 'cdn-cache-control': 'max-age=60', expires: date(-10000), date: date(0) }).freshMs, 60_000)
  assert.equal(freshness({ 'fancy-cache-control': 'max-age=5', 'cdn-cache-control': 'max-age=600' }).freshMs, 5000)
  for (const never of ['private', 'no-store', 'no-cache']) {
    const headers = { 'cdn-cache-control': never, 'cache-control': 'max-age=10000', etag: '"x"' }
    assert.equal(freshness(headers).store, false, never)
    assert.equal(targetedForbidsStoring(headers), true, never)
    assert.equal(targetedForbidsStoring({ 'fancy-cache-control': never }), true, never)
  }
  assert.equal(targetedForbidsStoring({ 'cache-control': 'no-store' }), false)
})

test('an invalid targeted field is ignored as a whole (Structured Field syntax, integer arguments)', () => {
  assert.equal(parseTargeted('max-age=10000, &&&&&'), undefined)
  assert.equal(parseTargeted('max-age="10000"'), undefined)
  assert.equal(parseTargeted('MaX-aGe=10'), undefined)
  assert.deepEqual([...parseTargeted('foobar, max-age=3600;x=1, private=?0')!], [['foobar', true], ['max-age', '3600']])
  assert.equal(freshness({ 'cdn-cache-control': 'max-age=10000, &&&&&', 'cache-control': 'no-store' }).store, false)
})

test('request directives: max-age, min-fresh, max-stale, no-cache; must-revalidate forbids max-stale', () => {
  const stored = { ageSeconds: 50, lifetimeSeconds: 100, mustRevalidate: false }
  const accepts = (cc: string, s = stored) => requestAccepts(s, requestDirectives(cc)!)
  assert.equal(requestDirectives('nothing-to-see-here'), undefined)
  assert.equal(accepts('max-age=60'), true)
  assert.equal(accepts('max-age=40'), false)
  assert.equal(accepts('min-fresh=40'), true)
  assert.equal(accepts('min-fresh=60'), false)
  assert.equal(accepts('no-cache'), false)
  const stale = { ageSeconds: 130, lifetimeSeconds: 100, mustRevalidate: false }
  assert.equal(accepts('max-stale=60', stale), true)
  assert.equal(accepts('max-stale=10', stale), false)
  assert.equal(accepts('max-stale', stale), true)
  assert.equal(accepts('max-stale', { ...stale, mustRevalidate: true }), false)
  assert.deepEqual([requestDirectives('no-store')!.noStore, requestDirectives('only-if-cached')!.onlyIfCached], [true, true])
})

test('revalidation asks with the origin\'s ETag and Last-Modified; a 304 replaces headers but not Content-Length', () => {
  const stored = { 'last-modified': date(-3600), 'content-type': 'text/plain', 'x-a': '1', 'content-length': '36' }
  assert.deepEqual(conditionalHeaders(stored, '"v1"'), { 'if-none-match': '"v1"', 'if-modified-since': date(-3600) })
  assert.deepEqual(conditionalHeaders({}, undefined), {})
  const fresh = freshenHeaders(stored, { 'x-a': '2', 'cache-control': 'max-age=60', 'content-length': '10', 'set-cookie': 'a=b' })
  assert.deepEqual(fresh, { ...stored, 'x-a': '2', 'cache-control': 'max-age=60' })
})

test('If-Modified-Since: a stored Last-Modified not later than the date is not modified', () => {
  assert.equal(notModifiedSince(date(0), date(-10)), true)
  assert.equal(notModifiedSince(date(-10), date(-10)), true)
  assert.equal(notModifiedSince(date(-20), date(-10)), false)
  assert.equal(notModifiedSince('yesterday', date(-10)), false)
  assert.equal(notModifiedSince(date(0), undefined), false)
})

test('no-cache and private with field names: stored and reused without those fields', () => {
  const result = freshness({ 'cache-control': ['no-cache="a, B"', 'max-age=3600'] })
  assert.deepEqual([result.store, result.freshMs, result.mustRevalidate, result.omit], [true, 3600_000, false, ['a', 'b']])
  assert.deepEqual(freshness({ 'cache-control': 'private="x-user", max-age=60' }).omit, ['x-user'])
  assert.equal(freshness({ 'cdn-cache-control': 'private="x-user"', 'cache-control': 'max-age=60' }).store, false)
})
