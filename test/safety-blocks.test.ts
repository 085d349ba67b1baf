// Blocking, over real HTTP and WebSocket against real PostgreSQL: what a
// blocked user can no longer do or see, and what stays (the shared log).
import { createServer, type Server } from 'node:http'
import { afterAll, describe, expect, it } from 'vitest'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, uniqueName, type Account, type Client } from './helpers/http.js'
import { countQueries, rowsRead } from './helpers/queries.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'
import { allPages, badPageQueries, newestFirst } from './helpers/pages.js'

let server: TestServer
let api: Client
const opened: TestSocket[] = []

// A webhook receiver that accepts everything: the test reads the queued jobs.
// Listening before the server starts, as its address is the server's setting.
const hook: Server = createServer((req, res) => { req.resume(); req.on('end', () => { res.statusCode = 204; res.end() }) })
await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve))
const url = `http://127.0.0.1:${(hook.address() as { port: number }).port}/push`

test.override('serverOptions', {
  config: { presenceGraceMs: 50, pushWebhook: { url, secret: 'webhook-secret-for-tests-0123456789', timeoutMs: 2000, retryLimit: 1, retryDelaySeconds: 1, previewChars: 10 } }
})
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  for (const s of opened) await s.close()
  await new Promise<void>((resolve) => hook.close(() => resolve()))
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const block = (who: Account, target: Account) => api.put(`/v1/me/blocks/${target.user.id}`, undefined, as(who))

async function until (check: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('the block list', () => {
  it('blocks, lists, unblocks; blocking twice or unblocking twice changes nothing; bad targets are 4xx', async () => {
    const [a, b, c] = await users(3)
    expect((await block(a, b)).status).toBe(204)
    expect((await block(a, b)).status).toBe(204)
    expect((await block(a, c)).status).toBe(204)
    const list = (await api.get('/v1/me/blocks', as(a))).body
    expect(list.blocks.map((x: any) => x.userId)).toEqual([c.user.id, b.user.id])
    expect(list.blocks[0]).toMatchObject({ username: c.user.username, displayName: c.user.displayName })
    expect((await api.del(`/v1/me/blocks/${b.user.id}`, as(a))).status).toBe(204)
    expect((await api.del(`/v1/me/blocks/${b.user.id}`, as(a))).status).toBe(204)
    expect((await api.get('/v1/me/blocks', as(a))).body.blocks.map((x: any) => x.userId)).toEqual([c.user.id])
    expect((await api.get('/v1/me/blocks', as(b))).body.blocks).toEqual([])
    expectError(await block(a, a), 400, 'VALIDATION_FAILED')
    expectError(await api.put('/v1/me/blocks/01890000-0000-7000-8000-000000000000', undefined, as(a)), 404, 'NOT_FOUND')
    expectError(await api.put('/v1/me/blocks/nope', undefined, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/me/blocks'), 401, 'UNAUTHORIZED')
  })
})

const blockPages = (who: Account, limit: number) => allPages(api, who, '/v1/me/blocks', 'blocks', limit)

describe('the block list in pages', () => {
  it('pages 7 blocks 3 at a time: each exactly once, most recent first then user id, nextCursor null on the last page', async () => {
    const [a, ...targets] = await users(8)
    for (const t of targets) expect((await block(a, t)).status).toBe(204)
    // Runs sharing one created_at, so the order falls back to the user id.
    const at = ['2026-03-01T10:00:00.000Z', '2026-03-01T10:00:00.000Z', '2026-03-01T10:00:00.000Z', '2026-03-02T10:00:00.000Z',
      '2026-03-03T10:00:00.000Z', '2026-03-03T10:00:00.000Z', '2026-02-01T10:00:00.000Z']
    const rows = targets.map((t, i) => ({ id: t.user.id, at: at[i]! }))
    await server.sql(`UPDATE blocks b SET created_at = t.at FROM unnest($2::uuid[], $3::timestamptz[]) AS t(id, at)
      WHERE b.blocker_id = $1 AND b.blocked_id = t.id`, [a.user.id, rows.map((r) => r.id), rows.map((r) => r.at)])
    const expected = newestFirst(rows)

    const { pages, ids } = await blockPages(a, 3)
    expect(pages.map((p) => p.blocks.length)).toEqual([3, 3, 1])
    expect(pages.map((p) => typeof p.nextCursor)).toEqual(['string', 'string', 'object'])
    expect(pages.at(-1)!.nextCursor).toBeNull()
    expect(ids).toEqual(expected)
    const byId = new Map(rows.map((r) => [r.id, r.at]))
    for (const b of pages.flatMap((p) => p.blocks)) expect(b.blockedAt).toBe(byId.get(b.userId))

    // A page that ends exactly at the last block says so; no limit: the default page of 50, all of them.
    expect((await api.get('/v1/me/blocks?limit=7', as(a))).body.nextCursor).toBeNull()
    const whole = (await api.get('/v1/me/blocks', as(a))).body
    expect({ ids: whole.blocks.map((b: any) => b.userId), nextCursor: whole.nextCursor }).toEqual({ ids: expected, nextCursor: null })

    // A cursor stays good when the block it names is lifted: the next page is the same.
    await api.del(`/v1/me/blocks/${expected[2]}`, as(a))
    const next = (await api.get(`/v1/me/blocks?limit=3&cursor=${pages[0]!.nextCursor}`, as(a))).body
    expect(next.blocks.map((b: any) => b.userId)).toEqual(expected.slice(3, 6))
  })

  it('refuses bad cursors and limits with 400 VALIDATION_FAILED', async () => {
    const [a] = await users(1)
    for (const q of badPageQueries(a.user.id)) expectError(await api.get(`/v1/me/blocks?${q}`, as(a)), 400, 'VALIDATION_FAILED')
    expect((await api.get('/v1/me/blocks?limit=100', as(a))).status).toBe(200)
  })

  it('costs the same at any depth: a shallow or a deep page of 5,000 blocks reads only its own rows', async () => {
    const [a] = await users(1)
    const prefix = uniqueName('bl')
    const N = 5000
    await server.sql(`INSERT INTO users (id, username, display_name, password_hash, created_at)
      SELECT gen_random_uuid(), $1 || '_' || i, 'Blocked ' || i, 'not-a-hash', now() FROM generate_series(1, $2::int) AS i`, [prefix, N])
    // In runs of 7 sharing one created_at.
    await server.sql(`INSERT INTO blocks (blocker_id, blocked_id, created_at)
      SELECT $1, u.id, now() - interval '1 day' + (u.n / 7) * interval '1 second'
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users WHERE username LIKE $2 || '\\_%') u`, [a.user.id, prefix])
    // As autovacuum would after such a load: the planner then knows this blocker has many rows.
    await server.sql('ANALYZE blocks')
    const { pages, ids } = await blockPages(a, 100)
    expect(ids).toHaveLength(N)
    expect(new Set(ids).size).toBe(N)
    const rows = await server.sql<{ id: string, at: Date }>('SELECT blocked_id AS id, created_at AS at FROM blocks WHERE blocker_id = $1', [a.user.id])
    expect(ids).toEqual(newestFirst(rows.map((r) => ({ id: r.id, at: r.at.toISOString() }))))

    for (const cursor of [pages[0]!.nextCursor, pages.at(-3)!.nextCursor]) {
      let res: any
      const { statements } = await countQueries(async () => { res = await api.get(`/v1/me/blocks?limit=50&cursor=${cursor}`, as(a)) })
      expect(res.body.blocks).toHaveLength(50)
      // The page and the one row that tells whether there is more.
      const read = await rowsRead(server.sql, statements, 'blocks')
      expect(read).toBeGreaterThanOrEqual(50)
      expect(read).toBeLessThanOrEqual(51)
    }
  }, 60_000)
})

describe('a blocked user', () => {
  it('cannot open or post into a direct conversation with the blocker (403 BLOCKED); the blocker still can; unblocking lifts it', async () => {
    const [a, b, c] = await users(3)
    const direct = await createDirect(api, a, b)
    await block(a, b)
    expectError(await api.post(`/v1/conversations/${direct.id}/messages`, { body: 'hi' }, as(b)), 403, 'BLOCKED')
    await post(api, a, direct.id, 'from the blocker')
    await block(c, b)
    expectError(await api.post('/v1/conversations', { type: 'direct', userId: c.user.id }, as(b)), 403, 'BLOCKED')
    await api.del(`/v1/me/blocks/${b.user.id}`, as(a))
    await post(api, b, direct.id, 'after unblock')
    // Nothing of the refused post reached the log.
    expect((await replay(api, a, direct.id)).filter((e) => e.type === 'message.created').map((e) => e.data.body)).toEqual(['from the blocker', 'after unblock'])
  })

  it('is refused in a batch while other posts of the same batch go through', async () => {
    const [a, b, c] = await users(3)
    const direct = await createDirect(api, a, b)
    const other = await createDirect(api, c, b)
    await block(a, b)
    const results = await Promise.all([
      api.post(`/v1/conversations/${direct.id}/messages`, { body: 'x' }, as(b)),
      api.post(`/v1/conversations/${other.id}/messages`, { body: 'y' }, as(b)),
      api.post(`/v1/conversations/${direct.id}/messages`, { body: 'z' }, as(a))
    ])
    expect(results.map((r) => r.status)).toEqual([403, 201, 201])
  })

  it('cannot add the blocker to a group, nor create a group with them (403 BLOCKED)', async () => {
    const [a, b, c] = await users(3)
    await block(a, b)
    expectError(await api.post('/v1/conversations', { type: 'group', title: 'g', memberIds: [a.user.id, c.user.id] }, as(b)), 403, 'BLOCKED')
    const group = await createGroup(api, b, [c])
    expectError(await api.post(`/v1/conversations/${group.id}/members`, { userIds: [a.user.id] }, as(b)), 403, 'BLOCKED')
    // The blocker may add the blocked user.
    const theirs = await createGroup(api, a, [c])
    expect((await api.post(`/v1/conversations/${theirs.id}/members`, { userIds: [b.user.id] }, as(a))).status).toBe(200)
  })

  it("does not see the blocker's typing, read receipts or presence; others still do; messages in a shared group stay in the log", async () => {
    const [a, b, c] = await users(3)
    const group = await createGroup(api, a, [b, c])
    await block(a, b)
    const sb = await connectReady(server.url, b.accessToken, opened)
    const sc = await connectReady(server.url, c.accessToken, opened)
    const typing = (f: any) => f.type === 'typing' && f.data.userId === a.user.id
    const read = (f: any) => f.type === 'read' && f.data.userId === a.user.id
    const presence = (f: any) => f.type === 'presence' && f.data.userId === a.user.id && f.data.online === true

    const sa = await connectReady(server.url, a.accessToken, opened)
    await sc.next(presence)
    sa.send({ type: 'typing', conversationId: group.id })
    await sc.next(typing)
    const m = await post(api, b, group.id, 'from the blocked user')
    await api.post(`/v1/conversations/${group.id}/read`, { seq: m.seq }, as(a))
    await sc.next(read)
    await sb.none((f) => typing(f) || read(f) || presence(f), 300)
    expect(sb.frames.filter((f) => typing(f) || read(f) || presence(f))).toEqual([])

    // Nor over REST: the blocker's profile shows the blocked user no presence; others see it.
    expect((await api.get(`/v1/users/${a.user.id}`, as(b))).body).toMatchObject({ online: false, lastSeenAt: null })
    expect((await api.get(`/v1/users/${a.user.id}`, as(c))).body).toMatchObject({ online: true })

    // The blocked user's message is in the blocker's log, as it was posted.
    const events = await replay(api, a, group.id)
    expect(events.find((e) => e.seq === m.seq)).toMatchObject({ type: 'message.created', data: { body: 'from the blocked user', senderId: b.user.id } })
    // And the blocker still sees the blocked user's typing.
    sb.send({ type: 'typing', conversationId: group.id })
    await sa.next((f) => f.type === 'typing' && f.data.userId === b.user.id)
  })

  it('in their direct conversation, where the blocked user cannot post, their typing is not relayed either', async () => {
    const [a, b] = await users(2)
    const direct = await createDirect(api, a, b)
    await block(a, b)
    const sa = await connectReady(server.url, a.accessToken, opened)
    const sb = await connectReady(server.url, b.accessToken, opened)
    sb.send({ type: 'typing', conversationId: direct.id })
    // Dropped without an error (the client is not misbehaving), and the socket goes on.
    sb.send({ type: 'ping' })
    await sb.next((f) => f.type === 'pong')
    await sa.none((f) => f.type === 'typing', 300)
    expect(sb.frames.filter((f) => f.type === 'error')).toEqual([])
  })

  it('sends the blocker no offline notification of their messages', async () => {
    const [a, b, c] = await users(3)
    const group = await createGroup(api, c, [a, b])
    await block(a, b)
    const fromB = await post(api, b, group.id, 'blocked speaks')
    const fromC = await post(api, c, group.id, 'friend speaks')
    const jobs = async (messageId: string) => (await server.sql<{ r: string }>(
      "SELECT data->>'recipientId' AS r FROM pgboss.job WHERE name = 'push-webhook' AND data->>'messageId' = $1", [messageId])).map((j) => j.r).sort()
    // Jobs of one message are queued together: C's job for B's message means A's would be there too.
    await until(async () => (await jobs(fromB.id)).length > 0 && (await jobs(fromC.id)).length > 0, 'the jobs')
    expect(await jobs(fromB.id)).toEqual([c.user.id])
    expect(await jobs(fromC.id)).toEqual([a.user.id, b.user.id].sort())
  })
})
