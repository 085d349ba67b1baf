// Writes to one conversation (edits, reactions, pins, member changes) queue on
// its row lock. A burst of them must not take every connection of the pool
// while they wait there: the requests of every other conversation would time
// out waiting for a connection (503). They take turns in memory instead, one
// connection per conversation, each waiting a bounded time for its turn.
import { afterAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { createKeyedQueue } from '../src/db/keyed-queue.js'
import { RECEIPT_TURNS } from '../src/repositories/receipts.js'
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

  it('read receipts waiting for a write hold at most RECEIPT_TURNS connections: other conversations go on, every receipt lands', async () => {
    const [owner, x, y, ...readers] = await users(api, 10)
    const group = await createGroup(api, owner, readers)
    const message = await post(api, owner, group.id, 'read me')
    const direct = await createDirect(api, x, y)

    const release = await holdLock(group.id)
    // Seven members read it (each receipt takes the conversation's row FOR KEY SHARE, which waits for FOR UPDATE).
    const reads = readers.map((r) => api.post(`/v1/conversations/${group.id}/read`, { seq: message.seq }, as(r)))
    await until(async () => (await waitingOnLocks()) >= 1)
    await new Promise((resolve) => setTimeout(resolve, 500))

    // Another conversation answers while they wait (it answered 503 when each receipt waited with a connection).
    expect((await api.get(`/v1/conversations/${direct.id}/messages`, as(y))).status).toBe(200)
    expect(await waitingOnLocks()).toBe(RECEIPT_TURNS)

    await release()
    expect((await Promise.all(reads)).map((r) => r.status)).toEqual(reads.map(() => 204))
    for (const r of readers) expect((await api.get(`/v1/conversations/${group.id}`, as(r))).body.unreadCount).toBe(0)
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

  it('with a limit, runs that many tasks of one key at once, the next one as soon as one ends', async () => {
    const queue = createKeyedQueue(2)
    let running = 0
    let most = 0
    const order: number[] = []
    const task = (i: number, ms: number) => async () => {
      running++
      most = Math.max(most, running)
      await sleep(ms)
      running--
      order.push(i)
    }
    await Promise.all([queue('k', 5_000, task(1, 150), late), queue('k', 5_000, task(2, 20), late), queue('k', 5_000, task(3, 20), late),
      queue('k', 5_000, task(4, 20), late), queue('other', 5_000, task(5, 10), late)])
    // 1 and 2 start; 3 takes 2's turn, 4 takes 3's: all while 1 runs.
    expect(most).toBe(3)
    expect(order).toEqual([5, 2, 3, 4, 1])
  })

  it('goes on after a task that failed', async () => {
    const queue = createKeyedQueue()
    const failed = queue('k', 5_000, async () => { throw new Error('boom') }, late)
    const next = queue('k', 5_000, async () => 'next', late)
    await expect(failed).rejects.toThrow('boom')
    expect(await next).toBe('next')
  })
})
