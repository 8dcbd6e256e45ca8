import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import formbody from '@fastify/formbody'
import fancyCache, { type FancyCacheOptions } from '../index.ts'

/**
 * A small blog: posts with comments, kept in memory, each page slow to build. It shows the recipes: a keyPrefix on
 * the latest comment, onlyGetKeys on the paginated list, a per-visitor name filled in after the cache (its cookie
 * listed in ignoreCookies, so it does not bypass), tags set by the handler from what it read, purge on writes (the
 * comment form's POST purges its post), and a purge by tag for the lists.
 */
interface Comment { author: string, text: string, at: number }
interface Post { id: number, title: string, body: string, comments: Comment[] }

const PER_PAGE = 5
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const slow = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function layout (title: string, content: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head><body>
<header>Hello, *VISITOR*! · <a href="/">Posts</a> · <a href="/fancy-cache">Cache admin</a></header>
<main><h1>${escape(title)}</h1>${content}</main></body></html>`
}

export async function buildApp (options: { fastify?: FastifyServerOptions, cache?: FancyCacheOptions } = {}): Promise<FastifyInstance> {
  const app = Fastify(options.fastify)
  const posts: Post[] = Array.from({ length: 12 }, (_, i) => ({
    id: i + 1,
    title: `Post number ${i + 1}`,
    body: `This is the text of post ${i + 1}. Building this page takes a while.`,
    comments: []
  }))
  const postById = (id: unknown) => posts.find((p) => String(p.id) === String(id))

  await app.register(fancyCache, {
    rememberAllUrls: true,
    rememberStatsAllUrls: true,
    admin: true,
    // The visitor's display name is filled in after the cache: that cookie must not make requests bypass it.
    ignoreCookies: ['name'],
    // A comment's POST answers 303 to its post: that purges the post's cached page, with no code.
    invalidateOnWrite: true,
    ...options.cache
  })
  await app.register(formbody)

  // The visitor's name comes from a cookie and is filled in on every response, hit or miss, so one cached page
  // serves every visitor (the seed's "post process the response on every request" recipe).
  interface PostRoute { Params: { id: string } }
  const visitorName = (cookie: string | undefined) => {
    const match = /(?:^|;\s*)name=([^;]*)/.exec(cookie ?? '')
    return match === null ? 'stranger' : decodeURIComponent(match[1]!)
  }
  const fillVisitor = (body: string | Buffer, request: { headers: { cookie?: string } }) =>
    body.toString().replace('*VISITOR*', escape(visitorName(request.headers.cookie)))

  app.get<{ Querystring: { page?: string } }>('/', {
    config: { fancyCache: { ttl: 3600, onlyGetKeys: ['page'], postProcessResponseAlways: fillVisitor } }
  }, async (request, reply) => {
    await slow(50)
    const page = Math.max(1, Number(request.query.page) || 1)
    const shown = posts.slice((page - 1) * PER_PAGE, page * PER_PAGE)
    // Tag the list with the posts it shows, so a change to any of them purges it (see the comment route).
    reply.fancyCache.tag(...shown.map((p) => `post:${p.id}`))
    const items = shown.map((p) => `<li><a href="/posts/${p.id}">${escape(p.title)}</a> (${p.comments.length} comments)</li>`)
    const next = page * PER_PAGE < posts.length ? `<a href="/?page=${page + 1}">Next page</a>` : ''
    reply.type('text/html; charset=utf-8')
    return layout(`Posts, page ${page}`, `<ul>${items.join('')}</ul>${next}`)
  })

  app.get<PostRoute>('/posts/:id', {
    config: {
      fancyCache: {
        ttl: 3600,
        // The seed's first recipe: a new comment changes the prefix, so the page is rebuilt at once.
        keyPrefix: (request) => {
          const post = postById(request.params.id)
          const latest = post?.comments.at(-1)
          return latest === undefined ? 'no-comments' : String(latest.at)
        },
        tags: (request) => [`post:${request.params.id}`],
        postProcessResponseAlways: fillVisitor
      }
    }
  }, async (request, reply) => {
    await slow(50)
    const post = postById(request.params.id)
    if (post === undefined) return reply.code(404).type('text/html; charset=utf-8').send(layout('Not found', ''))
    const comments = post.comments.map((c) => `<li><b>${escape(c.author)}</b>: ${escape(c.text)}</li>`).join('')
    reply.type('text/html; charset=utf-8')
    return layout(post.title, `<p>${escape(post.body)}</p><h2>Comments</h2><ul>${comments}</ul>
<form method="post" action="/posts/${post.id}/comments"><input name="author" placeholder="name">
<input name="text" placeholder="comment"><button>Add comment</button></form>`)
  })

  app.post<PostRoute & { Body: { author?: string, text?: string } | undefined }>('/posts/:id/comments', async (request, reply) => {
    const post = postById(request.params.id)
    if (post === undefined) return reply.code(404).send({ error: 'no such post' })
    const { author = 'anonymous', text = '' } = request.body ?? {}
    post.comments.push({ author: String(author).slice(0, 100), text: String(text).slice(0, 2000), at: Date.now() })
    // invalidateOnWrite purges /posts/:id itself (the 303's Location); the lists showing its comment count carry
    // the post's tag, set by their handler.
    await app.fancyCache.purgeTags(`post:${post.id}`)
    return reply.redirect(`/posts/${post.id}`, 303)
  })

  return app
}
