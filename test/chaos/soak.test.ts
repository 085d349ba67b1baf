// Soak: mixed traffic from hundreds of clients with random disconnects.
// SOAK_SECONDS sets the length (60 by default; 600 for the long run).
import { readdir, readFile } from 'node:fs/promises'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from '../../src/db/embedded.js'
import { createDirect, createGroup } from '../helpers/chat.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { client, register, type Account } from '../helpers/http.js'
import { spawnServer, waitForReady, type ServerProcess } from '../helpers/process.js'
import { ReplayingClient } from '../helpers/replayer.js'

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60)
const USERS = 100
const DEVICES = 3

let proc: ServerProcess | undefined
let db: TestDatabase | undefined
afterAll(async () => {
  if (proc?.child.exitCode === null) proc.child.kill('SIGKILL')
  await db?.drop()
})

async function rssKiB (pid: number) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1])
}
const openFds = async (pid: number) => (await readdir(`/proc/${pid}/fd`)).length
/** The server's connections to its database: its pools grow up to their sizes under load and keep idle connections, which is not a leak. */
async function databaseConnections (url: string): Promise<number> {
  const c = new pg.Client(url)
  await c.connect()
  try {
    return (await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'switchboard%'")).rows[0].n
  } finally {
    await c.end()
  }
}
/** Live heap (MiB) after each Mark-Compact of the main isolate, from --trace-gc lines. */
function liveHeapAfterGc (stdout: string) {
  const lines = stdout.split('\n').map((l) => /^\[\d+:(0x[0-9a-f]+)\]\s+(\d+) ms: Mark-Compact.*?-> ([\d.]+) \(/.exec(l)).filter((m) => m !== null)
  const counts = new Map<string, number>()
  for (const m of lines) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1)
  const main = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0]
  return lines.filter((m) => m[1] === main).map((m) => ({ ms: Number(m[2]), mb: Number(m[3]) }))
}
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('soak', () => {
  it(`keeps memory flat, leaks no sockets, and every client ends equal to the database (${SECONDS} s)`, async () => {
    db = await createTestDatabase()
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    proc = spawnServer({ DATABASE_URL: db.url, PORT: String(port), LOG_LEVEL: 'error', POST_RATE_LIMIT_PER_SECOND: '100000', MEMBERSHIP_RATE_LIMIT_PER_MINUTE: '100000', AUTH_RATE_LIMIT_MAX: '100000', LOGIN_RATE_LIMIT_PER_USERNAME: '100000', JWT_SECRET: 'k'.repeat(48), PRESENCE_GRACE_MS: '500', DATABASE_POOL_SIZE: '20', HTTP_KEEPALIVE_TIMEOUT_MS: '2000' }, { nodeArgs: ['--trace-gc'] })
    await waitForReady(url, proc)
    const pid = proc.child.pid!
    const api = client(url)

    const users: Account[] = []
    for (let i = 0; i < USERS; i += 20) users.push(...await Promise.all(Array.from({ length: 20 }, () => register(api))))
    const conversations: Array<{ id: string, members: Account[] }> = []
    for (let g = 0; g < 10; g++) {
      const members = users.slice(g * 10, g * 10 + 10)
      conversations.push({ id: (await createGroup(api, members[0]!, members.slice(1), `g${g}`)).id, members })
    }
    for (let d = 0; d < 20; d++) {
      const a = users[d]!
      const b = users[(d * 7 + 13) % USERS]!
      if (a !== b) conversations.push({ id: (await createDirect(api, a, b)).id, members: [a, b] })
    }
    const fdsBefore = await openFds(pid)
    const dbBefore = await databaseConnections(db.url)
    const clients = users.flatMap((u) => Array.from({ length: DEVICES }, () => new ReplayingClient(url, u)))
    for (let i = 0; i < clients.length; i += 50) await Promise.all(clients.slice(i, i + 50).map((c) => c.connect()))

    const samples: number[] = [await rssKiB(pid)]
    const loadStartedMs = Number(/^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms/m.exec(proc.stdout().split('\n').filter((l) => l.includes(' ms: ')).pop() ?? '')?.[1] ?? 0)
    const stopAt = Date.now() + SECONDS * 1000
    let posts = 0
    let reconnects = 0
    const errors: string[] = []
    const reconnecting: Array<Promise<void>> = []
    const actor = async () => {
      while (Date.now() < stopAt) {
        const conv = pick(conversations)
        const who = pick(conv.members)
        const roll = Math.random()
        try {
          if (roll < 0.7) {
            const res = await api.post(`/v1/conversations/${conv.id}/messages`, { body: `soak ${posts++}`, clientMessageId: `${who.user.id.slice(-8)}-${posts}` }, { token: who.accessToken })
            if (res.status >= 300) errors.push(`post ${res.status}`)
          } else if (roll < 0.8) {
            const res = await api.post(`/v1/conversations/${conv.id}/read`, { seq: 1_000_000 }, { token: who.accessToken })
            if (res.status !== 204) errors.push(`read ${res.status}`)
          } else if (roll < 0.9) {
            pick(clients.filter((c) => c.account === who && c.socket !== undefined))?.socket?.send({ type: 'typing', conversationId: conv.id })
          } else {
            const c = pick(clients)
            if (c.socket !== undefined) {
              await c.disconnect()
              reconnects++
              reconnecting.push(sleep(100 + Math.random() * 1500).then(() => c.connect()).catch((err: Error) => { errors.push(`reconnect ${err.message}`) }))
            }
          }
        } catch (err) {
          errors.push((err as Error).message)
        }
        await sleep(10)
      }
    }
    const sampler = (async () => {
      while (Date.now() < stopAt) {
        samples.push(await rssKiB(pid))
        await sleep(2000)
      }
    })()
    await Promise.all([...Array.from({ length: 6 }, actor), sampler])
    await Promise.all(reconnecting)
    for (const c of clients) if (c.socket === undefined) await c.connect()
    await Promise.all(clients.map((c) => c.catchUp()))
    await Promise.all(clients.map((c) => c.settle()))

    // Every client's view equals the database.
    const pgc = new pg.Client(db.url)
    await pgc.connect()
    try {
      for (const conv of conversations) {
        const rows = (await pgc.query('SELECT seq, type FROM events WHERE conversation_id = $1 ORDER BY seq', [conv.id])).rows.map((r) => `${r.seq}:${r.type}`)
        for (const c of clients.filter((x) => conv.members.includes(x.account))) {
          expect((c.applied.get(conv.id) ?? []).map((e) => `${e.seq}:${e.type}`)).toEqual(rows)
        }
      }
    } finally {
      await pgc.end()
    }

    await Promise.all(clients.map((c) => c.disconnect()))
    // Idle keep-alive HTTP connections of the test's own client close after 2 s.
    await sleep(3500)
    const fdsAfter = await openFds(pid)
    const dbAfter = await databaseConnections(db.url)
    samples.push(await rssKiB(pid))
    // RSS follows V8's lazy heap sizing; what a leak grows is the live heap
    // left after each full collection (--trace-gc), so that is what must stay flat.
    const heap = liveHeapAfterGc(proc.stdout())
    const warm = heap.filter((h) => h.ms > loadStartedMs + SECONDS * 250)
    process.stdout.write(`soak: ${SECONDS} s, ${clients.length} clients, ${posts} posts, ${reconnects} reconnects; ` +
      `server RSS start ${Math.round(samples[0]! / 1024)} MiB, end ${Math.round(samples[samples.length - 1]! / 1024)} MiB; ` +
      `live heap after full GC: ${heap.map((h) => h.mb.toFixed(0)).join(', ')} MiB; fds before ${fdsBefore}, after ${fdsAfter} (database connections ${dbBefore}, ${dbAfter}); errors ${errors.length}\n`)
    expect(errors).toEqual([])
    expect(posts).toBeGreaterThan(SECONDS * 20)
    if (warm.length >= 2) expect(warm[warm.length - 1]!.mb).toBeLessThan(warm[0]!.mb * 1.5 + 10)
    // Leaked sockets or files, not the database pools filling up (the main pool, and the lane of posts and session checks).
    expect(fdsAfter - dbAfter).toBeLessThanOrEqual(fdsBefore - dbBefore + 5)
    proc.child.kill('SIGTERM')
    expect((await proc.exited).code).toBe(0)
  }, (SECONDS + 120) * 1000)
})
