import { buildApp } from './app.ts'

const port = Number(process.env.PORT ?? 3000)
const app = await buildApp({ fastify: { logger: { level: 'warn' } } })
await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' })
console.log(`fastify-fancy-cache example blog on http://127.0.0.1:${port}/ (store: memory, admin: http://127.0.0.1:${port}/fancy-cache)`)
