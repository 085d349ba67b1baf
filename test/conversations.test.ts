// Conversations: direct (one per pair, also under a creation race) and groups,
// reading one, renaming, the list (order, cursor, no N+1) and read positions.
import { describe, expect, it } from 'vitest'
import { createDirect, createGroup, post } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { countQueries } from './helpers/queries.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)

describe('direct conversations', () => {
  it('creates one per pair: 201 first, then 200 with the same conversation from either side', async () => {
    const [a, b] = await users(2)
    const first = await api.post('/v1/conversations', { type: 'direct', userId: b.user.id }, as(a))
    expect(first.status).toBe(201)
    expect(first.body).toMatchObject({ type: 'direct', title: null, lastSeq: 2, lastMessage: null, unreadCount: 0 })
    expect(first.body.members.map((m: any) => m.user.id).sort()).toEqual([a.user.id, b.user.id].sort())
    expect(first.body.members[0]).toEqual({ user: expect.objectContaining({ id: expect.any(String), username: expect.any(String) }), role: 'member', lastReadSeq: 2, lastDeliveredSeq: 2, joinedAt: expect.any(String) })
    const again = await api.post('/v1/conversations', { type: 'direct', userId: b.user.id }, as(a))
    const reverse = await api.post('/v1/conversations', { type: 'direct', userId: a.user.id }, as(b))
    expect([again.status, reverse.status]).toEqual([200, 200])
    expect(again.body.id).toBe(first.body.id)
    expect(reverse.body.id).toBe(first.body.id)
  })

  it('stays one conversation when both users open it at the same time', async () => {
    const [a, b] = await users(2)
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      api.post('/v1/conversations', { type: 'direct', userId: (i % 2 === 0 ? b : a).user.id }, as(i % 2 === 0 ? a : b))))
    expect(results.filter((r) => r.status === 201)).toHaveLength(1)
    expect(results.every((r) => r.status === 201 || r.status === 200)).toBe(true)
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1)
    const rows = await server.sql('SELECT count(*)::int AS n FROM conversations WHERE direct_key = $1', [[a.user.id, b.user.id].sort().join(':')])
    expect(rows[0].n).toBe(1)
    const events = await server.sql('SELECT count(*)::int AS n FROM events WHERE conversation_id = $1', [results[0]!.body.id])
    expect(events[0].n).toBe(2)
  })

  it('refuses the caller themself (400), an unknown user (404) and malformed bodies (400)', async () => {
    const [a] = await users(1)
    expectError(await api.post('/v1/conversations', { type: 'direct', userId: a.user.id }, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.post('/v1/conversations', { type: 'direct', userId: '01890000-0000-7000-8000-000000000000' }, as(a)), 404, 'NOT_FOUND')
    expectError(await api.post('/v1/conversations', { type: 'direct' }, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.post('/v1/conversations', { type: 'direct', userId: 'not-a-uuid' }, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.post('/v1/conversations', { type: 'channel', userId: a.user.id }, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.post('/v1/conversations', { userId: a.user.id }, as(a)), 400, 'VALIDATION_FAILED')
  })
})

describe('groups', () => {
  it('creates a group: the caller is owner, members are deduplicated, events start at seq 1 (the others in one members.added)', async () => {
    const [a, b, c] = await users(3)
    const res = await api.post('/v1/conversations', { type: 'group', title: '  Team  ', memberIds: [b.user.id, c.user.id, b.user.id, a.user.id] }, as(a))
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ type: 'group', title: 'Team', lastSeq: 2, lastMessage: null, unreadCount: 0 })
    const roles = Object.fromEntries(res.body.members.map((m: any) => [m.user.id, m.role]))
    expect(roles).toEqual({ [a.user.id]: 'owner', [b.user.id]: 'member', [c.user.id]: 'member' })
    const events = await api.get(`/v1/conversations/${res.body.id}/events`, as(c))
    expect(events.body.events.map((e: any) => [e.seq, e.type, e.data])).toEqual([
      [1, 'member.added', { userId: a.user.id, by: a.user.id }],
      [2, 'members.added', { userIds: [b.user.id, c.user.id], by: a.user.id }]
    ])
  })

  it('counts a title after trimming (API.md): 100 characters with padding are accepted, on creation and rename', async () => {
    const [a] = await users(1)
    const title = 't'.repeat(100)
    const created = await api.post('/v1/conversations', { type: 'group', title: `  ${title}\n` }, as(a))
    expect(created.status).toBe(201)
    expect(created.body.title).toBe(title)
    const renamed = await api.patch(`/v1/conversations/${created.body.id}`, { title: `\t${'r'.repeat(100)}  ` }, as(a))
    expect(renamed.status).toBe(200)
    expect(renamed.body.title).toBe('r'.repeat(100))
    expectError(await api.patch(`/v1/conversations/${created.body.id}`, { title: 'r'.repeat(101) }, as(a)), 400, 'VALIDATION_FAILED')
    const registered = await api.post('/v1/auth/register', { username: `pad${Date.now() % 1_000_000}`, password: 'correct horse battery', displayName: ` ${'d'.repeat(64)} ` })
    expect(registered.status).toBe(201)
    expect(registered.body.user.displayName).toBe('d'.repeat(64))
  })

  it('allows a group of one, and answers 404 for unknown member ids', async () => {
    const [a] = await users(1)
    const alone = await api.post('/v1/conversations', { type: 'group', title: 'Notes' }, as(a))
    expect(alone.status).toBe(201)
    expect(alone.body.members).toHaveLength(1)
    expectError(await api.post('/v1/conversations', { type: 'group', title: 'x', memberIds: ['01890000-0000-7000-8000-000000000000'] }, as(a)), 404, 'NOT_FOUND')
  })

  it.each([
    [{ type: 'group' }, "must have required property 'title'"],
    [{ type: 'group', title: '' }, 'body/title must NOT have fewer than 1 characters'],
    [{ type: 'group', title: '   ' }, 'body/title must NOT have fewer than 1 characters'],
    [{ type: 'group', title: 't'.repeat(101) }, 'body/title must NOT have more than 100 characters'],
    [{ type: 'group', title: 't', memberIds: ['nope'] }, 'body/memberIds/0 must match format "uuid"'],
    [{ type: 'group', title: 't', memberIds: 'x' }, 'body/memberIds must be array']
  ])('rejects %j with VALIDATION_FAILED', async (body, message) => {
    const [a] = await users(1)
    const res = await api.post('/v1/conversations', body, as(a))
    expectError(res, 400, 'VALIDATION_FAILED')
    expect(res.body.message).toContain(message)
  })

  it('renames a group (owner, admin), writes conversation.updated; a plain member gets 403, a direct conversation 403', async () => {
    const [a, b, c] = await users(3)
    const group = await createGroup(api, a, [b, c], 'Old')
    const renamed = await api.patch(`/v1/conversations/${group.id}`, { title: ' New ' }, as(a))
    expect(renamed.status).toBe(200)
    expect(renamed.body).toMatchObject({ id: group.id, title: 'New', lastSeq: 3 })
    const events = await api.get(`/v1/conversations/${group.id}/events?after=2`, as(b))
    expect(events.body.events).toEqual([{
      conversationId: group.id, seq: 3, type: 'conversation.updated', createdAt: expect.any(String),
      data: { id: group.id, type: 'group', title: 'New', createdAt: group.createdAt, lastSeq: 3, pictureUrl: null, public: false }
    }])
    // The same title again changes nothing.
    expect((await api.patch(`/v1/conversations/${group.id}`, { title: 'New' }, as(a))).body.lastSeq).toBe(3)
    expectError(await api.patch(`/v1/conversations/${group.id}`, { title: 'Mine' }, as(b)), 403, 'FORBIDDEN')
    await api.patch(`/v1/conversations/${group.id}/members/${b.user.id}`, { role: 'admin' }, as(a))
    expect((await api.patch(`/v1/conversations/${group.id}`, { title: 'By admin' }, as(b))).body.title).toBe('By admin')
    expectError(await api.patch(`/v1/conversations/${group.id}`, { title: '' }, as(a)), 400, 'VALIDATION_FAILED')
    const direct = await createDirect(api, a, c)
    expectError(await api.patch(`/v1/conversations/${direct.id}`, { title: 'x' }, as(a)), 403, 'FORBIDDEN')
  })
})

describe('GET /v1/conversations/:id', () => {
  it('returns the conversation with its last message and the caller\'s unread count', async () => {
    const [a, b] = await users(2)
    const group = await createGroup(api, a, [b])
    await post(api, a, group.id, 'one')
    const last = await post(api, a, group.id, 'two')
    const res = await api.get(`/v1/conversations/${group.id}`, as(b))
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: group.id, lastSeq: last.seq, lastMessage: last, unreadCount: 2 })
    expect((await api.get(`/v1/conversations/${group.id}`, as(a))).body.unreadCount).toBe(0)
  })
})

describe('read positions and unread counts', () => {
  it("counts others' non-deleted messages after lastReadSeq; the position only moves forward and stops at lastSeq", async () => {
    const [a, b, c] = await users(3)
    const group = await createGroup(api, a, [b, c])
    const fromB = []
    for (const text of ['b1', 'b2', 'b3']) fromB.push(await post(api, b, group.id, text))
    await post(api, c, group.id, 'c1')
    await post(api, a, group.id, 'own message')
    const unread = async () => (await api.get(`/v1/conversations/${group.id}`, as(a))).body
    expect((await unread()).unreadCount).toBe(4)
    await api.del(`/v1/conversations/${group.id}/messages/${fromB[0].id}`, as(b))
    expect((await unread()).unreadCount).toBe(3)

    expect((await api.post(`/v1/conversations/${group.id}/read`, { seq: fromB[1].seq }, as(a))).status).toBe(204)
    let view = await unread()
    expect(view.unreadCount).toBe(2)
    expect(view.members.find((m: any) => m.user.id === a.user.id).lastReadSeq).toBe(fromB[1].seq)

    // Backwards does nothing.
    const back = await api.post(`/v1/conversations/${group.id}/read`, { seq: 1 }, as(a))
    expect(back.status).toBe(204)
    expect(back.body).toBe('')
    view = await unread()
    expect(view.members.find((m: any) => m.user.id === a.user.id).lastReadSeq).toBe(fromB[1].seq)

    // Past the end: clamped to lastSeq.
    await api.post(`/v1/conversations/${group.id}/read`, { seq: 1_000_000 }, as(a))
    view = await unread()
    expect(view.unreadCount).toBe(0)
    expect(view.members.find((m: any) => m.user.id === a.user.id).lastReadSeq).toBe(view.lastSeq)
    expect(view.members.find((m: any) => m.user.id === b.user.id).lastReadSeq).toBe(group.lastSeq)
  })

  it('validates seq', async () => {
    const [a] = await users(1)
    const group = await createGroup(api, a, [])
    for (const body of [{}, { seq: -1 }, { seq: 1.5 }, { seq: '3' }, { seq: 2 ** 31 }]) {
      expectError(await api.post(`/v1/conversations/${group.id}/read`, body, as(a)), 400, 'VALIDATION_FAILED')
    }
  })
})

describe('GET /v1/conversations', () => {
  it('lists the most recently active first and pages with an opaque cursor', async () => {
    const [a, b] = await users(2)
    const created = []
    for (let i = 0; i < 7; i++) created.push(await createGroup(api, a, [b], `g${i}`))
    // Activity in the oldest moves it to the top.
    await post(api, b, created[0].id, 'bump')
    const expected = [created[0], ...created.slice(1).reverse()].map((c) => c.id)

    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const query: string = `?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`
      const res = await api.get(`/v1/conversations${query}`, as(a))
      expect(res.status).toBe(200)
      seen.push(...res.body.conversations.map((c: any) => c.id))
      cursor = res.body.nextCursor
      pages++
    } while (cursor !== null)
    expect(pages).toBe(3)
    expect(seen).toEqual(expected)
    const first = (await api.get('/v1/conversations?limit=1', as(a))).body.conversations[0]
    expect(first).toMatchObject({ id: created[0].id, unreadCount: 1, lastMessage: { body: 'bump' } })
    expect(first.members).toHaveLength(2)
  })

  it('defaults to 50 and validates limit and cursor', async () => {
    const [a] = await users(1)
    const empty = await api.get('/v1/conversations', as(a))
    expect(empty.body).toEqual({ conversations: [], nextCursor: null })
    for (const q of ['limit=0', 'limit=101', 'limit=x', 'cursor=garbage', `cursor=${Buffer.from('2020-01-01T00:00:00.000Z|nope').toString('base64url')}`]) {
      expectError(await api.get(`/v1/conversations?${q}`, as(a)), 400, 'VALIDATION_FAILED')
    }
  })

  it('costs the same number of queries for a page of 2 as for a page of 20 (no N+1)', async () => {
    const [a, ...others] = await users(4)
    for (let i = 0; i < 20; i++) {
      const group = await createGroup(api, a, others, `q${i}`)
      await post(api, others[i % 3]!, group.id, `hello ${i}`)
    }
    await api.get('/v1/me', as(a)) // the session check is cached from here on
    let small: any, large: any
    const two = await countQueries(async () => { small = await api.get('/v1/conversations?limit=2', as(a)) })
    const twenty = await countQueries(async () => { large = await api.get('/v1/conversations?limit=20', as(a)) })
    expect(small.body.conversations).toHaveLength(2)
    expect(large.body.conversations).toHaveLength(20)
    expect(large.body.conversations.every((c: any) => c.members.length === 4 && c.unreadCount === 1 && c.lastMessage !== null)).toBe(true)
    expect(two.count).toBeGreaterThan(0)
    expect(twenty.count).toBe(two.count)
    expect(twenty.count).toBeLessThanOrEqual(4)
  })
})
