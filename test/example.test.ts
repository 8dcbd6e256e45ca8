import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildApp } from '../example/app.ts'

test('example blog: a visitor name cookie does not bypass the cache, and each visitor sees their own name', async () => {
  const app = await buildApp()
  await app.inject('/posts/1')
  const ann = await app.inject({ url: '/posts/1', headers: { cookie: 'name=Ann' } })
  assert.match(String(ann.headers['cache-status']), /hit/)
  assert.match(ann.body, /Hello, Ann!/)
  const stranger = await app.inject('/posts/1')
  assert.match(stranger.body, /Hello, stranger!/)
  await app.close()
})

test('example blog: posting a comment purges the post (invalidateOnWrite) and the lists that show it (its tag)', async () => {
  const app = await buildApp()
  await app.inject('/posts/2')
  await app.inject('/')
  assert.match(String((await app.inject('/')).headers['cache-status']), /hit/)
  const posted = await app.inject({
    method: 'POST',
    url: '/posts/2/comments',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'author=Bo&text=Nice+post'
  })
  assert.equal(posted.statusCode, 303)
  const post = await app.inject('/posts/2')
  assert.match(post.body, /Nice post/)
  const list = await app.inject('/')
  assert.doesNotMatch(String(list.headers['cache-status']), /hit/)
  assert.match(list.body, /Post number 2<\/a> \(1 comments\)/)
  await app.close()
})
