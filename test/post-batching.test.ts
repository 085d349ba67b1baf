// Concurrent posts are group-committed: fewer transactions than posts, and
// every post still gets its own correct answer, only after the commit.
import { randomUUID } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createPostBatcher } from '../src/domain/post-batcher.js'
import { isDatabaseUnavailable } from '../src/domain/prisma-errors.js'
import { closePool, createPool, openConnections } from '../src/db/pool.js'
import { createGroup, post } from './helpers/chat.js'
import { client, register, type Client } from './helpers/http.js'
import { startServer, test, type TestServer } from './helpers/server.js'
import { connect } from './helpers/ws.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

/** Transactions that wrote these messages: each group commit writes its posts in one. */
async function writingTransactions (ids: string[]): Promise<number> {
  const [row] = await server.sql('SELECT count(DISTINCT xmin::text)::int AS n FROM messages WHERE id = ANY($1::uuid[])', [ids])
  return row.n
}

/**
 * Holds the row locks of these conversations, as a slow writer would, until
 * `release` is called: the post batches that reach them wait, and posts that
 * arrive meanwhile queue up behind them, whatever the speed of the machine.
 */
async function holdLocks (conversationIds: string[]) {
  const holder = new pg.Client({ connectionString: server.databaseUrl })
  await holder.connect()
  await holder.query('BEGIN')
  await holder.query('SELECT 1 FROM conversations WHERE id = ANY($1::uuid[]) FOR UPDATE', [conversationIds])
  return {
    /** Resolves once `n` post_messages calls wait on the held locks. */
    async waiting (n: number) {
      for (;;) {
        const [row] = await server.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%post_messages%'")
        if (row.n >= n) return
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    async release () {
      await holder.query('COMMIT')
      await holder.end()
    }
  }
}

describe('group commit of posts', () => {
  it('answers a mixed burst correctly, one by one, in fewer transactions than posts', async () => {
    const users = await Promise.all(Array.from({ length: 8 }, () => register(api)))
    const outsider = await register(api)
    const g1 = await createGroup(api, users[0]!, users.slice(1, 4))
    const g2 = await createGroup(api, users[4]!, users.slice(5))
    const earlier = await post(api, users[0]!, g1.id, 'earlier', { clientMessageId: 'already-there' })
    const foreign = await post(api, users[4]!, g2.id, 'in the other group')

    const burst = [
      ...users.slice(0, 4).flatMap((u) => Array.from({ length: 10 }, (_, i) => ({ who: u, conv: g1.id, body: { body: `g1 ${i}` } }))),
      ...users.slice(4).flatMap((u) => Array.from({ length: 10 }, (_, i) => ({ who: u, conv: g2.id, body: { body: `g2 ${i}` } }))),
      { who: users[1]!, conv: g1.id, body: { body: 'twice in one burst', clientMessageId: 'same-key' } },
      { who: users[1]!, conv: g1.id, body: { body: 'twice in one burst', clientMessageId: 'same-key' } },
      { who: users[0]!, conv: g1.id, body: { body: 'retry', clientMessageId: 'already-there' } },
      { who: outsider, conv: g1.id, body: { body: 'not a member' } },
      { who: users[2]!, conv: g1.id, body: { body: 'bad reply', replyToId: foreign.id } },
      { who: users[3]!, conv: g1.id, body: { body: 'good reply', replyToId: earlier.id } }
    ]
    const locks = await holdLocks([g1.id, g2.id])
    const answers = Promise.all(burst.map((b) => api.post(`/v1/conversations/${b.conv}/messages`, b.body, { token: b.who.accessToken })))
    // A batch waits on the locks; posts arriving meanwhile queue behind it.
    await locks.waiting(1)
    await new Promise((resolve) => setTimeout(resolve, 300))
    await locks.release()
    const results = await answers

    const [twiceA, twiceB, retry, stranger, badReply, goodReply] = results.slice(-6)
    expect([twiceA!.status, twiceB!.status].sort()).toEqual([200, 201])
    expect(twiceA!.body.id).toBe(twiceB!.body.id)
    expect(retry).toMatchObject({ status: 200, body: { id: earlier.id } })
    expect(stranger).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } })
    expect(badReply).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } })
    expect(goodReply).toMatchObject({ status: 201, body: { replyToId: earlier.id } })
    for (const r of results.slice(0, 80)) expect(r.status).toBe(201)

    // Both logs stay gapless, with one message per created answer.
    for (const g of [g1, g2]) {
      const rows = await server.sql('SELECT seq FROM events WHERE conversation_id = $1 ORDER BY seq', [g.id])
      expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1))
    }
    // Each stored message.created event is exactly the message its post was answered with.
    const events = await server.sql("SELECT data FROM events WHERE type = 'message.created' AND conversation_id = ANY($1::uuid[])", [[g1.id, g2.id]])
    const stored = new Map(events.map((e) => [e.data.id, e.data]))
    for (const r of results.filter((r) => r.status === 201)) expect(stored.get(r.body.id)).toEqual(r.body)
    const created = results.filter((r) => r.status === 201).length
    const [{ n }] = await server.sql('SELECT count(*)::int AS n FROM messages WHERE conversation_id = ANY($1::uuid[])', [[g1.id, g2.id]])
    expect(n).toBe(created + 2)
    // One transaction per post is what an ungrouped path costs; grouped posts
    // are written by fewer transactions than posts.
    expect(await writingTransactions(results.filter((r) => r.status === 201).map((r) => r.body.id))).toBeLessThan(created)
  })

  it('a conversation whose batch waits on its lock does not hold up posts into other conversations', async () => {
    const [a, b, c] = await Promise.all([register(api), register(api), register(api)])
    const hot = await createGroup(api, a, [b])
    const other = await createGroup(api, c, [a])
    const locks = await holdLocks([hot.id])
    let firstSettled = false
    const first = api.post(`/v1/conversations/${hot.id}/messages`, { body: 'waits for the lock' }, { token: a.accessToken })
      .finally(() => { firstSettled = true })
    await locks.waiting(1)
    // Both arrive while the batch of the first waits: the second post into the
    // hot group stays queued behind it; the post into the other group goes alone.
    const second = api.post(`/v1/conversations/${hot.id}/messages`, { body: 'after the first' }, { token: a.accessToken })
    // The second post first (its sender's session is cached: no lookup delays it). Without the
    // hold-back it took the free slot and waited on the lock, and the next post waited for a slot.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const elsewhere = await api.post(`/v1/conversations/${other.id}/messages`, { body: 'not held up' }, { token: c.accessToken })
    expect(elsewhere).toMatchObject({ status: 201, body: { seq: 3 } })
    expect(firstSettled).toBe(false)
    await locks.release()
    const [r1, r2] = await Promise.all([first, second])
    expect(r1).toMatchObject({ status: 201, body: { seq: 3 } })
    expect(r2).toMatchObject({ status: 201, body: { seq: 4 } })
  })

  it('a post does not wait for a transaction that only references its conversation (a foreign-key check\'s lock)', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    // What inserting a row that references the conversation holds until commit (an upload, a membership, a pin):
    // its foreign-key check's KEY SHARE lock on the conversation's row.
    const holder = new pg.Client({ connectionString: server.databaseUrl })
    await holder.connect()
    try {
      await holder.query('BEGIN')
      await holder.query('SELECT 1 FROM conversations WHERE id = $1 FOR KEY SHARE', [group.id])
      let timer: NodeJS.Timeout | undefined
      const held = new Promise<'held'>((resolve) => { timer = setTimeout(() => resolve('held'), 20_000) })
      const answer = await Promise.race([api.post(`/v1/conversations/${group.id}/messages`, { body: 'not held' }, { token: b.accessToken }), held])
      clearTimeout(timer)
      expect(answer).toMatchObject({ status: 201, body: { seq: 3 } })
    } finally {
      await holder.query('COMMIT')
      await holder.end()
    }
  }, 30_000)

  it('gives back the seqs of refused posts and leaves the activity time of their conversation alone', async () => {
    const [owner, member, outsider] = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, owner, [member])
    const other = await createGroup(api, outsider, [member])
    const [before] = await server.sql('SELECT last_seq, last_activity_at FROM conversations WHERE id = $1', [group.id])
    const results = await Promise.all([
      ...Array.from({ length: 5 }, () => api.post(`/v1/conversations/${group.id}/messages`, { body: 'not yours' }, { token: outsider.accessToken })),
      api.post(`/v1/conversations/${other.id}/messages`, { body: 'same batch, other conversation' }, { token: outsider.accessToken })
    ])
    expect(results.slice(0, 5).map((r) => r.status)).toEqual([404, 404, 404, 404, 404])
    expect(results[5]!.status).toBe(201)
    const [after] = await server.sql('SELECT last_seq, last_activity_at FROM conversations WHERE id = $1', [group.id])
    expect(after).toEqual(before)
    const ok = await post(api, member, group.id, 'next')
    expect(ok.seq).toBe(before.last_seq + 1)
  })

  // A connection keeps the plan of the post_messages function; one made while
  // the tables were small must not turn into full scans as history grows.
  it('looks up by index at any history size: no sequential scan of messages or memberships per batch', async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => register(api)))
    const group = await createGroup(api, users[0]!, users.slice(1))
    // Every other post replies in a thread: its summary and follows are kept by index too.
    const root = await post(api, users[0]!, group.id, 'root')
    const session = new pg.Client(server.databaseUrl)
    await session.connect()
    try {
      const postBatch = async (n: number) => {
        const ids = Array.from({ length: n }, () => randomUUID())
        return session.query(`SELECT * FROM post_messages($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[],
          $7::int[], $8::text[], $9::boolean[], $10::jsonb[], $11::text[], $12::jsonb[], $13::uuid[])`, [
          ids, ids.map(() => group.id), ids.map((_, i) => users[i % users.length]!.user.id), ids.map(() => 'hello'),
          ids.map((id) => id.slice(0, 8)), ids.map(() => null), [1], [users[3]!.user.username], ids.map(() => false), null,
          ids.map((_, i) => i % 3 === 0 ? 'note' : null), ids.map((_, i) => i % 3 === 0 ? '{"k":1}' : null),
          ids.map((_, i) => i % 2 === 0 ? root.id : null)])
      }
      // Enough calls on one connection for plpgsql to settle on a cached plan, while the tables are small.
      for (let i = 0; i < 12; i++) await postBatch(1 + (i % 3))
      await session.query(`INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, timeline_ord)
        SELECT gen_random_uuid(), $1, s, $2, 'old', now(), (SELECT timeline_count FROM conversations WHERE id = $1) + s - 999
          FROM generate_series(1000, 100000) AS s`, [group.id, users[0]!.user.id])
      await session.query('UPDATE conversations SET last_seq = last_seq + 100000, timeline_count = timeline_count + 99001 WHERE id = $1', [group.id])
      const scans = async () => {
        await session.query('SELECT pg_stat_force_next_flush()')
        await new Promise((r) => setTimeout(r, 50))
        const { rows } = await session.query(`SELECT relname, seq_scan::int AS n FROM pg_stat_user_tables
          WHERE relname IN ('messages', 'memberships', 'thread_members') ORDER BY relname`)
        return Object.fromEntries(rows.map((r: { relname: string, n: number }) => [r.relname, r.n]))
      }
      const before = await scans()
      for (const n of [1, 20, 1, 50]) {
        const { rows } = await postBatch(n)
        expect(rows.filter((r: { outcome: string | null }) => r.outcome === 'created')).toHaveLength(n)
      }
      expect(await scans()).toEqual(before)
    } finally {
      await session.end()
    }
  })

  it('plans the statement of post_messages once per connection, not again for every batch', async () => {
    // At low load a batch is one post, and planning this statement each call
    // cost more database CPU than running it (the latency collapse at 500
    // posts/s, README). auto_explain shows each plan used: a plan made for the
    // values of one call has its arrays inlined as constants, the reused
    // generic plan refers to the arguments as parameters ($1 ...).
    const users = await Promise.all(Array.from({ length: 2 }, () => register(api)))
    const group = await createGroup(api, users[0]!, users.slice(1))
    const session = new pg.Client(server.databaseUrl)
    await session.connect()
    const plans: string[] = []
    session.on('notice', (n) => { if (n.message?.includes('INSERT INTO messages') === true) plans.push(n.message) })
    try {
      await session.query("LOAD 'auto_explain'")
      await session.query('SET auto_explain.log_min_duration = 0')
      await session.query('SET auto_explain.log_nested_statements = on')
      await session.query('SET auto_explain.log_verbose = on')
      await session.query('SET client_min_messages = log')
      for (let i = 0; i < 10; i++) {
        const ids = Array.from({ length: 1 + (i % 3) }, () => randomUUID())
        await session.query('SELECT * FROM post_messages($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[])', [
          ids, ids.map(() => group.id), ids.map((_, j) => users[j % users.length]!.user.id), ids.map(() => 'hello'),
          ids.map(() => null), ids.map(() => null)])
      }
      await session.query('SET client_min_messages = notice')
      expect(plans).toHaveLength(10)
      const withConstants = plans.filter((p) => p.includes(group.id))
      expect(withConstants).toEqual([])
    } finally {
      await session.end()
    }
  })

  // Posts of one conversation take its row lock, so they see each other's
  // keys; a writer that does not (here: foreign keys switched off for the
  // session) can still commit a key while a batch waits on the unique index.
  it('answers with the original when another writer commits the same clientMessageId during the batch', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const other = new pg.Client(server.databaseUrl)
    await other.connect()
    try {
      await other.query("SET session_replication_role = 'replica'")
      await other.query('BEGIN')
      const id = randomUUID()
      await other.query(`INSERT INTO messages (id, conversation_id, seq, sender_id, body, client_message_id, created_at, timeline_ord)
        VALUES ($1, $2, 1000000, $3, 'written elsewhere', 'contested', now(), 1000000)`, [id, group.id, b.user.id])
      const answer = api.post(`/v1/conversations/${group.id}/messages`, { body: 'mine', clientMessageId: 'contested' }, { token: b.accessToken })
      // The batch is now waiting on the uncommitted key.
      await expect.poll(async () => (await server.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"))[0].n).toBe(1)
      await other.query('COMMIT')
      const res = await answer
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ id, body: 'written elsewhere', clientMessageId: 'contested' })
    } finally {
      await other.end()
    }
  })

  // A post the database refuses (here an id spelling that validation used to
  // let through) failed the whole group commit: others' valid posts got 500.
  it('one post the database refuses fails alone: every other post of its batch commits, and it answers 400', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => register(api)))
    const group = await createGroup(api, users[0]!, users.slice(1))
    const { messages } = server.app.chat
    const http = Promise.all(users.flatMap((u) => Array.from({ length: 5 }, (_, j) =>
      api.post(`/v1/conversations/${group.id}/messages`, { body: `http ${j}` }, { token: u.accessToken }))))
    // Submitted in one turn of the event loop, so they share one batch.
    const valid = [
      ...users.flatMap((u, i) => Array.from({ length: 5 }, (_, j) => messages.post(u.user.id, group.id, { body: `direct ${i}.${j}` }))),
      messages.post(users[2]!.user.id, group.id, { body: 'keyed', clientMessageId: 'same-key' })
    ]
    const bad = messages.post(users[1]!.user.id, group.id, { body: 'bad reply id', replyToId: `urn:uuid:${randomUUID()}` }).then(() => 'created', (err: unknown) => err)
    valid.push(
      messages.post(users[2]!.user.id, group.id, { body: 'keyed', clientMessageId: 'same-key' }),
      ...users.map((u, i) => messages.post(u.user.id, group.id, { body: `after ${i}` })))

    const settled = await Promise.allSettled(valid)
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([])
    const results = settled.map((s) => (s as PromiseFulfilledResult<Awaited<typeof valid[number]>>).value)
    const keyed = results.filter((r) => r.message.clientMessageId === 'same-key')
    expect(keyed.map((r) => r.created).sort()).toEqual([false, true])
    expect(keyed[0]!.message.id).toBe(keyed[1]!.message.id)
    expect(results.filter((r) => r.created)).toHaveLength(valid.length - 1)
    expect(await bad).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' })
    expect((await http).map((r) => r.status)).toEqual(Array.from({ length: 30 }, () => 201))

    const rows = await server.sql('SELECT seq FROM events WHERE conversation_id = $1 ORDER BY seq', [group.id])
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1))
    const [{ n }] = await server.sql('SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1', [group.id])
    expect(n).toBe(valid.length - 1 + 30)
  })

  // Splitting a failed batch must not turn an outage into one wait per post.
  it('when the database is unreachable, the whole batch answers UNAVAILABLE at once: no post is retried alone', async () => {
    let connections = 0
    const sockets = new Set<Socket>()
    const blackhole = createServer((socket) => { connections++; sockets.add(socket) }) // accepts, never answers
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve))
    const pool = new pg.Pool({ host: '127.0.0.1', port: (blackhole.address() as { port: number }).port, user: 'x', database: 'x', connectionTimeoutMillis: 300 })
    try {
      const batcher = createPostBatcher({ pool, publisher: { publishEvents: () => {}, publishRead: () => {}, publishThreadRead: () => {} } })
      const started = Date.now()
      const results = await Promise.allSettled(Array.from({ length: 40 }, () => batcher.submit(randomUUID(), randomUUID(), { body: 'x' })))
      expect(results.every((r) => r.status === 'rejected' && isDatabaseUnavailable(r.reason))).toBe(true)
      expect(connections).toBe(1)
      expect(Date.now() - started).toBeLessThan(5_000)
    } finally {
      await pool.end()
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => blackhole.close(resolve))
    }
  })

  it('a post does not wait for the main pool: with its only connection held by a blocked request, posts still commit and sockets get ready', async () => {
    const own = await startServer({ config: { databasePoolSize: 1 } })
    const ownApi = client(own.url)
    try {
      const [alice, bob] = [await register(ownApi), await register(ownApi)]
      const held = await createGroup(ownApi, alice, [bob])
      const other = await createGroup(ownApi, alice, [bob])
      const first = await post(ownApi, alice, held.id, 'to be edited')
      // A writer holds the group's row: the edit below waits for it on the main pool's one connection.
      const holder = new pg.Client({ connectionString: own.databaseUrl })
      await holder.connect()
      await holder.query('BEGIN')
      await holder.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [held.id])
      try {
        const edit = ownApi.patch(`/v1/conversations/${held.id}/messages/${first.id}`, { body: 'edited' }, { token: alice.accessToken })
        for (;;) {
          const [row] = await own.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND application_name = 'switchboard'")
          if (row.n > 0) break
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        // The main pool is exhausted, and stays so until the holder commits: the posts commit on their own connections.
        const posted = await Promise.all([post(ownApi, alice, other.id, 'one'), post(ownApi, bob, other.id, 'two')])
        expect(posted.map((m) => m.body)).toEqual(['one', 'two'])
        // Nor does a socket's ready frame, whose sync cursor is a snapshot taken on the same connections.
        const socket = await connect(own.url, bob.accessToken)
        try {
          const ready = await socket.next((f) => f.type === 'ready')
          expect(ready.cursor).toEqual(expect.any(String))
        } finally {
          await socket.close()
        }
        const [{ n }] = await own.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND application_name = 'switchboard'")
        expect(n).toBe(1)
        await holder.query('COMMIT')
        expect((await edit).status).toBe(200)
      } finally {
        await holder.end().catch(() => {})
      }
    } finally {
      await own.close()
    }
  })

  it('a post held past the statement timeout answers 503 UNAVAILABLE with Retry-After, not 500; its retry commits once', async () => {
    const own = await startServer({ config: { databaseStatementTimeoutMs: 500 } })
    const ownApi = client(own.url)
    try {
      const [alice, bob] = [await register(ownApi), await register(ownApi)]
      const group = await createGroup(ownApi, alice, [bob])
      const holder = new pg.Client({ connectionString: own.databaseUrl })
      await holder.connect()
      await holder.query('BEGIN')
      await holder.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [group.id])
      try {
        const posts = await Promise.all(['one', 'two', 'three'].map((body) =>
          ownApi.post(`/v1/conversations/${group.id}/messages`, { body, clientMessageId: `held-${body}` }, { token: bob.accessToken })))
        for (const r of posts) {
          expect(r).toMatchObject({ status: 503, body: { code: 'UNAVAILABLE' } })
          expect(r.headers.get('retry-after')).toBe('1')
        }
      } finally {
        await holder.query('COMMIT')
        await holder.end()
      }
      const retried = await ownApi.post(`/v1/conversations/${group.id}/messages`, { body: 'one', clientMessageId: 'held-one' }, { token: bob.accessToken })
      expect(retried).toMatchObject({ status: 201, body: { seq: 3, body: 'one' } })
      const [{ n }] = await own.sql('SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1', [group.id])
      expect(n).toBe(1)
    } finally {
      await own.close()
    }
  }, 30_000)

  it('the posts\' lane is open and has post_messages planned before the first request: a burst of posts opens no connection', async () => {
    const own = await startServer({ config: { postPoolSize: 2 } })
    const ownApi = client(own.url)
    const lane = async () => await own.sql<{ pid: number, query: string }>(
      "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'switchboard-lane' ORDER BY pid")
    try {
      // POST_POOL_SIZE + 1 connections, the last statement of each a call of post_messages (which stored nothing).
      const atStart = await lane()
      expect(atStart).toHaveLength(3)
      for (const c of atStart) expect(c.query).toContain('post_messages')
      expect(await own.sql('SELECT count(*)::int AS n FROM messages')).toEqual([{ n: 0 }])
      // Thirty posts at once from six senders (and their session checks, on the same connections): all commit, and
      // the lane is still the same connections, where a connection opened for a post would cost it the opening and
      // the planning of post_messages.
      const users = await Promise.all(Array.from({ length: 6 }, async () => await register(ownApi)))
      const group = await createGroup(ownApi, users[0]!, users.slice(1))
      const posted = await Promise.all(users.flatMap((u, i) => Array.from({ length: 5 }, async (_, j) =>
        await ownApi.post(`/v1/conversations/${group.id}/messages`, { body: `${i}-${j}` }, { token: u.accessToken }))))
      expect(posted.map((r) => r.status)).toEqual(posted.map(() => 201))
      expect((await lane()).map((c) => c.pid)).toEqual(atStart.map((c) => c.pid))
      // And they stay open when idle (the pool closes idle connections above its minimum only, after 30 s).
      expect(own.app.db.lane.options.min).toBe(3)
    } finally {
      await own.close()
    }
  })

  it('opening a lane\'s connections closes one whose preparing fails, keeps the others, and a later call opens the missing one', async () => {
    const pool = createPool({ connectionString: server.databaseUrl, max: 3, min: 3 })
    try {
      let calls = 0
      const prepared = await openConnections(pool, async (db) => {
        if (++calls === 2) throw new Error('refused')
        await db.query('SELECT 1')
      })
      expect(prepared).toBe(2)
      expect(pool.totalCount).toBe(2)
      expect(await openConnections(pool, async (db) => await db.query('SELECT 1'))).toBe(3)
      expect(pool.totalCount).toBe(3)
    } finally {
      await closePool(pool)
    }
  })
})
