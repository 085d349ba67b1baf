// A reconnect storm opens thousands of connections at once, while the server
// is busy with the catch-ups of those already back. Those the kernel cannot
// queue for the server to accept (the listen backlog, LISTEN_BACKLOG) are
// dropped at the handshake, and their clients' TCP stacks try again only a
// second or more later (1 s, 3 s, 7 s, ...): seconds before such a client is
// ready, shown offline meanwhile. Node's default backlog is 511; the sync bench
// saw clients take up to 30 s to be ready in the first storm of a run.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from './helpers/server.js'

// Below a CI machine's usual 1,024 open files per process, above Node's default backlog of 511.
const CONNECTIONS = 700
// The kernel caps any backlog at net.core.somaxconn (4,096 since Linux 5.4, 128 before).
const SOMAXCONN = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'))
const BUSY_MS = 2_500

// Opens CONNECTIONS sockets at once when told to (a line on stdin) and prints the slowest connect, in ms.
const CLIENT = `
const net = require('node:net')
const [port, n] = process.argv.slice(1).map(Number)
process.stdin.once('data', () => {
  const t0 = Date.now()
  let done = 0, slowest = 0
  const sockets = []
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1')
    sockets.push(s)
    s.on('connect', () => {
      slowest = Math.max(slowest, Date.now() - t0)
      if (++done === n) { process.stdout.write(JSON.stringify({ slowest }) + '\\n'); for (const x of sockets) x.destroy(); process.exit(0) }
    })
    s.on('error', (err) => { process.stdout.write(JSON.stringify({ error: err.message }) + '\\n'); process.exit(1) })
  }
})
process.stdout.write('ready\\n')
`

let server: TestServer | undefined
afterEach(async () => { await server?.close(); server = undefined })

/** The slowest of CONNECTIONS connects made while the server's event loop is blocked (it accepts nothing). */
async function slowestConnectWhileBusy (s: TestServer): Promise<number> {
  const port = Number(new URL(s.url).port)
  const child = spawn(process.execPath, ['-e', CLIENT, String(port), String(CONNECTIONS)], { stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    const lines: string[] = []
    let wake: () => void = () => {}
    child.stdout.setEncoding('utf8').on('data', (d: string) => { lines.push(...d.split('\n').filter((l) => l !== '')); wake() })
    while (!lines.includes('ready')) await new Promise<void>((resolve) => { wake = resolve })
    child.stdin.write('go\n')
    // The server is this process: busy, it accepts nothing; the kernel queues what its backlog holds.
    const until = Date.now() + BUSY_MS
    while (Date.now() < until) { /* busy */ }
    while (lines.length < 2) await new Promise<void>((resolve) => { wake = resolve })
    const result = JSON.parse(lines[1]!) as { slowest?: number, error?: string }
    expect(result.error).toBeUndefined()
    return result.slowest!
  } finally {
    child.kill()
    if (child.exitCode === null) await once(child, 'exit')
  }
}

describe('the listen backlog', () => {
  it.skipIf(SOMAXCONN <= CONNECTIONS)('holds a burst of connections while the server is busy: none waits for the client to retry its handshake', async () => {
    server = await startServer()
    // Each was queued by the kernel at once: connected long before the server was free to accept.
    expect(await slowestConnectWhileBusy(server)).toBeLessThan(1_000)
  }, 60_000)

  it("with Node's default of 511, the connections past it wait for their handshake to be retried", async () => {
    server = await startServer({ config: { listenBacklog: 511 } })
    expect(await slowestConnectWhileBusy(server)).toBeGreaterThanOrEqual(1_000)
  }, 60_000)
})
