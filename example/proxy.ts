// The plugin as a caching reverse proxy in front of any origin, so that an HTTP cache test client can drive it:
//   ORIGIN=http://127.0.0.1:8000 PORT=8080 node --import tsx example/proxy.ts
// GET and HEAD go through the cache (`freshness: 'headers'`: the origin's Cache-Control decides); every other
// method is forwarded uncached. FRESHNESS=route runs the plugin's default mode instead.
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import fancyCache, { type FancyCacheOptions } from '../index.ts'

// Connection-scoped fields (RFC 9110 §7.6.1): a proxy never forwards them, in either direction.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'])
// Methods other than GET and HEAD the proxy forwards, uncached (M-SEARCH: so that invalidation by any unsafe method
// can be observed).
const OTHER_METHODS = ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'M-SEARCH']
// Every final status a response may be stored with when its headers give it freshness; 206 and 304 never are.
const STORABLE_STATUSES = Array.from({ length: 400 }, (_, i) => 200 + i).filter((s) => s !== 206 && s !== 304)

/** What the origin answered, with its header lines in order (repeated fields kept apart). */
interface OriginResponse {
  status: number
  headers: Map<string, string[]>
  body: Buffer
}

/** Names a message declares connection-scoped in its own Connection field, plus the standard ones. */
function connectionScoped (connection: string | string[] | undefined): Set<string> {
  const names = new Set(HOP_BY_HOP)
  for (const line of [connection ?? []].flat()) for (const name of line.split(',')) names.add(name.trim().toLowerCase())
  return names
}

function requestHeaders (headers: IncomingHttpHeaders, origin: URL): Record<string, string | string[]> {
  const skip = connectionScoped(headers.connection)
  const forwarded: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !skip.has(name) && name !== 'host') forwarded[name] = value
  }
  forwarded.host = origin.host
  return forwarded
}

function responseHeaders (message: IncomingMessage): Map<string, string[]> {
  const raw = message.rawHeaders
  const lines = new Map<string, string[]>()
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    const values = lines.get(name)
    if (values === undefined) lines.set(name, [raw[i + 1]!])
    else values.push(raw[i + 1]!)
  }
  for (const name of connectionScoped(lines.get('connection'))) lines.delete(name)
  return lines
}

/** One request to the origin; interim responses (102, 103) are passed straight on to the client. */
function toOrigin (url: URL, request: FastifyRequest, reply: FastifyReply): Promise<OriginResponse> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const outgoing = send(url, { method: request.method, headers: requestHeaders(request.headers, url) }, (message) => {
      const chunks: Buffer[] = []
      message.on('data', (chunk: Buffer) => chunks.push(chunk))
      message.on('end', () => resolve({ status: message.statusCode ?? 502, headers: responseHeaders(message), body: Buffer.concat(chunks) }))
      message.on('error', reject)
    })
    outgoing.on('information', (info) => {
      if (info.statusCode === 102) reply.raw.writeProcessing()
      else if (info.statusCode === 103) reply.raw.writeEarlyHints(info.headers as Record<string, string | string[]>)
    })
    outgoing.on('error', reject)
    const body = request.body
    outgoing.end(Buffer.isBuffer(body) ? body : undefined)
  })
}

/** Build the proxy app; `origin` is the base URL every request is forwarded to. */
export async function buildProxy (origin: string, cache: FancyCacheOptions = {}) {
  const app = Fastify({ logger: { level: 'warn' } })
  app.addHttpMethod('M-SEARCH', { hasBody: true })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))
  await app.register(fancyCache, cache)

  async function forward (request: FastifyRequest, reply: FastifyReply) {
    let answer: OriginResponse
    try {
      answer = await toOrigin(new URL(request.url, origin), request, reply)
    } catch {
      return reply.code(502).type('text/plain').send('Bad Gateway: the origin did not answer')
    }
    // A status Node cannot send (the origin may use any three digits) is the origin's fault, as for a bad gateway.
    if (answer.status < 200 || answer.status > 599) return reply.code(502).type('text/plain').send('Bad Gateway')
    reply.code(answer.status)
    for (const [name, values] of answer.headers) {
      // Fastify sets the length of what it sends; a HEAD keeps the origin's, since nothing is sent.
      if (name === 'content-length' && request.method !== 'HEAD') continue
      reply.header(name, values.length === 1 ? values[0] : values)
    }
    return reply.send(request.method === 'HEAD' ? undefined : answer.body)
  }

  app.route({ method: ['GET', 'HEAD'], url: '/*', config: { fancyCache: true }, handler: forward })
  app.route({ method: OTHER_METHODS, url: '/*', handler: forward })
  return app
}

/** The cache options of each mode: in 'headers' mode responses without freshness of their own are not stored. */
export function proxyCacheOptions (freshness: 'route' | 'headers'): FancyCacheOptions {
  if (freshness === 'route') return { freshness }
  return { freshness, ttl: 0, statusCodes: STORABLE_STATUSES, bypassCookies: [], staleIfError: 60, invalidateOnWrite: true }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const origin = process.env.ORIGIN ?? process.argv[2]
  if (origin === undefined) {
    console.error('usage: ORIGIN=http://host:port [PORT=8080] [FRESHNESS=headers|route] node --import tsx example/proxy.ts')
    process.exit(2)
  }
  const freshness = process.env.FRESHNESS === 'route' ? 'route' : 'headers'
  const app = await buildProxy(origin, proxyCacheOptions(freshness))
  const port = Number(process.env.PORT ?? 8080)
  await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' })
  console.log(`caching proxy (freshness: ${freshness}) on http://127.0.0.1:${port}/ in front of ${origin}`)
}
