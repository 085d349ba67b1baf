// A TCP proxy in front of PostgreSQL that a test can cut and restore, to make
// the database unreachable for real: connections are refused and live ones reset.
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface DbProxy {
  url: string
  cut (): Promise<void>
  restore (): Promise<void>
  close (): Promise<void>
}

export async function startDbProxy (databaseUrl: string): Promise<DbProxy> {
  const target = new URL(databaseUrl)
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0

  const listen = () => new Promise<void>((resolve, reject) => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname)
      sockets.add(client).add(upstream)
      const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream).pipe(client)
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
  const url = new URL(databaseUrl)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return { url: url.toString(), cut: stop, restore: listen, close: stop }
}
