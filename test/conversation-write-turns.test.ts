// Writes to one conversation (edits, reactions, pins, member changes) queue on
// its row lock. A burst of them must not take every connection of the pool
// while they wait there: the requests of every other conversation would time
// out waiting for a connection (503). They take turns in memory instead, one
// connection per conversation, each waiting a bounded time for its turn.
import { afterAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { createKeyedQueue } from '../src/db/keyed-queue.js'
import { createDirect, createGroup, post } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users } from './helpers/users.js'

let server: TestServer
let api: Client
const locks: pg.Client[] = []

test.override('serverOptions', { config: { databasePoolSize: 3 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(locks.map((c) => c.end()))
})

const as = (who: Account) => ({ token: who.accessToken })

/** Holds a conversation's row lock, as a long write to it would, until the returned function is called. */
async function holdLock (conversationId: string): Promise<() => Promise<void>> {
  const c = new pg.Client({ connectionString: server.databaseUrl })
  locks.push(c)
  await c.connect()
  await c.query('BEGIN')
  await c.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [conversationId])
  return async () => { await c.query('COMMIT') }
}

/** The app's connections that wait for a row lock. */
async function waitingOnLocks (): Promise<number> {
  const rows = await server.sql<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'switchboard' AND wait_event_type = 'Lock'")
  return rows[0]!.n
}

async function until (check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('writes to one busy conversation', () => {
  it('hold one connection between them: other conversations go on, and every write lands once the lock is free', async () => {
    const everyone = await users(api, 10)
    const [owner, x, y, ...reactors] = everyone
    const group = await createGroup(api, owner, reactors)
    const message = await post(api, owner, group.id, 'react to me')
    const direct = await createDirect(api, x, y)
    const pinned = await post(api, x, direct.id, 'elsewhere')

    const release = await holdLock(group.id)
    // Seven reactions and an edit, against a pool of three connections.
    const writes = [
      ...reactors.map((r) => api.put(`/v1/conversations/${group.id}/messages/${message.id}/reactions/${encodeURIComponent('👍')}`, undefined, as(r))),
      api.patch(`/v1/conversations/${group.id}/messages/${message.id}`, { body: 'edited' }, as(owner))
    ]
    await until(async () => (await waitingOnLocks()) >= 1)
    // Time for the others to pile up on the lock, as they did when each took a connection to wait there.
    await new Promise((resolve) => setTimeout(resolve, 500))

    // Another conversation's reads and writes answer while the lock is held (they timed out with 503).
    const history = await api.get(`/v1/conversations/${direct.id}/messages`, as(y))
    expect(history.status).toBe(200)
    const reacted = await api.put(`/v1/conversations/${direct.id}/messages/${pinned.id}/reactions/${encodeURIComponent('❤️')}`, undefined, as(y))
    expect(reacted.status).toBe(200)
    expect((await api.get('/v1/conversations', as(owner))).status).toBe(200)
    // The burst waits on the lock with one connection.
    expect(await waitingOnLocks()).toBe(1)

    await release()
    const answers = await Promise.all(writes)
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200))
    const page = await api.get(`/v1/conversations/${group.id}/messages`, as(owner))
    const shown = page.body.messages.find((m: any) => m.id === message.id)
    expect(shown.body).toBe('edited')
    expect(shown.reactions).toEqual([{ emoji: '👍', count: reactors.length, me: false }])
  })
})

describe('the keyed queue under it', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
  const late = () => new Error('late')

  it('runs the tasks of one key one at a time in arrival order, and those of other keys beside them', async () => {
    const queue = createKeyedQueue()
    const log: string[] = []
    const task = (name: string, ms: number) => async () => {
      log.push(`start ${name}`)
      await sleep(ms)
      log.push(`end ${name}`)
      return name
    }
    const done = await Promise.all([
      queue('a', 5_000, task('a1', 40), late),
      queue('a', 5_000, task('a2', 10), late),
      queue('b', 5_000, task('b1', 10), late),
      queue('a', 5_000, task('a3', 10), late)
    ])
    expect(done).toEqual(['a1', 'a2', 'b1', 'a3'])
    const a = log.filter((l) => l.endsWith('a1') || l.endsWith('a2') || l.endsWith('a3'))
    expect(a).toEqual(['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3'])
    expect(log.indexOf('start b1')).toBeLessThan(log.indexOf('end a1'))
  })

  it('refuses a task whose turn does not come in time, never runs it, and lets the line go on behind it', async () => {
    const queue = createKeyedQueue()
    const ran: string[] = []
    const first = queue('k', 5_000, async () => { await sleep(200); ran.push('first') }, late)
    const second = queue('k', 50, async () => { ran.push('second') }, late)
    const third = queue('k', 5_000, async () => { ran.push('third') }, late)
    await expect(second).rejects.toThrow('late')
    await first
    await third
    expect(ran).toEqual(['first', 'third'])
  })

  it('goes on after a task that failed', async () => {
    const queue = createKeyedQueue()
    const failed = queue('k', 5_000, async () => { throw new Error('boom') }, late)
    const next = queue('k', 5_000, async () => 'next', late)
    await expect(failed).rejects.toThrow('boom')
    expect(await next).toBe('next')
  })
})
