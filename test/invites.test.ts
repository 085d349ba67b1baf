// Invite links (issue 18): owner and admins create revocable links with an
// optional expiry and use limit, list and revoke them; anyone with the code
// joins (member.added with by = the joiner, pushed); the code is stored only
// hashed; a wrong, revoked, expired or used-up code answers one 404; accepting
// is rate-limited per user.
import { describe, expect, it } from 'vitest'
import { createClient } from '../src/client/index.js'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

const RATE = 12
test.override('serverOptions', { config: { inviteRateLimitPerMinute: RATE } })

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
const accept = (who: Account, code: string) => api.post(`/v1/invites/${encodeURIComponent(code)}/accept`, undefined, as(who))
async function createInvite (who: Account, conversationId: string, body: Record<string, unknown> = {}): Promise<any> {
  const res = await api.post(`/v1/conversations/${conversationId}/invites`, body, as(who))
  if (res.status !== 201) throw new Error(`invite: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

describe('invite links', () => {
  it('are created by the owner or an admin, shown once, stored hashed, listed without codes, and join a private group', async () => {
    const [owner, admin, member, joiner] = await users(4)
    const g = await createGroup(api, owner, [admin, member], 'private club')
    expect((await api.patch(`/v1/conversations/${g.id}/members/${admin.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
    await post(api, owner, g.id, 'before the invite')
    const invite = await createInvite(admin, g.id, { maxUses: 5, expiresInSeconds: 3600 })
    expect(invite).toMatchObject({ conversationId: g.id, createdBy: admin.user.id, maxUses: 5, uses: 0 })
    expect(invite.code).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect(Date.parse(invite.expiresAt) - Date.now()).toBeGreaterThan(3500_000)
    // Stored as a hash only.
    const stored = JSON.stringify(await server.sql('SELECT * FROM conversation_invites WHERE id = $1', [invite.id]))
    expect(stored).not.toContain(invite.code)
    const listed = (await api.get(`/v1/conversations/${g.id}/invites`, as(owner))).body.invites
    expect(listed).toEqual([{ id: invite.id, conversationId: g.id, createdBy: admin.user.id, createdAt: invite.createdAt, expiresAt: invite.expiresAt, maxUses: 5, uses: 0, paused: false }])
    expectError(await api.get(`/v1/conversations/${g.id}/invites`, as(member)), 403, 'FORBIDDEN')
    expectError(await api.post(`/v1/conversations/${g.id}/invites`, {}, as(member)), 403, 'FORBIDDEN')
    expectError(await api.get(`/v1/conversations/${g.id}/invites`, as(joiner)), 404, 'NOT_FOUND')

    const socket = await connectReady(server.url, member.accessToken, sockets)
    const res = await accept(joiner, invite.code)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: g.id, public: false, memberCount: 4 })
    const pushed = await socket.next((f) => f.type === 'member.added' && f.conversationId === g.id, 20_000)
    expect(pushed.data).toEqual({ userId: joiner.user.id, by: joiner.user.id })
    expect((await replay(api, joiner, g.id)).map((e) => e.type)).toEqual(['member.added'])
    expect((await api.get(`/v1/conversations/${g.id}/messages`, as(joiner))).body.messages).toEqual([])
    // Accepting again: the same answer, no use counted.
    expect((await accept(joiner, invite.code)).body.lastSeq).toBe(res.body.lastSeq)
    expect((await api.get(`/v1/conversations/${g.id}/invites`, as(owner))).body.invites[0].uses).toBe(1)
  })

  it('answers one 404 INVALID_INVITE for wrong, revoked, expired and used-up codes; revokes by code or id', async () => {
    const [owner, a, b, c] = await users(4)
    const g = await createGroup(api, owner, [], 'limits')
    const once = await createInvite(owner, g.id, { maxUses: 1 })
    expect((await accept(a, once.code)).status).toBe(200)
    expectError(await accept(b, once.code), 404, 'INVALID_INVITE') // used up
    const expiring = await createInvite(owner, g.id, { expiresInSeconds: 60 })
    await server.sql("UPDATE conversation_invites SET expires_at = now() - interval '1 second' WHERE id = $1", [expiring.id])
    expectError(await accept(b, expiring.code), 404, 'INVALID_INVITE') // expired
    const byCode = await createInvite(owner, g.id)
    const byId = await createInvite(owner, g.id)
    expect((await api.del(`/v1/conversations/${g.id}/invites/${byCode.code}`, as(owner))).status).toBe(204)
    expect((await api.del(`/v1/conversations/${g.id}/invites/${byId.id}`, as(owner))).status).toBe(204)
    expectError(await api.del(`/v1/conversations/${g.id}/invites/${byId.id}`, as(owner)), 404, 'NOT_FOUND')
    expectError(await accept(b, byCode.code), 404, 'INVALID_INVITE') // revoked
    expectError(await accept(b, byId.code), 404, 'INVALID_INVITE')
    expectError(await accept(b, 'x'.repeat(32)), 404, 'INVALID_INVITE') // never existed
    expect((await api.get(`/v1/conversations/${g.id}/invites`, as(owner))).body.invites).toEqual([])
    // Bad input.
    expectError(await api.post(`/v1/conversations/${g.id}/invites`, { maxUses: 0 }, as(owner)), 400, 'VALIDATION_FAILED')
    expectError(await api.post(`/v1/conversations/${g.id}/invites`, { expiresInSeconds: 10 }, as(owner)), 400, 'VALIDATION_FAILED')
    expectError(await accept(c, 'x'.repeat(65)), 400, 'VALIDATION_FAILED')
    // No invites in a direct conversation.
    const d = await createDirect(api, owner, c)
    expectError(await api.post(`/v1/conversations/${d.id}/invites`, {}, as(owner)), 403, 'FORBIDDEN')
  })

  it('stand only while their maker can add members: an admin demoted or removed takes their links with them', async () => {
    const [owner, adm, x, y, z] = await users(5)
    const g = await createGroup(api, owner, [adm], 'admins come and go')
    const promote = (role: string) => api.patch(`/v1/conversations/${g.id}/members/${adm.user.id}`, { role }, as(owner))
    expect((await promote('admin')).status).toBe(200)
    const byAdmin = await createInvite(adm, g.id)
    const byOwner = await createInvite(owner, g.id)
    expect((await promote('member')).status).toBe(200)
    expectError(await accept(x, byAdmin.code), 404, 'INVALID_INVITE')
    expect((await api.get(`/v1/conversations/${g.id}/invites`, as(owner))).body.invites.map((i: any) => i.id)).toEqual([byOwner.id])
    expect((await promote('admin')).status).toBe(200)
    const again = await createInvite(adm, g.id)
    expect((await api.del(`/v1/conversations/${g.id}/members/${adm.user.id}`, as(owner))).status).toBe(204)
    expectError(await accept(y, again.code), 404, 'INVALID_INVITE')
    // The owner's link still lets people in.
    expect((await accept(z, byOwner.code)).status).toBe(200)
  })

  it('of a suspended maker are listed as paused and admit nobody until it is lifted; a deleted maker\'s are neither listed nor counted', async () => {
    const [op, owner, adm, joiner] = await users(4)
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [op.user.id])
    const g = await createGroup(api, owner, [adm], 'paused links')
    expect((await api.patch(`/v1/conversations/${g.id}/members/${adm.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
    const byAdmin = await createInvite(adm, g.id)
    expect(byAdmin.paused).toBe(false)
    // The admin's links fill the group's places but one (stored as the route stores them, to keep the test quick).
    await server.sql(`INSERT INTO conversation_invites (id, conversation_id, code_hash, created_by)
      SELECT gen_random_uuid(), $1, md5(random()::text) || md5(random()::text), $2 FROM generate_series(1, 98)`, [g.id, adm.user.id])
    const byOwner = await createInvite(owner, g.id)
    const listed = async () => (await api.get(`/v1/conversations/${g.id}/invites`, as(owner))).body.invites as any[]
    const paused = async () => Object.fromEntries((await listed()).map((i) => [i.id, i.paused]))
    expectError(await api.post(`/v1/conversations/${g.id}/invites`, {}, as(owner)), 409, 'CONFLICT')

    expect((await api.put(`/v1/admin/users/${adm.user.id}/suspension`, { reason: 'abuse' }, as(op))).status).toBe(204)
    const whileSuspended = await paused()
    expect(Object.keys(whileSuspended)).toHaveLength(100)
    expect(whileSuspended[byAdmin.id]).toBe(true)
    expect(whileSuspended[byOwner.id]).toBe(false)
    expect(Object.values(whileSuspended).filter((p) => p)).toHaveLength(99)
    expectError(await accept(joiner, byAdmin.code), 404, 'INVALID_INVITE')
    // They admit again once the suspension is lifted, so they keep their places meanwhile.
    expectError(await api.post(`/v1/conversations/${g.id}/invites`, {}, as(owner)), 409, 'CONFLICT')
    expect((await api.del(`/v1/admin/users/${adm.user.id}/suspension`, as(op))).status).toBe(204)
    expect(Object.values(await paused()).every((p) => p === false)).toBe(true)
    expect((await accept(joiner, byAdmin.code)).status).toBe(200)

    // A deleted maker's links never admit again (as an account deletion leaves them between erasing the account and
    // leaving its groups, which revokes them): not listed, and they free their places at once.
    await server.sql('UPDATE users SET deleted_at = now() WHERE id = $1', [adm.user.id])
    expect((await listed()).map((i) => i.id)).toEqual([byOwner.id])
    expect((await api.post(`/v1/conversations/${g.id}/invites`, {}, as(owner))).status).toBe(201)
  })

  it('refuses a banned user with 403 BANNED, and counts concurrent accepts against the use limit exactly', async () => {
    const [owner, banned, ...many] = await users(8)
    const g = await createGroup(api, owner, [], 'bans')
    expect((await api.put(`/v1/conversations/${g.id}/bans/${banned.user.id}`, undefined, as(owner))).status).toBeLessThan(300)
    const invite = await createInvite(owner, g.id, { maxUses: 3 })
    expectError(await accept(banned, invite.code), 403, 'BANNED')
    const results = await Promise.all(many.map((u) => accept(u, invite.code)))
    expect(results.filter((r) => r.status === 200)).toHaveLength(3)
    for (const r of results.filter((r) => r.status !== 200)) expectError(r, 404, 'INVALID_INVITE')
    const [row] = await server.sql('SELECT uses FROM conversation_invites WHERE id = $1', [invite.id])
    expect(row.uses).toBe(3)
    expect((await api.get(`/v1/conversations/${g.id}`, as(owner))).body.memberCount).toBe(4)
  })

  it('count toward the cap of 100 only while listed: a used-up invite frees its place, and creations racing for it stop at the cap', async () => {
    const [owner, joiner] = await users(2)
    const g = await createGroup(api, owner, [], 'at the cap')
    const made = await Promise.all(Array.from({ length: 99 }, () => api.post(`/v1/conversations/${g.id}/invites`, {}, as(owner))))
    expect(made.filter((r) => r.status !== 201)).toEqual([])
    const once = await createInvite(owner, g.id, { maxUses: 1 })
    expectError(await api.post(`/v1/conversations/${g.id}/invites`, {}, as(owner)), 409, 'CONFLICT')
    expect((await accept(joiner, once.code)).status).toBe(200)
    const listed = async () => (await api.get(`/v1/conversations/${g.id}/invites`, as(owner))).body.invites as any[]
    expect(await listed()).toHaveLength(99)
    const racing = await Promise.all(Array.from({ length: 6 }, () => api.post(`/v1/conversations/${g.id}/invites`, {}, as(owner))))
    expect(racing.filter((r) => r.status === 201)).toHaveLength(1)
    for (const r of racing.filter((r) => r.status !== 201)) expectError(r, 409, 'CONFLICT')
    expect(await listed()).toHaveLength(100)
  })

  it('rate-limits accepting per user (429), so codes cannot be guessed by trying', async () => {
    const [guesser] = await users(1)
    const answers = []
    for (let i = 0; i < RATE + 2; i++) answers.push((await accept(guesser, `guess${i}`.padEnd(32, 'x'))).status)
    expect(answers.slice(0, RATE).every((s) => s === 404)).toBe(true)
    expect(answers.slice(RATE)).toEqual([429, 429])
  })

  it('works through the SDK: invites.create, list, revoke, accept', async () => {
    const [owner, b] = await users(2)
    const session = (a: Account) => ({ user: a.user as any, accessToken: a.accessToken, refreshToken: a.refreshToken, expiresAt: Date.now() + 600_000 })
    const ownerSdk = createClient({ baseUrl: server.url, session: session(owner) })
    const sdk = createClient({ baseUrl: server.url, session: session(b) })
    const g = await ownerSdk.conversations.createGroup('sdk invites', [])
    const invite = await ownerSdk.invites.create(g.id, { maxUses: 2 })
    expect((await ownerSdk.invites.list(g.id)).invites.map((i) => i.id)).toEqual([invite.id])
    expect((await sdk.invites.accept(invite.code)).memberCount).toBe(2)
    await ownerSdk.invites.revoke(g.id, invite.id)
    expect((await ownerSdk.invites.list(g.id)).invites).toEqual([])
    await expect(sdk.invites.accept(invite.code)).rejects.toMatchObject({ status: 404, code: 'INVALID_INVITE' }) // revoked, whoever asks
  })
})
