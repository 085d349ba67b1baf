// GROUP_ADDS=invite (issue 18): adding a user to a group, at its creation or
// later, makes a pending invitation instead of a member; the invitee gets an
// `invitation` frame, lists their invitations, and accepts (member.added with
// by = who invited, seen from then on) or declines. The default (direct) is
// covered by the existing member tests.
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createClient, type WebSocketConstructor } from '../src/client/index.js'
import { createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

test.override('serverOptions', { config: { groupAdds: 'invite' } })

let server: TestServer
let api: Client
const sockets: TestSocket[] = []

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
test.afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const pending = async (who: Account) => (await api.get('/v1/me/invitations', as(who))).body.invitations as any[]

describe('GROUP_ADDS=invite', () => {
  it('creating a group invites its members: each gets a frame and an invitation, and becomes a member only by accepting', async () => {
    const [owner, a, b] = await users(3)
    const socketA = await connectReady(server.url, a.accessToken, sockets)
    const g = await createGroup(api, owner, [a, b], 'invited')
    expect(g.memberCount).toBe(1)
    const frame = await socketA.next((f) => f.type === 'invitation', 20_000)
    expect(frame.data).toMatchObject({ conversationId: g.id, title: 'invited', invitedBy: owner.user.id })
    expect(await pending(a)).toEqual([{ conversationId: g.id, title: 'invited', invitedBy: owner.user.id, createdAt: frame.data.createdAt, memberCount: 1 }])
    // Not a member yet: the conversation is a stranger's.
    expectError(await api.get(`/v1/conversations/${g.id}`, as(a)), 404, 'NOT_FOUND')
    await post(api, owner, g.id, 'before accepting')
    const ownerSocket = await connectReady(server.url, owner.accessToken, sockets)
    const res = await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(a))
    expect(res.status).toBe(200)
    expect(res.body.memberCount).toBe(2)
    const added = await ownerSocket.next((f) => f.type === 'member.added' && f.conversationId === g.id, 20_000)
    expect(added.data).toEqual({ userId: a.user.id, by: owner.user.id })
    expect((await replay(api, a, g.id)).map((e) => e.type)).toEqual(['member.added'])
    expect(await pending(a)).toEqual([])
    expectError(await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(a)), 404, 'NOT_FOUND')
    // Declining removes the invitation and tells the group nothing.
    const before = (await api.get(`/v1/conversations/${g.id}`, as(owner))).body.lastSeq
    expect((await api.post(`/v1/me/invitations/${g.id}/decline`, undefined, as(b))).status).toBe(204)
    expect(await pending(b)).toEqual([])
    expectError(await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(b)), 404, 'NOT_FOUND')
    expectError(await api.post(`/v1/me/invitations/${g.id}/decline`, undefined, as(b)), 404, 'NOT_FOUND')
    expect((await api.get(`/v1/conversations/${g.id}`, as(owner))).body.lastSeq).toBe(before)
  })

  it('adding members invites them (same checks as adding); a ban since the invitation refuses the accept', async () => {
    const [owner, plain, c, d] = await users(4)
    const g = await createGroup(api, owner, [], 'later')
    expect((await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(plain))).status).toBe(404)
    expectError(await api.post(`/v1/conversations/${g.id}/members`, { userIds: ['01936b2e-0000-7000-8000-000000000000'] }, as(owner)), 404, 'NOT_FOUND')
    const res = await api.post(`/v1/conversations/${g.id}/members`, { userIds: [c.user.id, d.user.id] }, as(owner))
    expect(res.status).toBe(200)
    expect(res.body.memberCount).toBe(1)
    expect((await pending(c)).map((i) => i.conversationId)).toEqual([g.id])
    // Inviting again changes nothing.
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [c.user.id] }, as(owner))).status).toBe(200)
    expect(await pending(c)).toHaveLength(1)
    expect((await api.put(`/v1/conversations/${g.id}/bans/${d.user.id}`, undefined, as(owner))).status).toBeLessThan(300)
    expectError(await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(d)), 403, 'BANNED')
    expectError(await api.post(`/v1/conversations/${g.id}/members`, { userIds: [d.user.id] }, as(owner)), 403, 'BANNED')
  })

  it('an invitation stands only while its inviter can add members: demoted or gone, it is withdrawn', async () => {
    const [owner, adm, c, d] = await users(4)
    const g = await createGroup(api, owner, [adm], 'inviters')
    expect((await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(adm))).status).toBe(200)
    const role = (r: string) => api.patch(`/v1/conversations/${g.id}/members/${adm.user.id}`, { role: r }, as(owner))
    expect((await role('admin')).status).toBe(200)
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [c.user.id] }, as(adm))).status).toBe(200)
    expect((await pending(c)).map((i) => i.invitedBy)).toEqual([adm.user.id])
    expect((await role('member')).status).toBe(200)
    expect(await pending(c)).toEqual([])
    expectError(await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(c)), 404, 'NOT_FOUND')
    // Invited again by an admin who then leaves: withdrawn too.
    expect((await role('admin')).status).toBe(200)
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [d.user.id] }, as(adm))).status).toBe(200)
    expect((await api.del(`/v1/conversations/${g.id}/members/${adm.user.id}`, as(adm))).status).toBe(204)
    expect(await pending(d)).toEqual([])
  })

  it('an invitation from an admin who is then suspended admits nobody until the suspension is lifted', async () => {
    const [op, owner, adm, invitee] = await users(4)
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [op.user.id])
    const g = await createGroup(api, owner, [adm], 'suspended inviter')
    expect((await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(adm))).status).toBe(200)
    expect((await api.patch(`/v1/conversations/${g.id}/members/${adm.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [invitee.user.id] }, as(adm))).status).toBe(200)
    expect((await api.put(`/v1/admin/users/${adm.user.id}/suspension`, { reason: 'abuse' }, as(op))).status).toBe(204)
    expectError(await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(invitee)), 404, 'NOT_FOUND')
    expect((await api.del(`/v1/admin/users/${adm.user.id}/suspension`, as(op))).status).toBe(204)
    expect((await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(invitee))).status).toBe(200)
  })

  it('joining another way (an invite link) ends the invitation: once removed, it neither lists the group nor lets them back in', async () => {
    const [owner, x] = await users(2)
    const g = await createGroup(api, owner, [x], 'joined by link')
    expect((await pending(x)).map((i) => i.conversationId)).toEqual([g.id])
    const link = await api.post(`/v1/conversations/${g.id}/invites`, {}, as(owner))
    expect((await api.post(`/v1/invites/${link.body.code}/accept`, undefined, as(x))).status).toBe(200)
    expect(await pending(x)).toEqual([])
    expect((await api.del(`/v1/conversations/${g.id}/members/${x.user.id}`, as(owner))).status).toBe(204)
    expect((await api.patch(`/v1/conversations/${g.id}`, { title: 'renamed after the removal' }, as(owner))).status).toBe(200)
    expect(await pending(x)).toEqual([])
    expectError(await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(x)), 404, 'NOT_FOUND')
    expectError(await api.get(`/v1/conversations/${g.id}`, as(x)), 404, 'NOT_FOUND')
  })

  it('accepting without an invitation answers 404 without taking the group\'s lock', async () => {
    const [owner, stranger] = await users(2)
    const g = await createGroup(api, owner, [], 'private, busy')
    // Another transaction holds the group's row lock (a long post batch, a moderation change).
    const holder = new pg.Client({ connectionString: server.databaseUrl })
    await holder.connect()
    try {
      await holder.query('BEGIN')
      await holder.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [g.id])
      const answer = api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(stranger))
      let timer: NodeJS.Timeout | undefined
      // 20 s tells a request waiting for the lock from a slow machine.
      const waited = new Promise<'waited for the lock'>((resolve) => { timer = setTimeout(() => resolve('waited for the lock'), 20_000) })
      const first = await Promise.race([answer, waited])
      clearTimeout(timer)
      await holder.query('ROLLBACK')
      await answer
      expect(first).not.toBe('waited for the lock')
      expectError(first as Awaited<typeof answer>, 404, 'NOT_FOUND')
    } finally {
      await holder.end()
    }
  })

  it('works through the SDK, with the realtime invitation event', async () => {
    const [owner, a] = await users(2)
    const session = (x: Account) => ({ user: x.user as any, accessToken: x.accessToken, refreshToken: x.refreshToken, expiresAt: Date.now() + 600_000 })
    const sdk = createClient({ baseUrl: server.url, session: session(a), WebSocket: WebSocket as unknown as WebSocketConstructor })
    const got = new Promise<any>((resolve) => sdk.realtime.on('invitation', resolve))
    const ready = new Promise<void>((resolve) => sdk.realtime.on('ready', () => resolve()))
    sdk.realtime.connect()
    await ready
    try {
      const g = await createGroup(api, owner, [a], 'sdk')
      expect((await got).conversationId).toBe(g.id)
      expect((await sdk.invitations.list()).invitations.map((i) => i.conversationId)).toEqual([g.id])
      expect((await sdk.invitations.accept(g.id)).memberCount).toBe(2)
    } finally {
      sdk.realtime.close()
    }
  })
})
