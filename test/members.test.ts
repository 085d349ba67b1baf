// Group membership: adding, roles, removing and leaving, and what a removed
// (and re-added) member can still see.
import { describe, expect, it } from 'vitest'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
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
const roleOf = (conversation: any, who: Account) => conversation.members.find((m: any) => m.user.id === who.user.id)?.role
const membersPath = (id: string, who?: Account) => `/v1/conversations/${id}/members${who === undefined ? '' : `/${who.user.id}`}`

describe('adding members', () => {
  it('owner and admin add; current members are skipped; each new member gets a member.added', async () => {
    const [owner, admin, plain, x, y, z] = await users(6)
    const group = await createGroup(api, owner, [admin, plain])
    await api.patch(membersPath(group.id, admin), { role: 'admin' }, as(owner))
    const res = await api.post(membersPath(group.id), { userIds: [x.user.id, plain.user.id, x.user.id] }, as(owner))
    expect(res.status).toBe(200)
    expect(res.body.members).toHaveLength(4)
    expect(roleOf(res.body, x)).toBe('member')
    const byAdmin = await api.post(membersPath(group.id), { userIds: [y.user.id] }, as(admin))
    expect(byAdmin.status).toBe(200)
    const events = await replay(api, owner, group.id, group.lastSeq)
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['member.updated', { userId: admin.user.id, role: 'admin', by: owner.user.id }],
      ['member.added', { userId: x.user.id, by: owner.user.id }],
      ['member.added', { userId: y.user.id, by: admin.user.id }]
    ])
    // Nothing new: no event.
    const again = await api.post(membersPath(group.id), { userIds: [y.user.id] }, as(owner))
    expect(again.body.lastSeq).toBe(byAdmin.body.lastSeq)
    expectError(await api.post(membersPath(group.id), { userIds: [z.user.id] }, as(plain)), 403, 'FORBIDDEN')
  })

  it('a new member sees the conversation from their member.added on, with nothing unread', async () => {
    const [owner, late] = await users(2)
    const group = await createGroup(api, owner, [])
    await post(api, owner, group.id, 'before')
    const added = await api.post(membersPath(group.id), { userIds: [late.user.id] }, as(owner))
    const view = (await api.get(`/v1/conversations/${group.id}`, as(late))).body
    expect(view).toMatchObject({ lastMessage: null, unreadCount: 0 })
    const events = await replay(api, late, group.id)
    expect(events.map((e) => [e.seq, e.type])).toEqual([[added.body.lastSeq, 'member.added']])
    expect((await api.get(`/v1/conversations/${group.id}/messages`, as(late))).body).toEqual({ messages: [], hasMore: false })
    const after = await post(api, owner, group.id, 'after')
    expect((await api.get(`/v1/conversations/${group.id}`, as(late))).body).toMatchObject({ lastMessage: after, unreadCount: 1 })
  })

  it('answers 404 for unknown users, 400 for bad ids or an empty list, 403 on a direct conversation', async () => {
    const [a, b, c] = await users(3)
    const group = await createGroup(api, a, [b])
    expectError(await api.post(membersPath(group.id), { userIds: ['01890000-0000-7000-8000-000000000000'] }, as(a)), 404, 'NOT_FOUND')
    expectError(await api.post(membersPath(group.id), { userIds: [] }, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.post(membersPath(group.id), { userIds: ['x'] }, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.post(membersPath(group.id), {}, as(a)), 400, 'VALIDATION_FAILED')
    const direct = await createDirect(api, a, b)
    expectError(await api.post(membersPath(direct.id), { userIds: [c.user.id] }, as(a)), 403, 'FORBIDDEN')
    expectError(await api.del(membersPath(direct.id, b), as(a)), 403, 'FORBIDDEN')
    expectError(await api.del(membersPath(direct.id, a), as(a)), 403, 'FORBIDDEN')
    expectError(await api.patch(membersPath(direct.id, b), { role: 'admin' }, as(a)), 403, 'FORBIDDEN')
  })
})

describe('roles', () => {
  it('only the owner changes roles, never their own', async () => {
    const [owner, b, c] = await users(3)
    const group = await createGroup(api, owner, [b, c])
    const res = await api.patch(membersPath(group.id, b), { role: 'admin' }, as(owner))
    expect(res.status).toBe(200)
    expect(roleOf(res.body, b)).toBe('admin')
    expectError(await api.patch(membersPath(group.id, c), { role: 'admin' }, as(b)), 403, 'FORBIDDEN')
    expectError(await api.patch(membersPath(group.id, owner), { role: 'member' }, as(owner)), 403, 'FORBIDDEN')
    expectError(await api.patch(membersPath(group.id, b), { role: 'owner' }, as(owner)), 400, 'VALIDATION_FAILED')
    expectError(await api.patch(membersPath(group.id, (await users(1))[0]!), { role: 'admin' }, as(owner)), 404, 'NOT_FOUND')
    expect(roleOf((await api.patch(membersPath(group.id, b), { role: 'member' }, as(owner))).body, b)).toBe('member')
  })
})

describe('removing and leaving', () => {
  it('owner removes anyone but is not removable; admin removes plain members only; members cannot remove others', async () => {
    const [owner, admin1, admin2, m1, m2] = await users(5)
    const group = await createGroup(api, owner, [admin1, admin2, m1, m2])
    for (const a of [admin1, admin2]) await api.patch(membersPath(group.id, a), { role: 'admin' }, as(owner))
    expectError(await api.del(membersPath(group.id, m2), as(m1)), 403, 'FORBIDDEN')
    expectError(await api.del(membersPath(group.id, owner), as(admin1)), 403, 'FORBIDDEN')
    expectError(await api.del(membersPath(group.id, admin2), as(admin1)), 403, 'FORBIDDEN')
    const removed = await api.del(membersPath(group.id, m1), as(admin1))
    expect(removed.status).toBe(204)
    expect(removed.body).toBe('')
    expect((await api.del(membersPath(group.id, admin2), as(owner))).status).toBe(204)
    // Not a member (any more): 404.
    expectError(await api.del(membersPath(group.id, m1), as(owner)), 404, 'NOT_FOUND')
    const events = await replay(api, owner, group.id, group.lastSeq)
    const removals = events.filter((e) => e.type === 'member.removed').map((e) => e.data)
    expect(removals).toEqual([{ userId: m1.user.id, by: admin1.user.id }, { userId: admin2.user.id, by: owner.user.id }])
    const view = (await api.get(`/v1/conversations/${group.id}`, as(owner))).body
    expect(view.members.map((m: any) => m.user.id).sort()).toEqual([owner, admin1, m2].map((u) => u.user.id).sort())
  })

  it('any member can leave; when the owner leaves, the longest-standing admin becomes owner', async () => {
    const [owner, m1, m2, m3] = await users(4)
    const group = await createGroup(api, owner, [m1, m2])
    await api.post(membersPath(group.id), { userIds: [m3.user.id] }, as(owner))
    expect((await api.del(membersPath(group.id, m1), as(m1))).status).toBe(204)
    await api.patch(membersPath(group.id, m3), { role: 'admin' }, as(owner))
    const before = (await api.get(`/v1/conversations/${group.id}`, as(owner))).body.lastSeq
    expect((await api.del(membersPath(group.id, owner), as(owner))).status).toBe(204)
    const view = (await api.get(`/v1/conversations/${group.id}`, as(m2))).body
    expect(roleOf(view, m3)).toBe('owner')
    expect(roleOf(view, m2)).toBe('member')
    const events = await replay(api, m2, group.id, before)
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['member.updated', { userId: m3.user.id, role: 'owner', by: owner.user.id }],
      ['member.removed', { userId: owner.user.id, by: owner.user.id }]
    ])
  })

  it('a muted heir is unmuted as they become owner (member.unmuted), since nobody may lift an owner\'s mute', async () => {
    const [owner, heir, other] = await users(3)
    const group = await createGroup(api, owner, [heir])
    await api.post(membersPath(group.id), { userIds: [other.user.id] }, as(owner))
    expect((await api.put(`/v1/conversations/${group.id}/mutes/${heir.user.id}`, undefined, as(owner))).status).toBe(204)
    const before = (await api.get(`/v1/conversations/${group.id}`, as(owner))).body.lastSeq
    expect((await api.del(membersPath(group.id, owner), as(owner))).status).toBe(204)
    const view = (await api.get(`/v1/conversations/${group.id}`, as(heir))).body
    expect(roleOf(view, heir)).toBe('owner')
    expect(view.muted).toBe(false)
    expect((await post(api, heir, group.id, 'the new owner speaks')).body).toBe('the new owner speaks')
    expect((await replay(api, other, group.id, before)).slice(0, 3).map((e) => [e.type, e.data])).toEqual([
      ['member.updated', { userId: heir.user.id, role: 'owner', by: owner.user.id }],
      ['member.unmuted', { userId: heir.user.id, by: owner.user.id }],
      ['member.removed', { userId: owner.user.id, by: owner.user.id }]
    ])
  })

  it('without admins, the longest-standing member becomes owner', async () => {
    const [owner, m1, m2] = await users(3)
    const group = await createGroup(api, owner, [m1])
    await api.post(membersPath(group.id), { userIds: [m2.user.id] }, as(owner))
    await api.del(membersPath(group.id, owner), as(owner))
    expect(roleOf((await api.get(`/v1/conversations/${group.id}`, as(m1))).body, m1)).toBe('owner')
  })
})

describe('a removed member', () => {
  it('sees nothing after removal (404 everywhere), keeps what they saw, and starts again at the new member.added when re-added', async () => {
    const [owner, gone] = await users(2)
    const group = await createGroup(api, owner, [gone])
    const early = await post(api, owner, group.id, 'while a member')
    const seenBefore = await replay(api, gone, group.id)

    await api.del(membersPath(group.id, gone), as(owner))
    const ownerView = await replay(api, owner, group.id)
    const removal = ownerView[ownerView.length - 1]
    expect(removal).toMatchObject({ type: 'member.removed', data: { userId: gone.user.id, by: owner.user.id } })
    // What they had seen is still exactly the start of the log.
    expect(ownerView.slice(0, seenBefore.length)).toEqual(seenBefore)

    const during = await post(api, owner, group.id, 'after removal')
    const base = `/v1/conversations/${group.id}`
    for (const res of [
      await api.get(base, as(gone)),
      await api.get(`${base}/messages`, as(gone)),
      await api.get(`${base}/events`, as(gone)),
      await api.post(`${base}/messages`, { body: 'let me in' }, as(gone)),
      await api.post(`${base}/read`, { seq: 1 }, as(gone)),
      await api.patch(`${base}/messages/${early.id}`, { body: 'edit' }, as(gone)),
      await api.del(`${base}/messages/${early.id}`, as(gone))
    ]) expectError(res, 404, 'NOT_FOUND')
    expect((await api.get('/v1/conversations', as(gone))).body.conversations.map((c: any) => c.id)).not.toContain(group.id)

    const readded = await api.post(membersPath(group.id), { userIds: [gone.user.id] }, as(owner))
    const events = await replay(api, gone, group.id)
    expect(events.map((e) => [e.seq, e.type])).toEqual([[readded.body.lastSeq, 'member.added']])
    const history = (await api.get(`${base}/messages`, as(gone))).body
    expect(history.messages).toEqual([])
    const view = (await api.get(base, as(gone))).body
    expect(view).toMatchObject({ unreadCount: 0, lastMessage: null })
    expect(roleOf(view, gone)).toBe('member')
    const after = await post(api, owner, group.id, 'welcome back')
    expect((await api.get(`${base}/messages`, as(gone))).body.messages.map((m: any) => m.id)).toEqual([after.id])
    expect(during.seq).toBeLessThan(readded.body.lastSeq)
  })
})
