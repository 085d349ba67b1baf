// Public channels (issue 18): a group made public at creation or later by its
// owner or an admin (conversation.updated shows it), listed by
// GET /v1/channels with member counts and a title search, joined with
// POST /v1/conversations/:id/join (member.added with by = the joiner, pushed
// to the members); banned users refused; joining twice changes nothing;
// private groups and direct conversations never listed nor joinable.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { createClient } from '../src/client/index.js'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const tag = () => `chan${randomBytes(4).toString('hex')}`

async function createChannel (owner: Account, title: string, members: Account[] = []): Promise<any> {
  const res = await api.post('/v1/conversations', { type: 'group', title, memberIds: members.map((m) => m.user.id), public: true }, as(owner))
  expect(res.status).toBe(201)
  return res.body
}
async function listChannels (who: Account, params: Record<string, string | number> = {}): Promise<{ channels: any[], nextCursor: string | null }> {
  const q = new URLSearchParams(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])))
  const res = await api.get(`/v1/channels?${q.toString()}`, as(who))
  if (res.status !== 200) throw new Error(`channels: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}
const join = (who: Account, id: string) => api.post(`/v1/conversations/${id}/join`, undefined, as(who))

/**
 * Runs `fn` while another transaction holds the conversation's row lock, as a
 * long post batch or moderation change would. A request that needs the lock
 * waits for it, so `fn` sees its answer only if it never asked for the lock
 * (given 20 s, to tell waiting from a slow machine).
 */
async function whileLocked<T> (conversationId: string, request: () => Promise<T>): Promise<T | 'waited for the lock'> {
  const holder = new pg.Client({ connectionString: server.databaseUrl })
  await holder.connect()
  try {
    await holder.query('BEGIN')
    await holder.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [conversationId])
    const answer = request()
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<'waited for the lock'>((resolve) => { timer = setTimeout(() => resolve('waited for the lock'), 20_000) })
    const first = await Promise.race([answer, waited])
    clearTimeout(timer)
    await holder.query('ROLLBACK')
    await answer
    return first
  } finally {
    await holder.end()
  }
}

describe('public groups', () => {
  it('are public from creation or by the owner or an admin later, shown by conversation.updated; members cannot change it', async () => {
    const [owner, admin, member] = await users(3)
    const t = tag()
    const open = await createChannel(owner, `${t} open`)
    expect(open.public).toBe(true)
    const g = await createGroup(api, owner, [admin, member], `${t} private`)
    expect(g.public).toBe(false)
    expect((await api.patch(`/v1/conversations/${g.id}/members/${admin.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
    const socket = await connectReady(server.url, member.accessToken, sockets)
    const res = await api.patch(`/v1/conversations/${g.id}`, { public: true }, as(admin))
    expect(res.status).toBe(200)
    expect(res.body.public).toBe(true)
    const frame = await socket.next((f) => f.type === 'conversation.updated' && f.conversationId === g.id, 20_000)
    expect(frame.data).toMatchObject({ id: g.id, public: true, title: `${t} private` })
    expect((await replay(api, member, g.id)).filter((e) => e.type === 'conversation.updated').map((e) => e.data.public)).toEqual([true])
    expectError(await api.patch(`/v1/conversations/${g.id}`, { public: false }, as(member)), 403, 'FORBIDDEN')
    // Unchanged: no event.
    const before = (await api.get(`/v1/conversations/${g.id}`, as(owner))).body.lastSeq
    expect((await api.patch(`/v1/conversations/${g.id}`, { public: true }, as(owner))).body.lastSeq).toBe(before)
    expect((await api.patch(`/v1/conversations/${g.id}`, { public: false }, as(owner))).body.public).toBe(false)
    // A direct conversation is never public.
    const [x] = await users(1)
    expectError(await api.post('/v1/conversations', { type: 'direct', userId: x.user.id, public: true }, as(owner)), 400, 'VALIDATION_FAILED')
    const d = await createDirect(api, owner, x)
    expect(d.public).toBe(false)
    expectError(await api.patch(`/v1/conversations/${d.id}`, { public: true }, as(owner)), 403, 'FORBIDDEN')
  })
})

describe('GET /v1/channels', () => {
  it('lists public groups only, newest first, with member counts and whether the caller joined; finds them by title', async () => {
    const [owner, b, c, viewer] = await users(4)
    const t = tag()
    const first = await createChannel(owner, `${t} Rust lovers`, [b])
    const second = await createChannel(owner, `${t} rustaceans`, [b, c])
    await createGroup(api, owner, [b], `${t} rust private`)
    const found = await listChannels(viewer, { query: t })
    expect(found.channels.map((ch) => ch.id)).toEqual([second.id, first.id])
    expect(found.channels[0]).toEqual({ id: second.id, title: `${t} rustaceans`, createdAt: second.createdAt, memberCount: 3, pictureUrl: null, joined: false })
    expect(found.channels[1]).toMatchObject({ memberCount: 2, joined: false })
    expect((await listChannels(b, { query: `${t} RUST L` })).channels).toEqual([{ ...found.channels[1], joined: true }])
    // Everyone's directory holds them (newest first), never the private one.
    const all = await listChannels(viewer, { limit: 100 })
    expect(all.channels.map((ch) => ch.id)).toEqual(expect.arrayContaining([first.id, second.id]))
    expect(all.channels.some((ch) => ch.title === `${t} rust private`)).toBe(false)
  })

  it('pages without loss or duplicates, and refuses bad queries and cursors', async () => {
    const [owner, viewer] = await users(2)
    const t = tag()
    const made: string[] = []
    for (let i = 0; i < 7; i++) made.push((await createChannel(owner, `${t} ${i}`)).id)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: { channels: any[], nextCursor: string | null } = await listChannels(viewer, { query: t, limit: 3, ...(cursor === null ? {} : { cursor }) })
      seen.push(...page.channels.map((ch) => ch.id))
      cursor = page.nextCursor
    } while (cursor !== null)
    expect(seen).toEqual([...made].reverse())
    expectError(await api.get('/v1/channels?query=ab', as(viewer)), 400, 'INVALID_QUERY')
    expectError(await api.get('/v1/channels?cursor=nope', as(viewer)), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/channels?limit=0', as(viewer)), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/channels'), 401, 'UNAUTHORIZED')
    // % and _ are literal.
    expect((await listChannels(viewer, { query: `${t}%` })).channels).toEqual([])
  })

  it('counts a query in characters after trimming, as titles are counted: emoji are one each, and past 100 either way is INVALID_QUERY', async () => {
    const [owner, viewer] = await users(2)
    const t = tag()
    // A title of 100 characters, 90 of them emoji (two UTF-16 units each).
    const emoji = '🎉'.repeat(90)
    const made = await createChannel(owner, `${t.slice(0, 10)}${emoji}`)
    const get = (query: string) => api.get(`/v1/channels?query=${encodeURIComponent(query)}`, as(viewer))
    for (const query of [emoji, `${t.slice(0, 10)}${emoji}`, `  ${t.slice(0, 10)}${emoji}  `]) {
      const res = await get(query)
      expect(res.status).toBe(200)
      expect(res.body.channels.map((c: any) => c.id)).toEqual([made.id])
    }
    for (const query of ['🎉'.repeat(101), 'a'.repeat(101), `${t.slice(0, 10)}${emoji}x`, '🎉🎉', ' 🎉🎉 ']) {
      const res = await get(query)
      expectError(res, 400, 'INVALID_QUERY')
      expect(res.body.message).toBe('query must have 3 to 100 characters')
    }
    expect((await get('🎉🎉🎉')).status).toBe(200)
  })
})

describe('POST /v1/conversations/:id/join', () => {
  it('adds the caller with member.added by them, pushed to the members; the joiner sees from that event on; twice changes nothing', async () => {
    const [owner, member, joiner] = await users(3)
    const ch = await createChannel(owner, `${tag()} join`, [member])
    await post(api, owner, ch.id, 'before the join')
    const socket = await connectReady(server.url, member.accessToken, sockets)
    const joinerSocket = await connectReady(server.url, joiner.accessToken, sockets)
    const res = await join(joiner, ch.id)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: ch.id, public: true, memberCount: 3 })
    expect(res.body.members.map((m: any) => m.user.id)).toContain(joiner.user.id)
    const pushed = await socket.next((f) => f.type === 'member.added' && f.conversationId === ch.id, 20_000)
    expect(pushed.data).toEqual({ userId: joiner.user.id, by: joiner.user.id })
    await joinerSocket.next((f) => f.type === 'member.added' && f.conversationId === ch.id && f.data.userId === joiner.user.id, 20_000)
    // History and replay start at the join.
    const history = (await api.get(`/v1/conversations/${ch.id}/messages`, as(joiner))).body.messages
    expect(history).toEqual([])
    const events = await replay(api, joiner, ch.id)
    expect(events.map((e) => e.type)).toEqual(['member.added'])
    expect(events[0].seq).toBe(pushed.seq)
    // Again: the same answer, no event.
    const again = await join(joiner, ch.id)
    expect(again.status).toBe(200)
    expect(again.body.lastSeq).toBe(res.body.lastSeq)
    expect((await listChannels(joiner, { query: ch.title })).channels[0]).toMatchObject({ id: ch.id, joined: true, memberCount: 3 })
    // A member who left can join again, with a new window.
    expect((await api.del(`/v1/conversations/${ch.id}/members/${joiner.user.id}`, as(joiner))).status).toBe(204)
    await post(api, owner, ch.id, 'while away')
    expect((await join(joiner, ch.id)).status).toBe(200)
    expect((await api.get(`/v1/conversations/${ch.id}/messages`, as(joiner))).body.messages).toEqual([])
  })

  it('refuses banned users (403 BANNED) and answers 404 alike for private groups, direct conversations and unknown ids', async () => {
    const [owner, banned, stranger, other] = await users(4)
    const ch = await createChannel(owner, `${tag()} bans`)
    expect((await api.put(`/v1/conversations/${ch.id}/bans/${banned.user.id}`, undefined, as(owner))).status).toBeLessThan(300)
    expectError(await join(banned, ch.id), 403, 'BANNED')
    const g = await createGroup(api, owner, [other], 'private')
    expectError(await join(stranger, g.id), 404, 'NOT_FOUND')
    const d = await createDirect(api, owner, other)
    expectError(await join(stranger, d.id), 404, 'NOT_FOUND')
    expectError(await join(stranger, '01936b2e-0000-7000-8000-000000000000'), 404, 'NOT_FOUND')
    expectError(await join(stranger, 'nope'), 400, 'VALIDATION_FAILED')
    // A group made private again is no longer joinable.
    expect((await api.patch(`/v1/conversations/${ch.id}`, { public: false }, as(owner))).status).toBe(200)
    expectError(await join(stranger, ch.id), 404, 'NOT_FOUND')
    expect((await listChannels(stranger, { query: ch.title })).channels).toEqual([])
  })
})

describe('a public group nobody is left in', () => {
  it('leaves the directory and takes no joins: a joiner would be a plain member of a group nobody owns or moderates', async () => {
    const [owner, member, stranger] = await users(3)
    const title = `${tag()} abandoned`
    const ch = await createChannel(owner, title, [member])
    // The owner goes: the member is its owner now, and it stays public.
    expect((await api.del(`/v1/conversations/${ch.id}/members/${owner.user.id}`, as(owner))).status).toBe(204)
    expect((await listChannels(stranger, { query: title })).channels.map((c) => c.id)).toEqual([ch.id])
    // The last one goes.
    expect((await api.del(`/v1/conversations/${ch.id}/members/${member.user.id}`, as(member))).status).toBe(204)
    expect((await listChannels(stranger, { query: title })).channels).toEqual([])
    expectError(await join(stranger, ch.id), 404, 'NOT_FOUND')
    expectError(await join(owner, ch.id), 404, 'NOT_FOUND')
  })
})

describe('joining and the conversation\'s lock', () => {
  it('a stranger joining a private group is answered 404 without taking the group\'s lock', async () => {
    const [owner, stranger] = await users(2)
    const g = await createGroup(api, owner, [], 'private, busy')
    const answer = await whileLocked(g.id, () => join(stranger, g.id))
    expect(answer).not.toBe('waited for the lock')
    expectError(answer as Awaited<ReturnType<typeof join>>, 404, 'NOT_FOUND')
  })
})

describe('the SDK', () => {
  it('client.channels.list and join, conversations.createGroup with public and setPublic', async () => {
    const [owner, b] = await users(2)
    const session = (a: Account) => ({ user: a.user as any, accessToken: a.accessToken, refreshToken: a.refreshToken, expiresAt: Date.now() + 600_000 })
    const ownerSdk = createClient({ baseUrl: server.url, session: session(owner) })
    const sdk = createClient({ baseUrl: server.url, session: session(b) })
    const t = tag()
    const ch = await ownerSdk.conversations.createGroup(`${t} sdk`, [], { public: true })
    expect(ch.public).toBe(true)
    const page = await sdk.channels.list({ query: t })
    expect(page.channels.map((c) => c.id)).toEqual([ch.id])
    const joined = await sdk.channels.join(ch.id)
    expect(joined.memberCount).toBe(2)
    expect((await ownerSdk.conversations.setPublic(ch.id, false)).public).toBe(false)
    await expect(sdk.channels.list({ query: 'ab' })).rejects.toMatchObject({ status: 400, code: 'INVALID_QUERY' })
  })
})
