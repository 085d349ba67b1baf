// Group moderation by the owner and admins: ban, mute, slow mode and freeze,
// each an event in the log, each judged under the conversation's lock.
import { afterAll, describe, expect, it } from 'vitest'
import { createDirect, createGroup, replay } from './helpers/chat.js'
import { client, expectError, uniqueName, type Account, type Client } from './helpers/http.js'
import { countQueries, rowsRead } from './helpers/queries.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'
import { allPages, badPageQueries, newestFirst } from './helpers/pages.js'

let server: TestServer
let api: Client
const opened: TestSocket[] = []

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  for (const s of opened) await s.close()
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const path = (group: { id: string }, what: string, who?: Account) => `/v1/conversations/${group.id}/${what}${who === undefined ? '' : `/${who.user.id}`}`
const send = (who: Account, group: { id: string }, body: string) => api.post(`/v1/conversations/${group.id}/messages`, { body }, as(who))

/** An owner, an admin and two plain members. */
async function team () {
  const [owner, admin, m1, m2, outsider] = await users(5)
  const group = await createGroup(api, owner, [admin, m1, m2])
  await api.patch(path(group, 'members', admin), { role: 'admin' }, as(owner))
  const g = (await api.get(`/v1/conversations/${group.id}`, as(owner))).body
  return { owner, admin, m1, m2, outsider, group: g }
}

describe('ban', () => {
  it('removes the member (member.banned, then member.removed), refuses re-adding with 403 BANNED until unbanned', async () => {
    const { owner, admin, m1, group } = await team()
    const s = await connectReady(server.url, m1.accessToken, opened)
    expect((await api.put(path(group, 'bans', m1), undefined, as(admin))).status).toBe(204)
    const banned = await s.next((f) => f.type === 'member.banned')
    const removed = await s.next((f) => f.type === 'member.removed')
    expect(banned.data).toEqual({ userId: m1.user.id, by: admin.user.id })
    expect(removed.seq).toBe(banned.seq + 1)
    expectError(await send(m1, group, 'still here?'), 404, 'NOT_FOUND')
    expectError(await api.post(path(group, 'members'), { userIds: [m1.user.id] }, as(owner)), 403, 'BANNED')
    expect((await api.get(path(group, 'bans'), as(owner))).body.bans).toMatchObject([{ userId: m1.user.id, by: admin.user.id }])
    // Banning again writes nothing.
    const before = (await api.get(`/v1/conversations/${group.id}`, as(owner))).body.lastSeq
    expect((await api.put(path(group, 'bans', m1), undefined, as(owner))).status).toBe(204)
    expect((await api.get(`/v1/conversations/${group.id}`, as(owner))).body.lastSeq).toBe(before)

    expect((await api.del(path(group, 'bans', m1), as(owner))).status).toBe(204)
    expect((await api.post(path(group, 'members'), { userIds: [m1.user.id] }, as(owner))).status).toBe(200)
    const events = await replay(api, owner, group.id, group.lastSeq)
    expect(events.map((e) => e.type)).toEqual(['member.banned', 'member.removed', 'member.unbanned', 'member.added'])
  })

  it('a user who is not a member can be banned ahead; plain members, admins on admins and anyone on the owner get 403; strangers 404', async () => {
    const { owner, admin, m1, m2, outsider, group } = await team()
    expect((await api.put(path(group, 'bans', outsider), undefined, as(owner))).status).toBe(204)
    expectError(await api.post(path(group, 'members'), { userIds: [outsider.user.id] }, as(admin)), 403, 'BANNED')
    expectError(await api.put(path(group, 'bans', m2), undefined, as(m1)), 403, 'FORBIDDEN')
    expectError(await api.put(path(group, 'bans', owner), undefined, as(admin)), 403, 'FORBIDDEN')
    await api.patch(path(group, 'members', m2), { role: 'admin' }, as(owner))
    expectError(await api.put(path(group, 'bans', m2), undefined, as(admin)), 403, 'FORBIDDEN')
    expectError(await api.put(path(group, 'bans', m1), undefined, as(outsider)), 404, 'NOT_FOUND')
    expectError(await api.put(path(group, 'bans', { user: { id: '01890000-0000-7000-8000-000000000000' } } as Account), undefined, as(owner)), 404, 'NOT_FOUND')
    const direct = await createDirect(api, owner, m1)
    expectError(await api.put(path(direct, 'bans', m1), undefined, as(owner)), 403, 'FORBIDDEN')
  })
})

const banPages = (who: Account, group: { id: string }, limit: number) => allPages(api, who, path(group, 'bans'), 'bans', limit)

describe('the ban list in pages', () => {
  it('pages 7 bans 3 at a time for the owner and admins: each exactly once, newest first then user id, nextCursor null on the last page', async () => {
    const { owner, admin, m1, group } = await team()
    const banned = await users(7)
    for (const u of banned) expect((await api.put(path(group, 'bans', u), undefined, as(admin))).status).toBe(204)
    // Runs sharing one created_at, so the order falls back to the user id.
    const at = ['2026-03-01T10:00:00.000Z', '2026-03-01T10:00:00.000Z', '2026-03-01T10:00:00.000Z', '2026-03-02T10:00:00.000Z',
      '2026-03-03T10:00:00.000Z', '2026-03-03T10:00:00.000Z', '2026-02-01T10:00:00.000Z']
    const rows = banned.map((u, i) => ({ id: u.user.id, at: at[i]! }))
    await server.sql(`UPDATE conversation_bans b SET created_at = t.at FROM unnest($2::uuid[], $3::timestamptz[]) AS t(id, at)
      WHERE b.conversation_id = $1 AND b.user_id = t.id`, [group.id, rows.map((r) => r.id), rows.map((r) => r.at)])
    const expected = newestFirst(rows)

    for (const who of [owner, admin]) {
      const { pages, ids } = await banPages(who, group, 3)
      expect(pages.map((p) => p.bans.length)).toEqual([3, 3, 1])
      expect(pages.map((p) => typeof p.nextCursor)).toEqual(['string', 'string', 'object'])
      expect(pages.at(-1)!.nextCursor).toBeNull()
      expect(ids).toEqual(expected)
      const byId = new Map(rows.map((r) => [r.id, r.at]))
      for (const b of pages.flatMap((p) => p.bans)) expect(b).toEqual({ userId: b.userId, by: admin.user.id, createdAt: byId.get(b.userId) })
    }

    // A page that ends exactly at the last ban says so; no limit: the default page of 50, all of them.
    expect((await api.get(`${path(group, 'bans')}?limit=7`, as(owner))).body.nextCursor).toBeNull()
    const whole = (await api.get(path(group, 'bans'), as(owner))).body
    expect({ ids: whole.bans.map((b: any) => b.userId), nextCursor: whole.nextCursor }).toEqual({ ids: expected, nextCursor: null })

    // A cursor stays good when the ban it names is lifted: the next page is the same.
    const first = (await api.get(`${path(group, 'bans')}?limit=3`, as(owner))).body
    expect((await api.del(`${path(group, 'bans')}/${expected[2]}`, as(owner))).status).toBe(204)
    const next = (await api.get(`${path(group, 'bans')}?limit=3&cursor=${first.nextCursor}`, as(owner))).body
    expect(next.bans.map((b: any) => b.userId)).toEqual(expected.slice(3, 6))

    // Still only the owner and admins, with a cursor or without.
    expectError(await api.get(`${path(group, 'bans')}?limit=3&cursor=${first.nextCursor}`, as(m1)), 403, 'FORBIDDEN')
    expectError(await api.get(`${path(group, 'bans')}?limit=3`, as(banned[0]!)), 404, 'NOT_FOUND')
  })

  it('refuses bad cursors and limits with 400 VALIDATION_FAILED', async () => {
    const { owner, group } = await team()
    for (const q of badPageQueries(owner.user.id)) expectError(await api.get(`${path(group, 'bans')}?${q}`, as(owner)), 400, 'VALIDATION_FAILED')
    expect((await api.get(`${path(group, 'bans')}?limit=100`, as(owner))).status).toBe(200)
  })

  it('costs the same at any depth: a shallow or a deep page of 5,000 bans reads only its own rows', async () => {
    const { owner, group } = await team()
    const prefix = uniqueName('bn')
    const N = 5000
    await server.sql(`INSERT INTO users (id, username, display_name, password_hash, created_at)
      SELECT gen_random_uuid(), $1 || '_' || i, 'Banned ' || i, 'not-a-hash', now() FROM generate_series(1, $2::int) AS i`, [prefix, N])
    // In runs of 7 sharing one created_at.
    await server.sql(`INSERT INTO conversation_bans (conversation_id, user_id, by_id, created_at)
      SELECT $1, u.id, $3, now() - interval '1 day' + (u.n / 7) * interval '1 second'
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users WHERE username LIKE $2 || '\\_%') u`, [group.id, prefix, owner.user.id])
    // As autovacuum would after such a load: the planner then knows this group has many rows.
    await server.sql('ANALYZE conversation_bans')
    const { pages, ids } = await banPages(owner, group, 100)
    expect(ids).toHaveLength(N)
    expect(new Set(ids).size).toBe(N)
    const rows = await server.sql<{ id: string, at: Date }>('SELECT user_id AS id, created_at AS at FROM conversation_bans WHERE conversation_id = $1', [group.id])
    expect(ids).toEqual(newestFirst(rows.map((r) => ({ id: r.id, at: r.at.toISOString() }))))

    for (const cursor of [pages[0]!.nextCursor, pages.at(-3)!.nextCursor]) {
      let res: any
      const { statements } = await countQueries(async () => { res = await api.get(`${path(group, 'bans')}?limit=50&cursor=${cursor}`, as(owner)) })
      expect(res.body.bans).toHaveLength(50)
      // The page and the one row that tells whether there is more.
      const read = await rowsRead(server.sql, statements, 'conversation_bans')
      expect(read).toBeGreaterThanOrEqual(50)
      expect(read).toBeLessThanOrEqual(51)
    }
  }, 60_000)
})

describe('mute', () => {
  it('a muted member gets 403 MUTED (posting or editing); others post; unmute lifts it; both are events', async () => {
    const { owner, m1, m2, group } = await team()
    const earlier = (await send(m1, group, 'before the mute')).body
    expect((await api.put(path(group, 'mutes', m1), undefined, as(owner))).status).toBe(204)
    expectError(await send(m1, group, 'can I?'), 403, 'MUTED')
    expectError(await api.patch(`/v1/conversations/${group.id}/messages/${earlier.id}`, { body: 'edited' }, as(m1)), 403, 'MUTED')
    expect((await send(m2, group, 'I can')).status).toBe(201)
    expect((await api.del(path(group, 'mutes', m1), as(owner))).status).toBe(204)
    expect((await send(m1, group, 'again')).status).toBe(201)
    const events = await replay(api, m2, group.id, group.lastSeq)
    expect(events.map((e) => [e.type, e.data.userId ?? e.data.senderId])).toEqual([
      ['message.created', m1.user.id], ['member.muted', m1.user.id], ['message.created', m2.user.id], ['member.unmuted', m1.user.id], ['message.created', m1.user.id]
    ])
    expectError(await api.put(path(group, 'mutes', m1), undefined, as(m2)), 403, 'FORBIDDEN')
    expectError(await api.put(path(group, 'mutes', owner), undefined, as(m2)), 403, 'FORBIDDEN')
  })

  it('a post racing the mute is entirely before or after it: never stored after the member.muted event', async () => {
    const { owner, m1, group } = await team()
    const posts = Array.from({ length: 20 }, (_, i) => send(m1, group, `race ${i}`))
    const muting = api.put(path(group, 'mutes', m1), undefined, as(owner))
    const results = await Promise.all(posts)
    expect((await muting).status).toBe(204)
    expect(results.every((r) => r.status === 201 || (r.status === 403 && r.body.code === 'MUTED'))).toBe(true)
    const events = await replay(api, owner, group.id, group.lastSeq)
    const mutedAt = events.find((e) => e.type === 'member.muted')!.seq
    expect(events.filter((e) => e.type === 'message.created' && e.seq > mutedAt)).toEqual([])
    expect(events.filter((e) => e.type === 'message.created')).toHaveLength(results.filter((r) => r.status === 201).length)
  })
})

describe('slow mode', () => {
  it('one post per N seconds per plain member: 429 SLOW_MODE with Retry-After; owner and admins are not slowed; 0 turns it off', async () => {
    const { owner, admin, m1, m2, group } = await team()
    expect((await api.put(path(group, 'slow-mode'), { seconds: 30 }, as(admin))).status).toBe(204)
    expect((await send(m1, group, 'first')).status).toBe(201)
    const second = await send(m1, group, 'second')
    expectError(second, 429, 'SLOW_MODE')
    const wait = Number(second.headers.get('retry-after'))
    expect(wait).toBeGreaterThanOrEqual(1)
    expect(wait).toBeLessThanOrEqual(30)
    expect((await send(m2, group, 'other member')).status).toBe(201)
    for (const who of [owner, admin, owner]) expect((await send(who, group, 'staff')).status).toBe(201)
    // Two at once from one member: one goes in, one waits.
    const both = await Promise.all([send(m2, group, 'a'), send(m2, group, 'b')])
    expect(both.map((r) => r.status).sort()).toEqual([429, 429])
    // A retry of a stored post (same clientMessageId) is not slowed.
    await api.put(path(group, 'slow-mode'), { seconds: 0 }, as(owner))
    const keyed = await api.post(`/v1/conversations/${group.id}/messages`, { body: 'k', clientMessageId: 'k1' }, as(m1))
    await api.put(path(group, 'slow-mode'), { seconds: 30 }, as(owner))
    expect((await api.post(`/v1/conversations/${group.id}/messages`, { body: 'k', clientMessageId: 'k1' }, as(m1))).status).toBe(200)
    expect(keyed.status).toBe(201)
    await api.put(path(group, 'slow-mode'), { seconds: 0 }, as(owner))
    expect((await send(m2, group, 'free again')).status).toBe(201)
    const changes = (await replay(api, owner, group.id, group.lastSeq)).filter((e) => e.type === 'conversation.slow_mode').map((e) => e.data.seconds)
    expect(changes).toEqual([30, 0, 30, 0])
    expectError(await api.put(path(group, 'slow-mode'), { seconds: -1 }, as(owner)), 400, 'VALIDATION_FAILED')
    expectError(await api.put(path(group, 'slow-mode'), { seconds: 5 }, as(m1)), 403, 'FORBIDDEN')
  })

  it('two posts of one member in one batch: the first goes in, the second waits', async () => {
    const { owner, m1, group } = await team()
    await api.put(path(group, 'slow-mode'), { seconds: 60 }, as(owner))
    const results = await Promise.all([send(m1, group, 'one'), send(m1, group, 'two'), send(m1, group, 'three')])
    expect(results.map((r) => r.status).sort()).toEqual([201, 429, 429])
  })
})

describe('freeze', () => {
  it('typing is relayed only from those who may post: not from a muted member, nor from a plain member of a frozen group', async () => {
    const { owner, admin, m1, group } = await team()
    const so = await connectReady(server.url, owner.accessToken, opened)
    const s1 = await connectReady(server.url, m1.accessToken, opened)
    const typingOf = (who: Account) => (f: any) => f.type === 'typing' && f.data.userId === who.user.id
    const typeAndCheck = async (who: Account, socket: TestSocket) => {
      socket.send({ type: 'typing', conversationId: group.id })
      socket.send({ type: 'ping' })
      await socket.next((f) => f.type === 'pong')
    }
    expect((await api.put(path(group, 'mutes', m1), undefined, as(owner))).status).toBe(204)
    await typeAndCheck(m1, s1)
    await so.none(typingOf(m1), 300)
    expect(s1.frames.filter((f) => f.type === 'error')).toEqual([])
    expect((await api.del(path(group, 'mutes', m1), as(owner))).status).toBe(204)
    await typeAndCheck(m1, s1)
    await so.next(typingOf(m1))

    expect((await api.put(path(group, 'freeze'), undefined, as(owner))).status).toBe(204)
    await typeAndCheck(m1, s1)
    await so.none(typingOf(m1), 300)
    const sa = await connectReady(server.url, admin.accessToken, opened)
    await typeAndCheck(admin, sa)
    await so.next(typingOf(admin))
  })

  it('read-only for plain members (403 FROZEN), the owner and admins still post; unfreeze lifts it; both are events', async () => {
    const { owner, admin, m1, group } = await team()
    const s = await connectReady(server.url, m1.accessToken, opened)
    const earlier = (await send(m1, group, 'before the freeze')).body
    expect((await api.put(path(group, 'freeze'), undefined, as(admin))).status).toBe(204)
    expect((await s.next((f) => f.type === 'conversation.frozen')).data).toEqual({ by: admin.user.id })
    expectError(await send(m1, group, 'hello?'), 403, 'FROZEN')
    expectError(await api.patch(`/v1/conversations/${group.id}/messages/${earlier.id}`, { body: 'edited' }, as(m1)), 403, 'FROZEN')
    expect((await send(owner, group, 'announcement')).status).toBe(201)
    expect((await send(admin, group, 'note')).status).toBe(201)
    expect((await api.del(path(group, 'freeze'), as(owner))).status).toBe(204)
    await s.next((f) => f.type === 'conversation.unfrozen')
    expect((await send(m1, group, 'thaw')).status).toBe(201)
    expectError(await api.put(path(group, 'freeze'), undefined, as(m1)), 403, 'FORBIDDEN')
  })
})
