import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy in front of a test server that can misbehave the way networks do: add latency to every chunk (both
 * ways, order kept) or black-hole the link, sockets open and nothing getting through (no RST, no FIN). As with TCP
 * over a link that drops packets, nothing is lost: what was held back is delivered once the link heals.
 */
export class TcpProxy {
  /** Added to every chunk in both directions, ms. */
  delayMs = 0
  readonly #server: Server
  #blackhole = false
  readonly #held: Array<() => void> = []
  readonly #silenced = new WeakSet<Socket>()
  readonly #sockets = new Set<Socket>()
  #port = 0

  private constructor (targetPort: number) {
    this.#server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1')
      this.#sockets.add(client)
      this.#sockets.add(upstream)
      this.#pipe(client, upstream)
      this.#pipe(upstream, client)
      const close = () => {
        client.destroy()
        upstream.destroy()
        this.#sockets.delete(client)
        this.#sockets.delete(upstream)
      }
      client.on('close', close)
      upstream.on('close', close)
      client.on('error', close)
      upstream.on('error', close)
    })
  }

  /** Listen on a free port of 127.0.0.1, forwarding to `targetPort` there. */
  static async start (targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort)
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve))
    proxy.#port = (proxy.#server.address() as { port: number }).port
    return proxy
  }

  /** While true, nothing gets through in either direction and the connections stay open. */
  get blackhole (): boolean {
    return this.#blackhole
  }

  set blackhole (on: boolean) {
    this.#blackhole = on
    if (!on) for (const deliver of this.#held.splice(0)) deliver()
  }

  get port (): number {
    return this.#port
  }

  /** Connections open through the proxy right now (two sockets each). */
  get connections (): number {
    return this.#sockets.size / 2
  }

  /**
   * The connections open now go silent for good, sockets still open (a dropped NAT entry, a server gone from the
   * network): their bytes vanish from now on. New connections work.
   */
  silenceConnections (): void {
    for (const socket of this.#sockets) this.#silenced.add(socket)
  }

  /** Cut every connection (as a reset would); new ones are accepted. */
  drop (): void {
    for (const socket of this.#sockets) socket.destroy()
    this.#sockets.clear()
  }

  async close (): Promise<void> {
    this.drop()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #pipe (from: Socket, to: Socket): void {
    // Chunks leave in arrival order, each no earlier than delayMs after it came in.
    let last = 0
    from.on('data', (chunk: Buffer) => {
      if (this.#silenced.has(from)) return
      if (this.#blackhole) {
        this.#held.push(() => { if (!to.destroyed) to.write(chunk) })
        return
      }
      const delay = this.delayMs
      if (delay <= 0 && last <= Date.now()) {
        if (!to.destroyed) to.write(chunk)
        return
      }
      const at = Math.max(Date.now() + delay, last)
      last = at
      setTimeout(() => {
        if (this.#blackhole) this.#held.push(() => { if (!to.destroyed) to.write(chunk) })
        else if (!to.destroyed) to.write(chunk)
      }, at - Date.now())
    })
  }
}
