import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before } from 'node:test'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'

const run = promisify(execFile)

// Every spawned server, so that a crashed test run still kills them when the process exits.
const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

function portFree (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** A free TCP port on 127.0.0.1 (never 6379); with `bus`, port + 10000 is free too (the Redis Cluster bus). */
export async function freePort (bus = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000)
    if (port === 6379 || port === 16379) continue
    if (await portFree(port) && (!bus || await portFree(port + 10000))) return port
  }
  throw new Error('no free port found')
}

async function redisCli (port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 })
  return stdout.trim()
}

/** A `redis-server` process of this test run: no persistence, on 127.0.0.1, killed by pid. */
export class RedisServer {
  readonly port: number
  readonly #args: string[]
  readonly #dir: string
  #child: ChildProcess | undefined

  private constructor (port: number, args: string[]) {
    this.port = port
    this.#args = args
    this.#dir = mkdtempSync(join(tmpdir(), 'fancy-cache-redis-'))
  }

  /** Spawn a server on a free port (`extra` adds redis-server arguments) and wait until it answers PING. */
  static async start (extra: string[] = [], bus = false): Promise<RedisServer> {
    const server = new RedisServer(await freePort(bus), extra)
    await server.restart()
    return server
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get running (): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
  }

  /** Start (again) on the same port. */
  async restart (): Promise<void> {
    if (this.running) throw new Error(`redis-server on port ${this.port} is already running`)
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', this.#dir, '--protected-mode', 'no', ...this.#args
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    live.add(child)
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { if (output.length < 10_000) output += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { if (output.length < 10_000) output += chunk.toString() })
    const failed = new Promise<never>((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'ENOENT'
          ? new Error('redis-server is not installed: the Redis tests need it (apt-get install redis-server redis-tools)')
          : err)
      })
      child.once('exit', (code) => reject(new Error(`redis-server on port ${this.port} exited (${code}): ${output}`)))
    })
    failed.catch(() => {})
    child.once('exit', () => live.delete(child))
    const deadline = Date.now() + 10_000
    while (!/ready to accept connections/i.test(output)) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not start: ${output}`)
      await Promise.race([sleep(20), failed])
    }
  }

  /** Kill -9, as a crash would; resolves once the process is gone. */
  async kill (): Promise<void> {
    const child = this.#child
    if (child === undefined || !this.running) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    process.kill(child.pid!, 'SIGKILL')
    await exited
  }

  /** Run redis-cli against this server. */
  cli (...args: string[]): Promise<string> {
    return redisCli(this.port, ...args)
  }

  /** Kill the server and remove its directory. */
  async stop (): Promise<void> {
    await this.kill()
    rmSync(this.#dir, { recursive: true, force: true })
  }
}

/** A Redis Cluster of `masters` masters (no replicas), made with `redis-cli --cluster create`. */
export class RedisCluster {
  readonly servers: RedisServer[]

  private constructor (servers: RedisServer[]) {
    this.servers = servers
  }

  static async start (masters = 3): Promise<RedisCluster> {
    const servers: RedisServer[] = []
    const cluster = new RedisCluster(servers)
    try {
      for (let i = 0; i < masters; i++) {
        servers.push(await RedisServer.start(['--cluster-enabled', 'yes', '--cluster-node-timeout', '5000'], true))
      }
      await run('redis-cli', [
        '--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes'
      ], { timeout: 30_000 })
      await cluster.#waitForOk()
    } catch (err) {
      await cluster.stop()
      throw err
    }
    return cluster
  }

  /** Seed nodes for `new Cluster(...)`. */
  get nodes (): { host: string, port: number }[] {
    return this.servers.map((s) => ({ host: '127.0.0.1', port: s.port }))
  }

  async #waitForOk (): Promise<void> {
    const deadline = Date.now() + 20_000
    for (;;) {
      const states = await Promise.all(this.servers.map((s) => s.cli('cluster', 'info')))
      if (states.every((info) => info.includes('cluster_state:ok'))) return
      if (Date.now() > deadline) throw new Error(`the Redis Cluster did not come up: ${states.join('\n')}`)
      await sleep(100)
    }
  }

  async stop (): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()))
  }
}

/**
 * One private redis-server and a client to it for a whole test file: started before its first test, stopped after
 * its last. Read `redis.server` and `redis.client` inside the tests.
 */
export function redisForFile (): { server: RedisServer, client: Redis } {
  const shared = {} as { server: RedisServer, client: Redis }
  before(async () => {
    shared.server = await RedisServer.start()
    shared.client = new Redis({ port: shared.server.port, host: '127.0.0.1' })
  })
  after(async () => {
    shared.client?.disconnect()
    await shared.server?.stop()
  })
  return shared
}

/**
 * What a fault test file starts: servers, clients and apps, pushed here as they are made and all closed after the
 * file's last test (apps first, then clients, then servers).
 */
export function faultFixtures (): { servers: RedisServer[], clients: Redis[], apps: Array<{ close: () => Promise<unknown> }> } {
  const fixtures = { servers: [] as RedisServer[], clients: [] as Redis[], apps: [] as Array<{ close: () => Promise<unknown> }> }
  after(async () => {
    await Promise.all(fixtures.apps.map((app) => app.close().catch(() => {})))
    for (const client of fixtures.clients) client.disconnect()
    await Promise.all(fixtures.servers.map((s) => s.stop()))
  })
  return fixtures
}
