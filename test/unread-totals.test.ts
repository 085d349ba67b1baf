// GET /v1/me/unread (issue 17): the counts for the app badge. Each
// conversation's counts are exactly those of its Conversation object (one
// rule, src/repositories/unread.ts); the total follows the notification
// settings (muted and level none add nothing, level mentions adds its
// mentions); the device push badge is the same figure; every device of the
// user reads the same numbers, and reading anywhere lowers them.
import { describe, expect, it } from 'vitest'
import { createDevicesRepository } from '../src/repositories/devices.js'
import { SYNC_FIRST_PAGE } from '../src/repositories/sync.js'
import { TOTALS, TOTALS_OF_ONE } from '../src/repositories/unread.js'
import { createClient } from '../src/client/index.js'
import { createDirect, createGroup, post } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { seedMessages } from './helpers/seed.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
async function unread (who: Account | string): Promise<any> {
  const res = await api.get('/v1/me/unread', { token: typeof who === 'string' ? who : who.accessToken })
  expect(res.status).toBe(200)
  return res.body
}
const byId = (list: any[]) => Object.fromEntries(list.map((c) => [c.id, c]))
const settle = (who: Account, c: string, settings: object) => api.put(`/v1/conversations/${c}/notifications`, settings, as(who))

/** The counts of every conversation of the caller, as GET /v1/conversations shows them. */
async function listed (who: Account): Promise<Record<string, { unreadCount: number, mentionCount: number }>> {
  const res = await api.get('/v1/conversations?limit=100', as(who))
  return Object.fromEntries(res.body.conversations.map((c: any) => [c.id, { unreadCount: c.unreadCount, mentionCount: c.mentionCount }]))
}

describe('GET /v1/me/unread', () => {
  it('lists the conversations with something unread, counted as their Conversation objects; the total follows the notification settings', async () => {
    const [me, a, b] = await users(3)
    const plain = await createGroup(api, a, [me, b], 'plain')
    const muted = await createGroup(api, a, [me], 'muted')
    const mentionsOnly = await createGroup(api, b, [me], 'mentions only')
    const silent = await createDirect(api, a, me)
    const quiet = await createGroup(api, a, [me], 'nothing unread')

    await post(api, a, plain.id, 'one')
    await post(api, b, plain.id, `two @${me.user.username}`)
    await post(api, me, plain.id, 'my own: never unread')
    const deleted = await post(api, a, plain.id, 'deleted: not unread')
    expect((await api.del(`/v1/conversations/${plain.id}/messages/${deleted.id}`, as(a))).status).toBe(200)
    await post(api, a, muted.id, `muted @${me.user.username}`)
    await post(api, a, muted.id, 'muted too')
    await post(api, b, mentionsOnly.id, 'no mention')
    await post(api, b, mentionsOnly.id, `hey @${me.user.username}`)
    await post(api, b, mentionsOnly.id, 'again no mention')
    await post(api, a, silent.id, 'direct')
    const read = await post(api, a, quiet.id, 'read already')
    expect((await api.post(`/v1/conversations/${quiet.id}/read`, { seq: read.seq }, as(me))).status).toBe(204)

    expect((await settle(me, muted.id, { level: 'all', muteUntil: new Date(Date.now() + 3_600_000).toISOString() })).status).toBe(200)
    expect((await settle(me, mentionsOnly.id, { level: 'mentions' })).status).toBe(200)
    expect((await settle(me, silent.id, { level: 'none' })).status).toBe(200)

    const body = await unread(me)
    const counts = listed(me)
    expect(byId(body.conversations)).toEqual({
      [plain.id]: { id: plain.id, unreadCount: 2, mentionCount: 1, threadUnreadCount: 0, badge: 2 },
      [muted.id]: { id: muted.id, unreadCount: 2, mentionCount: 1, threadUnreadCount: 0, badge: 0 },
      [mentionsOnly.id]: { id: mentionsOnly.id, unreadCount: 3, mentionCount: 1, threadUnreadCount: 0, badge: 1 },
      [silent.id]: { id: silent.id, unreadCount: 1, mentionCount: 0, threadUnreadCount: 0, badge: 0 }
    })
    expect(body.total).toBe(3)
    expect(body.mentions).toBe(2)
    // The same counts as each Conversation shows.
    const fromList = await counts
    for (const c of body.conversations) expect({ id: c.id, unreadCount: c.unreadCount, mentionCount: c.mentionCount }).toEqual({ id: c.id, ...fromList[c.id] })
    for (const [id, c] of Object.entries(fromList)) if (c.unreadCount === 0) expect(byId(body.conversations)[id]).toBeUndefined()

    // The user's own level decides where the conversation's is default.
    expect((await api.put('/v1/me/notifications', { level: 'mentions' }, as(me))).status).toBe(200)
    expect((await unread(me)).total).toBe(1 + 1)
    expect((await api.put('/v1/me/notifications', { level: 'all' }, as(me))).status).toBe(200)

    // The device push badge is the same figure.
    const devices = createDevicesRepository({ prisma: server.app.db.prisma, pool: server.app.db.pool })
    expect((await devices.badges([me.user.id])).get(me.user.id)).toBe(3)
  })

  it('is exact on every device: two sessions read the same numbers; reading on one lowers both; a removal drops the conversation', async () => {
    const [me, a] = await users(2)
    const group = await createGroup(api, a, [me])
    const other = await createGroup(api, a, [me])
    const phone = (await api.post('/v1/auth/login', { username: me.user.username, password: me.password })).body
    const posted = []
    for (let i = 0; i < 5; i++) posted.push(await post(api, a, group.id, `m${i}`))
    await post(api, a, other.id, `@${me.user.username} look`)
    const first = await unread(me)
    expect(await unread(phone.accessToken)).toEqual(first)
    expect(first.total).toBe(6)

    expect((await api.post(`/v1/conversations/${group.id}/read`, { seq: posted[2].seq }, { token: phone.accessToken })).status).toBe(204)
    const after = await unread(me)
    expect(after.total).toBe(3)
    expect(await unread(phone.accessToken)).toEqual(after)

    expect((await api.del(`/v1/conversations/${other.id}/members/${me.user.id}`, as(a))).status).toBe(204)
    expect(await unread(me)).toEqual({ total: 2, mentions: 0, threads: 0, conversations: [{ id: group.id, unreadCount: 2, mentionCount: 0, threadUnreadCount: 0, badge: 2 }], nextCursor: null })
  })

  it('SDK: me.unread()', async () => {
    const [me, a] = await users(2)
    const group = await createGroup(api, a, [me])
    await post(api, a, group.id, 'hi')
    const sdk = createClient({ baseUrl: server.url })
    await sdk.auth.login({ username: me.user.username, password: me.password })
    expect(await sdk.me.unread()).toEqual({ total: 1, mentions: 0, threads: 0, conversations: [{ id: group.id, unreadCount: 1, mentionCount: 0, threadUnreadCount: 0, badge: 1 }], nextCursor: null })
  })

  it('lists the conversations a page at a time (limit, cursor), by id, while the totals count every one of them', async () => {
    const [me, a] = await users(2)
    const groups: string[] = []
    for (let i = 0; i < 7; i++) {
      const g = await createGroup(api, a, [me], `paged ${i}`)
      await post(api, a, g.id, 'one')
      if (i % 2 === 0) await post(api, a, g.id, `two @${me.user.username}`)
      groups.push(g.id)
    }
    const all = await unread(me)
    expect(all).toMatchObject({ total: 11, mentions: 4, threads: 0, nextCursor: null })
    expect(all.conversations.map((c: any) => c.id)).toEqual([...groups].sort())
    const pages: any[] = []
    let cursor: string | null = null
    do {
      const res: { status: number, body: any } = await api.get(`/v1/me/unread?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`, as(me))
      expect(res.status).toBe(200)
      pages.push(res.body)
      cursor = res.body.nextCursor
    } while (cursor !== null)
    expect(pages.map((p) => p.conversations.length)).toEqual([3, 3, 1])
    for (const p of pages) expect(p).toMatchObject({ total: 11, mentions: 4, threads: 0 })
    expect(pages.flatMap((p) => p.conversations)).toEqual(all.conversations)
    for (const bad of ['limit=0', 'limit=101', 'cursor=nope']) expect((await api.get(`/v1/me/unread?${bad}`, as(me))).body.code).toBe('VALIDATION_FAILED')

    const sdk = createClient({ baseUrl: server.url })
    await sdk.auth.login({ username: me.user.username, password: me.password })
    const first = await sdk.me.unread({ limit: 2 })
    expect(first.conversations).toEqual(all.conversations.slice(0, 2))
    expect((await sdk.me.unread({ limit: 2, cursor: first.nextCursor! })).conversations).toEqual(all.conversations.slice(2, 4))
    expect(await sdk.me.unreadAll()).toEqual(all)
  })

  it('counts the replies of the threads the caller follows, apart from the conversation\'s own unread, and in the badge at level all', async () => {
    const [me, a] = await users(2)
    const group = await createGroup(api, a, [me], 'threads')
    const root = await post(api, me, group.id, 'my question')
    const reply = async (body: string) => {
      const res = await api.post(`/v1/conversations/${group.id}/messages`, { body, threadRootId: root.id }, as(a))
      expect(res.status).toBe(201)
      return res.body
    }
    await reply('an answer')
    const last = await reply('another answer')
    const body = await unread(me)
    // The replies are the thread's: the conversation's own unread stays 0, its threadUnreadCount is 2, and the badge counts them.
    expect(body).toEqual({ total: 2, mentions: 0, threads: 2, conversations: [{ id: group.id, unreadCount: 0, mentionCount: 0, threadUnreadCount: 2, badge: 2 }], nextCursor: null })
    const listedGroup = (await api.get('/v1/conversations?limit=100', as(me))).body.conversations.find((c: any) => c.id === group.id)
    expect({ unreadCount: listedGroup.unreadCount, threadUnreadCount: listedGroup.threadUnreadCount }).toEqual({ unreadCount: 0, threadUnreadCount: 2 })
    // Reading the thread clears them everywhere, the device push badge included.
    expect((await api.post(`/v1/conversations/${group.id}/messages/${root.id}/thread/read`, { seq: last.seq }, as(me))).status).toBe(204)
    expect(await unread(me)).toEqual({ total: 0, mentions: 0, threads: 0, conversations: [], nextCursor: null })
    expect((await createDevicesRepository(server.app.db).badges([me.user.id])).get(me.user.id)).toBe(0)
  })

  // The counts subtract numbers of the conversation's timeline instead of counting the messages after the read
  // position (migration timeline_ord): checked here against that plain count, over a history that has every
  // case the rule names, for members whose read positions and windows differ.
  it('equal the plain count of the rule, with deletions, own messages, thread replies, mentions, windows and read positions', async () => {
    const [a, b, c, late] = await users(4)
    const group = await createGroup(api, a, [b, c], 'mixed')
    const seen: any[] = []
    for (let i = 0; i < 30; i++) {
      const who = [a, b, c][i % 3]!
      const mention = i % 4 === 0 ? ` @${[a, b, c][(i + 1) % 3]!.user.username}` : ''
      const extra = i % 5 === 3 && seen.length > 0 ? { threadRootId: seen[0].id } : {}
      const m = await post(api, who, group.id, `m${i}${mention}`, extra)
      if (!('threadRootId' in extra)) seen.push(m)
      if (i === 12) expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [late.user.id] }, as(a))).status).toBe(200)
      if (i === 15) expect((await api.post(`/v1/conversations/${group.id}/read`, { seq: m.seq }, as(b))).status).toBe(204)
    }
    for (const m of [seen[2], seen[9], seen[seen.length - 2]]) {
      const sender = [a, b, c].find((u) => u.user.id === m.senderId)!
      expect((await api.del(`/v1/conversations/${group.id}/messages/${m.id}`, as(sender))).status).toBe(200)
    }
    // The plain count of unread.ts's rule, message by message.
    const plain = async (who: Account) => (await server.sql(`
      SELECT count(*)::int AS unread,
             count(*) FILTER (WHERE u.mentions_all OR $2::uuid = ANY (u.mentions))::int AS mentions
        FROM memberships m JOIN messages u ON u.conversation_id = m.conversation_id
       WHERE m.conversation_id = $1 AND m.user_id = $2 AND u.seq > m.last_read_seq AND u.seq >= m.joined_seq
         AND u.sender_id <> m.user_id AND u.deleted_at IS NULL AND u.thread_root_id IS NULL`, [group.id, who.user.id]))[0]
    for (const who of [a, b, c, late]) {
      const expected = await plain(who)
      expect(expected.unread).toBeGreaterThan(0)
      const got = (await listed(who))[group.id]
      expect({ who: who.user.username, ...got }).toEqual({ who: who.user.username, unreadCount: expected.unread, mentionCount: expected.mentions })
      const totals = byId((await unread(who)).conversations)[group.id]
      expect({ unreadCount: totals.unreadCount, mentionCount: totals.mentionCount }).toEqual(got)
    }
  })

  it('do not read the unread messages: a member with 5,000 unread costs what one with 5 does', async () => {
    const [me, a] = await users(2)
    const group = await createGroup(api, a, [me], 'busy and unread')
    await post(api, a, group.id, 'the first')
    await seedMessages(server, group.id, a.user.id, 5_000)
    await post(api, a, group.id, `and @${me.user.username}`)
    const body = await unread(me)
    expect(byId(body.conversations)[group.id]).toMatchObject({ unreadCount: 5_002, mentionCount: 1 })
    // The statements of the badge, as the server runs them (for many users, for one): the buffers they read do not
    // follow the 5,002 messages, with the plan made for this user or with the generic plan the server's connections
    // may keep for the one-user statement (planned once for any user).
    const buffers = (plan: any) => plan['Shared Hit Blocks'] + plan['Shared Read Blocks']
    const explain = async (sql: string, value: unknown) =>
      (await server.app.db.pool.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, [value])).rows[0]['QUERY PLAN'][0].Plan
    expect(buffers(await explain(TOTALS, [me.user.id]))).toBeLessThan(200)
    expect(buffers(await explain(TOTALS_OF_ONE, me.user.id))).toBeLessThan(200)
    // A sync's first page counts the badge in its own statement (repositories/sync.ts), from a cursor from before
    // everything here: its changes and its badge, without reading the unread messages either.
    const firstPage = [me.user.id, '1:1:', null, '00000000-0000-0000-0000-000000000000', 201, 0]
    const sync = (await server.app.db.pool.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${SYNC_FIRST_PAGE}`, firstPage)).rows[0]['QUERY PLAN'][0].Plan
    expect(buffers(sync)).toBeLessThan(300)
    const session = await server.app.db.pool.connect()
    try {
      await session.query('SET plan_cache_mode = force_generic_plan')
      await session.query(`PREPARE badge_generic (uuid) AS ${TOTALS_OF_ONE}`)
      const { rows } = await session.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE badge_generic('${me.user.id}')`)
      expect(buffers(rows[0]['QUERY PLAN'][0].Plan)).toBeLessThan(200)
      await session.query(`PREPARE sync_generic (uuid, pg_snapshot, pg_snapshot, uuid, int, int) AS ${SYNC_FIRST_PAGE}`)
      const generic = await session.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE sync_generic('${me.user.id}', '1:1:', NULL, '00000000-0000-0000-0000-000000000000', 201, 0)`)
      expect(buffers(generic.rows[0]['QUERY PLAN'][0].Plan)).toBeLessThan(300)
    } finally {
      await session.query('DEALLOCATE ALL').catch(() => {})
      await session.query('RESET plan_cache_mode').catch(() => {})
      session.release()
    }
  })
})
