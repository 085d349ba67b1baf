// SIGKILL in the middle of a posting load: every acknowledged message survives,
// the log has no gap and no duplicate, and connected clients recover exactly.
import { afterAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { freePort } from '../../src/db/embedded.js'
import { createGroup } from '../helpers/chat.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { client, register } from '../helpers/http.js'
import { startPosting } from '../helpers/load.js'
import { spawnServer, waitForReady, type ServerProcess } from '../helpers/process.js'
import { ReplayingClient } from '../helpers/replayer.js'

const procs: ServerProcess[] = []
let db: TestDatabase | undefined
afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL')
  await db?.drop()
})

describe('SIGKILL under load', () => {
  it('loses no acknowledged message, leaves no gap or duplicate, and clients replay to the database state', async () => {
    db = await createTestDatabase()
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const env = { DATABASE_URL: db.url, PORT: String(port), LOG_LEVEL: 'warn', POST_RATE_LIMIT_PER_SECOND: '100000', MEMBERSHIP_RATE_LIMIT_PER_MINUTE: '100000', AUTH_RATE_LIMIT_MAX: '100000', LOGIN_RATE_LIMIT_PER_USERNAME: '100000', JWT_SECRET: 'k'.repeat(48) }
    const first = spawnServer(env)
    procs.push(first)
    await waitForReady(url, first)

    const api = client(url)
    const users = await Promise.all(Array.from({ length: 4 }, () => register(api)))
    const group = await createGroup(api, users[0]!, users.slice(1))
    const watchers = users.slice(0, 3).map((u) => new ReplayingClient(url, u))
    await Promise.all(watchers.map((w) => w.connect()))

    const load = startPosting(url, group.id, users.map((u, i) => ({ name: `s${i}`, token: u.accessToken })))
    await new Promise((r) => setTimeout(r, 1500))
    first.child.kill('SIGKILL')
    await first.exited
    const outcomes = await load.stop()
    const acked = outcomes.filter((o) => o.status !== undefined && o.status < 300)
    const unknown = outcomes.filter((o) => o.status === undefined)
    expect(acked.length).toBeGreaterThan(20)

    const second = spawnServer(env)
    procs.push(second)
    await waitForReady(url, second)

    // The log: seqs 1..lastSeq, no gap; one message per clientMessageId.
    const c = new pg.Client(db.url)
    await c.connect()
    try {
      const events = (await c.query('SELECT seq FROM events WHERE conversation_id = $1 ORDER BY seq', [group.id])).rows.map((r) => r.seq)
      expect(events).toEqual(Array.from({ length: events.length }, (_, i) => i + 1))
      const msgs = (await c.query('SELECT id, client_message_id, body FROM messages WHERE conversation_id = $1', [group.id])).rows
      const ids = new Set(msgs.map((m) => m.id))
      for (const o of acked) expect(ids.has(o.message.id), `acknowledged ${o.clientMessageId} lost`).toBe(true)
      expect(new Set(msgs.map((m) => m.client_message_id)).size).toBe(msgs.length)

      // A post whose outcome the client never learned is retried: still one message.
      for (const o of unknown.slice(0, 10)) {
        const sender = users[Number(o.clientMessageId.slice(1, o.clientMessageId.indexOf('-')))]!
        const retry = await api.post(`/v1/conversations/${group.id}/messages`, { body: o.body, clientMessageId: o.clientMessageId }, { token: sender.accessToken })
        expect([200, 201]).toContain(retry.status)
      }
      const dup = await c.query('SELECT client_message_id FROM messages WHERE conversation_id = $1 GROUP BY client_message_id HAVING count(*) > 1', [group.id])
      expect(dup.rows).toEqual([])

      // Connected clients reconnect to the new process and replay.
      await Promise.all(watchers.map((w) => w.connect(url)))
      await Promise.all(watchers.map((w) => w.settle()))
      const final = (await c.query('SELECT seq, type FROM events WHERE conversation_id = $1 ORDER BY seq', [group.id])).rows
      for (const w of watchers) {
        expect(w.applied.get(group.id)!.map((e) => [e.seq, e.type])).toEqual(final.map((r) => [r.seq, r.type]))
      }
    } finally {
      await c.end()
    }
    second.child.kill('SIGTERM')
    expect((await second.exited).code).toBe(0)
  })
})
