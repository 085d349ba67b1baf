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
    expect(await pending(a)).toEqual([{ conversationId: g.id, title: 'invited', invitedBy: owner.user.id, createdAt: frame.data.createdAt, expiresAt: frame.data.expiresAt, memberCount: 1 }])
    // It expires INVITATION_TTL_DAYS (30 by default) after it was sent.
    expect(Date.parse(frame.data.expiresAt) - Date.parse(frame.data.createdAt)).toBe(30 * 86_400_000)
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

  // Each way an inviter loses the right to add members withdraws their invitations as an explicit withdrawal
  // does: the invitee's sockets get invitation.withdrawn once, after the commit; another inviter's stand, untold.
  const endings: Array<[string, (g: string, owner: Account, adm: Account) => Promise<{ status: number }>]> = [
    ['leaves', (g, _owner, adm) => api.del(`/v1/conversations/${g}/members/${adm.user.id}`, as(adm))],
    ['is removed', (g, owner, adm) => api.del(`/v1/conversations/${g}/members/${adm.user.id}`, as(owner))],
    ['is made a plain member', (g, owner, adm) => api.patch(`/v1/conversations/${g}/members/${adm.user.id}`, { role: 'member' }, as(owner))],
    ['is banned', (g, owner, adm) => api.put(`/v1/conversations/${g}/bans/${adm.user.id}`, undefined, as(owner))],
    ['deletes their account', (_g, _owner, adm) => api.request('DELETE', '/v1/me', { body: { password: adm.password }, token: adm.accessToken })]
  ]
  it.each(endings)('an inviter who %s withdraws their invitations: each invitee gets invitation.withdrawn, others\' invitations stand', async (_how, end) => {
    const [owner, adm, x, y, z] = await users(5)
    const g = await createGroup(api, owner, [adm], 'inviter goes')
    expect((await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(adm))).status).toBe(200)
    expect((await api.patch(`/v1/conversations/${g.id}/members/${adm.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
    const socketX = await connectReady(server.url, x.accessToken, sockets)
    const socketY = await connectReady(server.url, y.accessToken, sockets)
    const socketZ = await connectReady(server.url, z.accessToken, sockets)
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [x.user.id, z.user.id] }, as(adm))).status).toBe(200)
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [y.user.id] }, as(owner))).status).toBe(200)
    await socketX.next((f) => f.type === 'invitation' && f.data.conversationId === g.id, 20_000)
    await socketY.next((f) => f.type === 'invitation' && f.data.conversationId === g.id, 20_000)
    await socketZ.next((f) => f.type === 'invitation' && f.data.conversationId === g.id, 20_000)
    // z's invitation has expired (past INVITATION_TTL_DAYS): gone for z already, its end is no news.
    await server.sql("UPDATE group_invitations SET created_at = created_at - interval '31 days' WHERE conversation_id = $1 AND user_id = $2", [g.id, z.user.id])

    expect((await end(g.id, owner, adm)).status).toBeLessThan(300)
    const frame = await socketX.next((f) => f.type === 'invitation.withdrawn', 20_000)
    expect(frame).toEqual({ type: 'invitation.withdrawn', data: { conversationId: g.id } })
    expect(await pending(x)).toEqual([])
    expectError(await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(x)), 404, 'NOT_FOUND')
    // Once: invited again, the new invitation's frame comes with no second withdrawn frame before it.
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [x.user.id] }, as(owner))).status).toBe(200)
    await socketX.next((f) => f.type === 'invitation' && f.data.conversationId === g.id, 20_000)
    expect(socketX.frames.filter((f) => f.type === 'invitation.withdrawn')).toHaveLength(1)
    // The owner's invitation stands, and its invitee was told nothing: the one withdrawn frame they get is the owner's own withdrawal.
    expect((await pending(y)).map((i) => [i.conversationId, i.invitedBy])).toEqual([[g.id, owner.user.id]])
    expect((await api.del(`/v1/conversations/${g.id}/invitations/${y.user.id}`, as(owner))).status).toBe(204)
    await socketY.next((f) => f.type === 'invitation.withdrawn', 20_000)
    expect(socketY.frames.filter((f) => f.type === 'invitation.withdrawn')).toHaveLength(1)
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [z.user.id] }, as(owner))).status).toBe(200)
    await socketZ.next((f) => f.type === 'invitation' && f.data.conversationId === g.id, 20_000)
    expect(socketZ.frames.filter((f) => f.type === 'invitation.withdrawn')).toEqual([])
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

  it('works through the SDK, with the realtime invitation and invitationWithdrawn events', async () => {
    const [owner, a, b] = await users(3)
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
      // The group's side, with a's SDK as its admin: list and withdraw; the invitee's SDK hears of it.
      expect((await api.patch(`/v1/conversations/${g.id}/members/${a.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
      const invitee = createClient({ baseUrl: server.url, session: session(b), WebSocket: WebSocket as unknown as WebSocketConstructor })
      const withdrawn = new Promise<any>((resolve) => invitee.realtime.on('invitationWithdrawn', resolve))
      const inviteeReady = new Promise<void>((resolve) => invitee.realtime.on('ready', () => resolve()))
      invitee.realtime.connect()
      await inviteeReady
      try {
        await sdk.conversations.addMembers(g.id, [b.user.id])
        const listed = await sdk.conversations.allInvitations(g.id)
        expect(listed.map((i) => [i.user.id, i.user.username, i.invitedBy])).toEqual([[b.user.id, b.user.username, a.user.id]])
        expect((await sdk.conversations.invitations(g.id, { limit: 1 })).nextCursor).toBeNull()
        await sdk.conversations.withdrawInvitation(g.id, b.user.id)
        expect(await withdrawn).toEqual({ conversationId: g.id })
        expect((await invitee.invitations.list()).invitations).toEqual([])
        expect(await sdk.conversations.allInvitations(g.id)).toEqual([])
      } finally {
        invitee.realtime.close()
      }
    } finally {
      sdk.realtime.close()
    }
  })
})

describe('a group\'s pending invitations, managed by its owner and admins', () => {
  const list = (who: Account, groupId: string, query = '') => api.get(`/v1/conversations/${groupId}/invitations${query}`, as(who))
  const withdraw = (who: Account, groupId: string, invitee: Account) => api.del(`/v1/conversations/${groupId}/invitations/${invitee.user.id}`, as(who))

  it('are listed newest first, each with its invitee, who invited and when, a keyset page at a time', async () => {
    const [owner, adm, plain, stranger, ...invitees] = await users(9)
    const g = await createGroup(api, owner, [adm, plain], 'listed')
    for (const who of [adm, plain]) expect((await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(who))).status).toBe(200)
    expect((await api.patch(`/v1/conversations/${g.id}/members/${adm.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
    for (const [i, u] of invitees.entries()) {
      expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [u.user.id] }, as(i % 2 === 0 ? owner : adm))).status).toBe(200)
    }
    const all = await list(owner, g.id, '?limit=100')
    expect(all.status).toBe(200)
    expect(all.body.nextCursor).toBeNull()
    const items = all.body.invitations as any[]
    expect(items).toHaveLength(invitees.length)
    // Newest first, then the invitee's id descending.
    const desc = (x: string, y: string) => (x < y ? 1 : x > y ? -1 : 0)
    const order = [...items].sort((x, y) => desc(x.createdAt, y.createdAt) || desc(x.user.id, y.user.id))
    expect(items).toEqual(order)
    for (const [i, u] of invitees.entries()) {
      const item = items.find((x) => x.user.id === u.user.id)
      expect(item).toEqual({
        user: { id: u.user.id, username: u.user.username, displayName: u.user.displayName, createdAt: u.user.createdAt, avatarUrl: null },
        invitedBy: i % 2 === 0 ? owner.user.id : adm.user.id,
        createdAt: expect.any(String),
        expiresAt: new Date(Date.parse(item.createdAt) + 30 * 86_400_000).toISOString()
      })
    }
    // Pages of 2 walk the same list once, by an admin too.
    const walked: any[] = []
    let cursor: string | null = null
    do {
      const page = await list(adm, g.id, `?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`)
      expect(page.status).toBe(200)
      expect(page.body.invitations.length).toBeLessThanOrEqual(2)
      walked.push(...page.body.invitations)
      cursor = page.body.nextCursor
    } while (cursor !== null)
    expect(walked).toEqual(items)
    // Accepted, declined and withdrawn invitations are not listed.
    expect((await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(invitees[0]!))).status).toBe(200)
    expect((await api.post(`/v1/me/invitations/${g.id}/decline`, undefined, as(invitees[1]!))).status).toBe(204)
    expect((await withdraw(adm, g.id, invitees[2]!)).status).toBe(204)
    expect((await list(owner, g.id)).body.invitations.map((x: any) => x.user.id).sort()).toEqual(invitees.slice(3).map((u) => u.user.id).sort())
    // Plain members 403, strangers (and a missing group) 404, bad pages 400.
    expectError(await list(plain, g.id), 403, 'FORBIDDEN')
    expectError(await list(stranger, g.id), 404, 'NOT_FOUND')
    expectError(await list(invitees[3]!, g.id), 404, 'NOT_FOUND')
    expectError(await list(owner, '01936b2e-0000-7000-8000-000000000000'), 404, 'NOT_FOUND')
    for (const q of ['?limit=0', '?limit=101', '?cursor=bm90LWEtY3Vyc29y', '?cursor=']) expectError(await list(owner, g.id, q), 400, 'VALIDATION_FAILED')
  })

  it('withdrawn, an invitation is gone for its invitee: a frame tells their sockets, accepting answers 404, and it can be sent again', async () => {
    const [owner, plain, stranger, invitee, other] = await users(5)
    const g = await createGroup(api, owner, [plain], 'withdrawing')
    expect((await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(plain))).status).toBe(200)
    const socket = await connectReady(server.url, invitee.accessToken, sockets)
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [invitee.user.id, other.user.id] }, as(owner))).status).toBe(200)
    await socket.next((f) => f.type === 'invitation' && f.data.conversationId === g.id, 20_000)
    const lastSeq = (await api.get(`/v1/conversations/${g.id}`, as(owner))).body.lastSeq
    // Only the group's owner and admins: a plain member 403, a stranger or the invitee 404; nothing changes.
    expectError(await withdraw(plain, g.id, invitee), 403, 'FORBIDDEN')
    expectError(await withdraw(stranger, g.id, invitee), 404, 'NOT_FOUND')
    expectError(await withdraw(invitee, g.id, invitee), 404, 'NOT_FOUND')
    expect((await pending(invitee)).map((i) => i.conversationId)).toEqual([g.id])

    expect((await withdraw(owner, g.id, invitee)).status).toBe(204)
    const frame = await socket.next((f) => f.type === 'invitation.withdrawn', 20_000)
    expect(frame).toEqual({ type: 'invitation.withdrawn', data: { conversationId: g.id } })
    expect(await pending(invitee)).toEqual([])
    expectError(await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(invitee)), 404, 'NOT_FOUND')
    expectError(await api.post(`/v1/me/invitations/${g.id}/decline`, undefined, as(invitee)), 404, 'NOT_FOUND')
    expectError(await api.get(`/v1/conversations/${g.id}`, as(invitee)), 404, 'NOT_FOUND')
    // The other invitation stands; the group's log is unchanged.
    expect((await pending(other)).map((i) => i.conversationId)).toEqual([g.id])
    expect((await api.get(`/v1/conversations/${g.id}`, as(owner))).body.lastSeq).toBe(lastSeq)
    // Withdrawn twice, or never invited: 204, nothing happens, no second frame.
    expect((await withdraw(owner, g.id, invitee)).status).toBe(204)
    expect((await withdraw(owner, g.id, stranger)).status).toBe(204)
    expect((await withdraw(owner, g.id, plain)).status).toBe(204)
    expect((await api.get(`/v1/conversations/${g.id}`, as(owner))).body.memberCount).toBe(2)
    // Invited again, the invitee gets a new invitation (the frame after it: no second withdrawn frame in between).
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [invitee.user.id] }, as(owner))).status).toBe(200)
    const again = await socket.next((f) => f.type === 'invitation' && f.data.conversationId === g.id, 20_000)
    expect(socket.frames.filter((f) => f.type === 'invitation.withdrawn')).toHaveLength(1)
    expect((await pending(invitee))[0].createdAt).toBe(again.data.createdAt)
    expect((await api.post(`/v1/me/invitations/${g.id}/accept`, undefined, as(invitee))).status).toBe(200)
    // A direct conversation has no invitations.
    const direct = await api.post('/v1/conversations', { type: 'direct', userId: plain.user.id }, as(owner))
    expectError(await withdraw(owner, direct.body.id, invitee), 403, 'FORBIDDEN')
    expectError(await list(owner, direct.body.id), 403, 'FORBIDDEN')
  })
})
