// The database stops in the middle of a load and comes back: requests fail
// fast with 503, /ready follows, and the server recovers without a restart.
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.js'
import { createGroup } from '../helpers/chat.js'
import { client, register } from '../helpers/http.js'
import { startPosting } from '../helpers/load.js'
import { spawnServer, waitForReady, type ServerProcess } from '../helpers/process.js'

let proc: ServerProcess | undefined
let database: EmbeddedPostgres | undefined
let dir: string | undefined
afterAll(async () => {
  if (proc !== undefined && proc.child.exitCode !== 0 && proc.child.exitCode !== null) process.stdout.write(`server exited ${proc.child.exitCode}:\n${proc.stderr()}\n${proc.stdout().slice(-3000)}\n`)
  if (proc?.child.exitCode === null) proc.child.kill('SIGKILL')
  await database?.stop()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

describe('database outage', () => {
  it('fails fast with 503 UNAVAILABLE while the database is down and recovers by itself, losing nothing acknowledged', async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-outage-'))
    await chmod(dir, 0o755)
    const pgPort = await freePort()
    const dataDir = join(dir, 'pg')
    database = await startEmbeddedPostgres({ dataDir, port: pgPort })
    const admin = new pg.Client(database.adminUrl)
    await admin.connect()
    await admin.query('CREATE DATABASE outage')
    await admin.end()
    const dbUrl = database.urlFor('outage')

    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    proc = spawnServer({ DATABASE_URL: dbUrl, PORT: String(port), LOG_LEVEL: 'error', DATABASE_CONNECT_TIMEOUT_MS: '1000', POST_RATE_LIMIT_PER_SECOND: '100000', MEMBERSHIP_RATE_LIMIT_PER_MINUTE: '100000', AUTH_RATE_LIMIT_MAX: '100000', LOGIN_RATE_LIMIT_PER_USERNAME: '100000', JWT_SECRET: 'k'.repeat(48) })
    await waitForReady(url, proc)
    const api = client(url)
    const users = await Promise.all(Array.from({ length: 3 }, () => register(api)))
    const group = await createGroup(api, users[0]!, users.slice(1))
    const load = startPosting(url, group.id, users.map((u, i) => ({ name: `s${i}`, token: u.accessToken })))
    await new Promise((r) => setTimeout(r, 800))

    await database.stop()
    const outageStarted = Date.now()
    await expect.poll(async () => (await api.get('/ready')).status, { timeout: 5000 }).toBe(503)
    // While it is down, each request fails fast with the documented error.
    const t0 = Date.now()
    const down = await api.post(`/v1/conversations/${group.id}/messages`, { body: 'during outage' }, { token: users[0]!.accessToken })
    expect(Date.now() - t0).toBeLessThan(3000)
    expect(down.status).toBe(503)
    expect(down.body.code).toBe('UNAVAILABLE')
    await new Promise((r) => setTimeout(r, 1000))

    database = await startEmbeddedPostgres({ dataDir, port: pgPort })
    await expect.poll(async () => (await api.get('/ready')).status, { timeout: 15_000 }).toBe(200)
    const recoveredAfter = Date.now() - outageStarted
    await new Promise((r) => setTimeout(r, 800))
    const outcomes = await load.stop()

    // The loops saw 503s during the outage and successes after it, never a hang or a 500.
    const statuses = new Set(outcomes.map((o) => o.status))
    expect(statuses.has(503)).toBe(true)
    expect([...statuses].filter((s) => s !== undefined && ![200, 201, 503].includes(s))).toEqual([])
    const after = outcomes.slice(-6)
    expect(after.some((o) => o.status === 201)).toBe(true)
    expect(recoveredAfter).toBeLessThan(20_000)

    const c = new pg.Client(dbUrl)
    await c.connect()
    const stored = new Set((await c.query('SELECT id FROM messages WHERE conversation_id = $1', [group.id])).rows.map((r) => r.id))
    const seqs = (await c.query('SELECT seq FROM events WHERE conversation_id = $1 ORDER BY seq', [group.id])).rows.map((r) => r.seq)
    await c.end()
    for (const o of outcomes) if (o.status === 201) expect(stored.has(o.message.id)).toBe(true)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))

    proc.child.kill('SIGTERM')
    expect((await proc.exited).code).toBe(0)
  })
})
