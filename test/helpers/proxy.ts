// A TCP proxy in front of PostgreSQL or Redis that a test can cut and restore,
// to make the server unreachable for real: connections are refused and live
// ones reset. It can also fail only the connections that send a given
// command (a publication), the way a connection lost mid-publish fails.
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface DbProxy {
  /** The target URL with this proxy's address (credentials and path kept). */
  url: string
  cut (): Promise<void>
  restore (): Promise<void>
  close (): Promise<void>
  /**
   * While set, a connection whose client sends this text (case-insensitive)
   * is reset before the data is forwarded ('reset'), or stops forwarding in
   * both directions and stays open, as a half-open connection does ('stall').
   */
  failOn (text: string | undefined, mode?: 'reset' | 'stall'): void
  /** Connections failed by failOn so far. */
  readonly failures: number
  /**
   * Stalls, as failOn's 'stall' does, every live connection whose client has
   * sent this text (case-insensitive) in its first 4 KiB (a Redis client's
   * name, sent when it connects); returns how many. Later connections pass.
   */
  stallLive (text: string): number
}

export async function startDbProxy (targetUrl: string): Promise<DbProxy> {
  const target = new URL(targetUrl)
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  let fault: { text: string, mode: 'reset' | 'stall' } | undefined
  let failures = 0
  // Of each live connection: what its client sent first, and how to stall it.
  const live = new Map<Socket, { sent: string, stall: () => void }>()

  const listen = () => new Promise<void>((resolve, reject) => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname)
      sockets.add(client).add(upstream)
      let stalled = false
      const entry = { sent: '', stall: () => { stalled = true } }
      live.set(client, entry)
      // The end of the previous chunk, so that a command split across two chunks is still seen.
      let tail = ''
      const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); live.delete(client) }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.on('data', (chunk: Buffer) => {
        if (stalled) return
        const text = tail + chunk.toString('latin1').toLowerCase()
        if (entry.sent.length < 4096) entry.sent += text
        tail = text.slice(-64)
        if (fault !== undefined && text.includes(fault.text)) {
          failures++
          if (fault.mode === 'reset') drop()
          else stalled = true
          return
        }
        upstream.write(chunk)
      })
      upstream.on('data', (chunk: Buffer) => { if (!stalled) client.write(chunk) })
    })
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      port = (server!.address() as { port: number }).port
      resolve()
    })
  })
  const stop = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy()
    sockets.clear()
    if (server === undefined) return resolve()
    server.close(() => resolve())
    server = undefined
  })

  await listen()
  const url = new URL(targetUrl)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return {
    url: url.toString(),
    cut: stop,
    restore: listen,
    close: stop,
    failOn (text, mode = 'reset') { fault = text === undefined ? undefined : { text: text.toLowerCase(), mode } },
    get failures () { return failures },
    stallLive (text) {
      let n = 0
      for (const entry of live.values()) {
        if (entry.sent.includes(text.toLowerCase())) { entry.stall(); n++ }
      }
      return n
    }
  }
}
