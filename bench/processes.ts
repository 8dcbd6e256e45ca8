// The processes a run starts: the app under test, redis-server and varnishd. Every one is stopped by the run that
// started it; `helpers` tracks the external ones so that a run killed by a signal still stops them.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ChildMessage, Probe, ServerSettings } from './server.ts'

const SERVER = new URL('./server.ts', import.meta.url)
/** tsx by its resolved URL, so that children find it whatever the working directory. */
export const TSX = import.meta.resolve('tsx')
const SYSTEM_REDIS_PORT = 6379

/** A running app under test. */
export interface AppProcess {
  port: number
  pid: number
  probe (): Promise<Probe>
  stop (): Promise<void>
}

/** External processes still running, by pid, so that signal handlers can stop them. */
export const helpers = new Set<ChildProcess>()

export function stopHelpers (): void {
  for (const child of helpers) child.kill('SIGTERM')
  helpers.clear()
}
process.once('exit', stopHelpers)

/** A TCP port free on loopback right now. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  if (address.port === SYSTEM_REDIS_PORT) return freePort()
  return address.port
}

/** The path of an executable on PATH (or in /usr/sbin), or `undefined`. */
export function which (name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name} || ls /usr/sbin/${name} 2>/dev/null`], { encoding: 'utf8' })
  const path = found.stdout.trim().split('\n')[0]
  return path === undefined || path === '' ? undefined : path
}

/** Fork bench/server.ts with `settings` and wait until it listens. `nodeFlags` go before `--import tsx`. */
export async function startApp (settings: ServerSettings, nodeFlags: string[] = []): Promise<AppProcess> {
  const child = fork(SERVER, [], {
    execArgv: [...nodeFlags, '--import', TSX],
    env: { ...process.env, BENCH_SERVER: JSON.stringify(settings) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const next = () => new Promise<ChildMessage>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`bench server exited with code ${code}`))
    child.once('exit', onExit)
    child.once('message', (message) => {
      child.off('exit', onExit)
      resolve(message as ChildMessage)
    })
  })
  // An app that never gets ready (a plugin waiting on something that never comes) must not stall the whole run.
  let timer: NodeJS.Timeout | undefined
  const ready = await Promise.race([
    next(),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error('bench server did not get ready within 60 s'))
      }, 60_000)
    })
  ]).finally(() => clearTimeout(timer))
  if (ready.type !== 'ready') {
    child.kill('SIGKILL')
    throw new Error(`bench server failed to start: ${ready.type === 'error' ? ready.message : ready.type}`)
  }
  let queue = Promise.resolve() as Promise<unknown>
  return {
    port: ready.port,
    pid: child.pid!,
    probe () {
      const answer = queue.then(async () => {
        const reply = next()
        child.send({ type: 'probe' })
        const message = await reply
        if (message.type !== 'probe') throw new Error(`bench server probe failed: ${JSON.stringify(message)}`)
        return message.probe
      })
      queue = answer.catch(() => {})
      return answer
    },
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.send({ type: 'stop' })
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }
}

async function waitForPort (port: number, child: ChildProcess, what: string, output = () => ''): Promise<void> {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}\n${output()}`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    await sleep(50)
  }
  throw new Error(`${what} did not listen on port ${port}`)
}

async function stopChild (child: ChildProcess): Promise<void> {
  helpers.delete(child)
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** A running external server. */
export interface Helper {
  port: number
  pid: number
  stop (): Promise<void>
}

/** A private redis-server on a free port, without persistence. Never the system one on 6379. */
export async function startRedis (): Promise<Helper> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' })
  helpers.add(child)
  try {
    await waitForPort(port, child, 'redis-server')
  } catch (err) {
    await stopChild(child)
    throw err
  }
  return { port, pid: child.pid!, stop: () => stopChild(child) }
}

/**
 * varnishd in the foreground in front of `originPort`, with the built-in VCL (it caches a 200 without Set-Cookie
 * for default_ttl seconds), a private working directory, 256 MB of malloc storage, and no jail (`-j none`: as root
 * it would otherwise switch to the varnish user, who cannot write the private directory).
 */
export async function startVarnish (varnishd: string, originPort: number): Promise<Helper> {
  const port = await freePort()
  const workdir = mkdtempSync(join(tmpdir(), 'fancy-cache-varnish-'))
  const child = spawn(varnishd, [
    '-F', '-j', 'none', '-n', workdir, '-a', `127.0.0.1:${port}`, '-b', `127.0.0.1:${originPort}`,
    '-s', 'malloc,256m', '-p', 'default_ttl=3600', '-T', 'none'
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  helpers.add(child)
  let output = ''
  child.stderr!.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4000) })
  try {
    await waitForPort(port, child, 'varnishd', () => output)
  } catch (err) {
    await stopChild(child)
    rmSync(workdir, { recursive: true, force: true })
    throw err
  }
  return {
    port,
    pid: child.pid!,
    async stop () {
      await stopChild(child)
      rmSync(workdir, { recursive: true, force: true })
    }
  }
}
