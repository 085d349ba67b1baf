// Where accounts (part A of issue 14) and safety (part B) meet: a deleted
// account's blocks, reports, roles and audit entries; suspension against
// password reset, login and password change; blocks against profile pushes,
// profiles, read positions and the export; the moderation state in the
// Conversation object. Real HTTP, WebSocket, SMTP and PostgreSQL.
import { afterAll, describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import type { TestServer } from './helpers/server.js'
import { test, type TestSmtp } from './helpers/smtp.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

let smtp: TestSmtp
let server: TestServer
let api: Client
const sockets: TestSocket[] = []

test.override('serverOptions', { scope: 'file' }, ({ smtp }) => ({
  config: { smtpUrl: smtp.url, mailFrom: 'Switchboard <no-reply@switchboard.test>' }
}))
test.beforeAll(({ server: started, smtp: mail }) => {
  server = started
  smtp = mail
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const grant = (who: Account, role: 'admin' | 'moderator') =>
  server.sql(`UPDATE users SET app_roles = '{${role}}' WHERE id = $1`, [who.user.id])
const tokenOf = (text: string) => /^([A-Za-z0-9_-]{43})$/m.exec(text)![1]!

async function withEmail (a: Account): Promise<string> {
  const email = `${a.user.username}@example.test`
  expect((await api.post('/v1/me/email', { email, password: a.password }, as(a))).status).toBe(202)
  const code = /\b(\d{6})\b/.exec((await smtp.next(email)).text)![1]!
  expect((await api.post('/v1/me/email/verify', { code }, as(a))).status).toBe(200)
  return email
}

describe('a deleted account and the safety rows', () => {
  it('its blocks (both ways) and roles go, its report notes and the texts reports kept of it are erased; reports and audit entries stay by id', async () => {
    const [a, b, c, admin] = await users(4)
    await grant(admin, 'admin')
    const group = await createGroup(api, a, [b, c])
    const mine = await post(api, a, group.id, 'A-SECRET-BODY')
    const theirs = await post(api, c, group.id, 'a message of c')
    expect((await api.put(`/v1/me/blocks/${b.user.id}`, undefined, as(a))).status).toBe(204)
    expect((await api.put(`/v1/me/blocks/${a.user.id}`, undefined, as(c))).status).toBe(204)
    const made = (await api.post('/v1/reports', { messageId: theirs.id, reason: 'spam', note: 'A-SECRET-NOTE' }, as(a))).body
    const about = (await api.post('/v1/reports', { messageId: mine.id, reason: 'harassment' }, as(b))).body
    await grant(a, 'moderator')
    // An operator action on the account, audited, then lifted: a logs in again.
    expect((await api.put(`/v1/admin/users/${a.user.id}/suspension`, { reason: 'warning' }, as(admin))).status).toBe(204)
    expect((await api.del(`/v1/admin/users/${a.user.id}/suspension`, as(admin))).status).toBe(204)
    const again = await api.post('/v1/auth/login', { username: a.user.username, password: a.password })
    expect(again.status).toBe(200)

    const deleted = await api.request('DELETE', '/v1/me', { body: { password: a.password }, token: again.body.accessToken })
    expect(deleted.status).toBe(204)

    expect(await server.sql('SELECT 1 FROM blocks WHERE blocker_id = $1 OR blocked_id = $1', [a.user.id])).toEqual([])
    expect((await api.get('/v1/me/blocks', as(c))).body).toEqual({ blocks: [], nextCursor: null })
    expect(await server.sql('SELECT app_roles FROM users WHERE id = $1', [a.user.id])).toEqual([{ app_roles: [] }])

    const reports = [
      ...(await api.get('/v1/admin/reports?status=open&limit=100', as(admin))).body.reports,
      ...(await api.get('/v1/admin/reports?status=resolved&limit=100', as(admin))).body.reports
    ]
    expect(reports.find((r: any) => r.id === made.id)).toMatchObject({ reporterId: a.user.id, userId: c.user.id, note: null, messageBody: 'a message of c' })
    expect(reports.find((r: any) => r.id === about.id)).toMatchObject({ reporterId: b.user.id, userId: a.user.id, messageId: mine.id, messageBody: null })
    const audit = (await api.get('/v1/admin/audit?limit=100', as(admin))).body.entries
    expect(audit.filter((e: any) => e.targetId === a.user.id).map((e: any) => e.action).sort()).toEqual(['user.suspended', 'user.unsuspended'])

    const everything = JSON.stringify({ reports, audit, users: (await api.get('/v1/admin/users?limit=100', as(admin))).body })
    for (const secret of ['A-SECRET-BODY', 'A-SECRET-NOTE', a.user.username]) expect(everything).not.toContain(secret)
  })
})

describe('suspension against the account routes', () => {
  it('a suspended user can reset the password by mail, but the new password still meets 403 SUSPENDED', async () => {
    const [s, admin] = await users(2)
    await grant(admin, 'moderator')
    const email = await withEmail(s)
    expect((await api.put(`/v1/admin/users/${s.user.id}/suspension`, {}, as(admin))).status).toBe(204)

    expect((await api.post('/v1/auth/password-reset', { email })).status).toBe(202)
    const token = tokenOf((await smtp.next(email)).text)
    expect((await api.post('/v1/auth/password-reset/confirm', { token, newPassword: 'a brand new password' })).status).toBe(204)
    expectError(await api.post('/v1/auth/login', { username: s.user.username, password: 'a brand new password' }), 403, 'SUSPENDED')
    expectError(await api.post('/v1/auth/login', { username: s.user.username, password: s.password }), 401, 'INVALID_CREDENTIALS')
    expect(await server.sql('SELECT 1 FROM sessions WHERE user_id = $1 AND revoked_at IS NULL', [s.user.id])).toEqual([])

    expect((await api.del(`/v1/admin/users/${s.user.id}/suspension`, as(admin))).status).toBe(204)
    expect((await api.post('/v1/auth/login', { username: s.user.username, password: 'a brand new password' })).status).toBe(200)
  })

  it('a suspended user cannot change the password: the session is gone; login tells SUSPENDED only to the right password', async () => {
    const [s, admin] = await users(2)
    await grant(admin, 'moderator')
    expect((await api.put(`/v1/admin/users/${s.user.id}/suspension`, {}, as(admin))).status).toBe(204)
    expectError(await api.post('/v1/me/password', { currentPassword: s.password, newPassword: 'another password 1' }, as(s)), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/auth/refresh', { refreshToken: s.refreshToken }), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/auth/login', { username: s.user.username, password: 'not the password' }), 401, 'INVALID_CREDENTIALS')
    expectError(await api.post('/v1/auth/login', { username: s.user.username, password: s.password }), 403, 'SUSPENDED')

    // Lifted: the old password works and can be changed again.
    expect((await api.del(`/v1/admin/users/${s.user.id}/suspension`, as(admin))).status).toBe(204)
    const back = await api.post('/v1/auth/login', { username: s.user.username, password: s.password })
    expect(back.status).toBe(200)
    expect((await api.post('/v1/me/password', { currentPassword: s.password, newPassword: 'another password 1' }, { token: back.body.accessToken })).status).toBe(204)
  })
})

describe('blocks against accounts', () => {
  it('a user the caller blocked gets no user.updated of them; the others who share a conversation do', async () => {
    const [a, blocked, other] = await users(3)
    await createGroup(api, a, [blocked, other])
    expect((await api.put(`/v1/me/blocks/${blocked.user.id}`, undefined, as(a))).status).toBe(204)
    const [sb, so] = await Promise.all([blocked, other].map((u) => connectReady(server.url, u.accessToken, sockets)))
    expect((await api.patch('/v1/me', { displayName: 'Renamed' }, as(a))).status).toBe(200)
    expect((await so!.next((f) => f.type === 'user.updated')).data).toMatchObject({ id: a.user.id, displayName: 'Renamed' })
    await sb!.none((f) => f.type === 'user.updated')

    // Unblocked: told again.
    expect((await api.del(`/v1/me/blocks/${blocked.user.id}`, as(a))).status).toBe(204)
    expect((await api.patch('/v1/me', { displayName: 'Renamed again' }, as(a))).status).toBe(200)
    expect((await sb!.next((f) => f.type === 'user.updated')).data).toMatchObject({ id: a.user.id, displayName: 'Renamed again' })
  })

  it('GET /v1/users/:id applies the privacy rule and the block rule together', async () => {
    const [a, blocked, contact, stranger] = await users(4)
    await createGroup(api, a, [blocked, contact])
    await connectReady(server.url, a.accessToken, sockets)
    expect((await api.put(`/v1/me/blocks/${blocked.user.id}`, undefined, as(a))).status).toBe(204)
    const view = async (who: Account) => (await api.get(`/v1/users/${a.user.id}`, as(who))).body
    const hidden = { ...a.user, online: false, lastSeenAt: null }
    expect(await view(contact)).toMatchObject({ id: a.user.id, online: true })
    expect(await view(blocked)).toEqual(hidden) // shares a conversation, but blocked
    expect(await view(stranger)).toEqual(hidden) // not blocked, but shares nothing
    expect((await view(a)).online).toBe(true)
    // The batch of a contact list applies the same rule to each user, and leaves unknown ids out.
    const unknown = '0196a1b2-0000-7000-8000-000000000000'
    const batch = async (who: Account) => (await api.get(`/v1/presence?userIds=${a.user.id},${unknown}`, as(who))).body.presence
    expect(await batch(contact)).toMatchObject([{ userId: a.user.id, online: true }])
    expect(await batch(blocked)).toEqual([{ userId: a.user.id, online: false, lastSeenAt: null }])
    expect(await batch(stranger)).toEqual([{ userId: a.user.id, online: false, lastSeenAt: null }])
    expectError(await api.get('/v1/presence?userIds=not-a-uuid', as(contact)), 400, 'VALIDATION_FAILED')
    expectError(await api.get(`/v1/presence?userIds=${a.user.id.toUpperCase()}`, as(contact)), 400, 'VALIDATION_FAILED')
    expectError(await api.get(`/v1/presence?userIds=${Array.from({ length: 101 }, () => unknown).join(',')}`, as(contact)), 400, 'VALIDATION_FAILED')
    expectError(await api.get(`/v1/presence?userIds=${a.user.id}`), 401, 'UNAUTHORIZED')
    // The blocker still sees the blocked user's presence (the rule is one way).
    await connectReady(server.url, blocked.accessToken, sockets)
    expect((await api.get(`/v1/users/${blocked.user.id}`, as(a))).body.online).toBe(true)
    expect((await api.get(`/v1/presence?userIds=${blocked.user.id}`, as(a))).body.presence).toMatchObject([{ userId: blocked.user.id, online: true }])
    expect((await api.del(`/v1/me/blocks/${blocked.user.id}`, as(a))).status).toBe(204)
    expect((await view(blocked)).online).toBe(true)
  })

  it('a blocked user does not see the blocker\'s read position; the others do', async () => {
    const [a, blocked, other] = await users(3)
    const group = await createGroup(api, a, [blocked, other])
    const m = await post(api, other, group.id, 'hello')
    expect((await api.post(`/v1/conversations/${group.id}/read`, { seq: m.seq }, as(a))).status).toBeLessThan(300)
    expect((await api.put(`/v1/me/blocks/${blocked.user.id}`, undefined, as(a))).status).toBe(204)
    const readOf = (members: any[]) => members.find((x: any) => x.user.id === a.user.id).lastReadSeq
    const seenBy = async (who: Account) => ({
      one: readOf((await api.get(`/v1/conversations/${group.id}`, as(who))).body.members),
      list: readOf((await api.get('/v1/conversations', as(who))).body.conversations.find((c: any) => c.id === group.id).members),
      page: readOf((await api.get(`/v1/conversations/${group.id}/members`, as(who))).body.members)
    })
    expect(await seenBy(blocked)).toEqual({ one: 0, list: 0, page: 0 })
    expect(await seenBy(other)).toEqual({ one: m.seq, list: m.seq, page: m.seq })
    expect(await seenBy(a)).toEqual({ one: m.seq, list: m.seq, page: m.seq })
  })

  it('the export has the caller\'s blocks and the reports they made, without the reported text', async () => {
    const [a, b, c] = await users(3)
    const group = await createGroup(api, a, [b, c])
    const m = await post(api, b, group.id, 'REPORTED-TEXT')
    expect((await api.put(`/v1/me/blocks/${b.user.id}`, undefined, as(a))).status).toBe(204)
    expect((await api.put(`/v1/me/blocks/${a.user.id}`, undefined, as(c))).status).toBe(204)
    const byA = (await api.post('/v1/reports', { messageId: m.id, reason: 'spam', note: 'my note' }, as(a))).body
    await api.post('/v1/reports', { userId: a.user.id, reason: 'other' }, as(c))
    const res = await api.get('/v1/me/export', as(a))
    expect(res.status).toBe(200)
    expect(res.body.profile.appRoles).toEqual([])
    expect(res.body.blocks).toEqual([{ userId: b.user.id, blockedAt: expect.any(String) }])
    expect(res.body.reports).toEqual([{
      id: byA.id, userId: b.user.id, messageId: m.id, conversationId: group.id, reason: 'spam', note: 'my note', status: 'open', createdAt: byA.createdAt
    }])
    expect(JSON.stringify(res.body)).not.toContain('REPORTED-TEXT')
  })
})

describe('the moderation state in the Conversation object', () => {
  it('shows frozen, slowModeSeconds and whether the caller is muted', async () => {
    const [owner, muted, plain] = await users(3)
    const group = await createGroup(api, owner, [muted, plain])
    const state = async (who: Account) => {
      const one = (await api.get(`/v1/conversations/${group.id}`, as(who))).body
      const listed = (await api.get('/v1/conversations', as(who))).body.conversations.find((c: any) => c.id === group.id)
      expect(listed).toMatchObject({ frozen: one.frozen, slowModeSeconds: one.slowModeSeconds, muted: one.muted })
      return { frozen: one.frozen, slowModeSeconds: one.slowModeSeconds, muted: one.muted }
    }
    expect(await state(plain)).toEqual({ frozen: false, slowModeSeconds: 0, muted: false })
    expect((await api.put(`/v1/conversations/${group.id}/mutes/${muted.user.id}`, undefined, as(owner))).status).toBe(204)
    expect((await api.put(`/v1/conversations/${group.id}/slow-mode`, { seconds: 30 }, as(owner))).status).toBe(204)
    expect((await api.put(`/v1/conversations/${group.id}/freeze`, undefined, as(owner))).status).toBe(204)
    expect(await state(muted)).toEqual({ frozen: true, slowModeSeconds: 30, muted: true })
    expect(await state(plain)).toEqual({ frozen: true, slowModeSeconds: 30, muted: false })
    expect((await api.del(`/v1/conversations/${group.id}/freeze`, as(owner))).status).toBe(204)
    expect((await api.del(`/v1/conversations/${group.id}/mutes/${muted.user.id}`, as(owner))).status).toBe(204)
    expect(await state(muted)).toEqual({ frozen: false, slowModeSeconds: 30, muted: false })
  })
})
