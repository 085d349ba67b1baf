// Who may undo what (README "Safety"): a moderator cannot lift a suspension an
// admin put on staff, an admin of a group cannot lift the owner's bans, a
// suspended group admin's invite links admit nobody until the suspension is
// lifted, and the operator's lists page past deleted accounts.
import { describe, expect, it } from 'vitest'
import { createGroup } from './helpers/chat.js'
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
const grant = (who: Account, role: string) => server.sql('UPDATE users SET app_roles = $2 WHERE id = $1', [who.user.id, `{${role}}`])
const deleteAccount = (who: Account) => api.request('DELETE', '/v1/me', { body: { password: who.password }, token: who.accessToken })

describe('suspensions', () => {
  it('only an admin lifts the suspension of a moderator or an admin; a moderator lifts a plain user\'s', async () => {
    const [admin, mod, rogue, plain] = await users(4)
    await grant(admin, 'admin')
    await grant(mod, 'moderator')
    await grant(rogue, 'moderator')
    expect((await api.put(`/v1/admin/users/${rogue.user.id}/suspension`, { reason: 'abuse' }, as(admin))).status).toBe(204)
    expectError(await api.del(`/v1/admin/users/${rogue.user.id}/suspension`, as(mod)), 403, 'FORBIDDEN')
    expectError(await api.post('/v1/auth/login', { username: rogue.user.username, password: rogue.password }), 403, 'SUSPENDED')
    expect((await api.put(`/v1/admin/users/${plain.user.id}/suspension`, {}, as(mod))).status).toBe(204)
    expect((await api.del(`/v1/admin/users/${plain.user.id}/suspension`, as(mod))).status).toBe(204)
    expect((await api.del(`/v1/admin/users/${rogue.user.id}/suspension`, as(admin))).status).toBe(204)
    expect((await api.post('/v1/auth/login', { username: rogue.user.username, password: rogue.password })).status).toBe(200)
  })

  it('a deleted account is not suspended nor unsuspended (404, as deleting it again), and nothing is audited', async () => {
    const [admin, gone] = await users(2)
    await grant(admin, 'admin')
    expect((await deleteAccount(gone)).status).toBe(204)
    expectError(await api.put(`/v1/admin/users/${gone.user.id}/suspension`, {}, as(admin)), 404, 'NOT_FOUND')
    expectError(await api.del(`/v1/admin/users/${gone.user.id}/suspension`, as(admin)), 404, 'NOT_FOUND')
    const [row] = await server.sql('SELECT suspended_at, (SELECT count(*)::int FROM audit_log WHERE target_id = $1) AS audited FROM users WHERE id = $1', [gone.user.id])
    expect(row).toEqual({ suspended_at: null, audited: 0 })
  })

  it('a suspended group admin\'s invite links admit nobody until the suspension is lifted', async () => {
    const [admin, owner, groupAdmin, joiner] = await users(4)
    await grant(admin, 'admin')
    const g = await createGroup(api, owner, [groupAdmin], 'suspended maker')
    expect((await api.patch(`/v1/conversations/${g.id}/members/${groupAdmin.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
    const invite = (await api.post(`/v1/conversations/${g.id}/invites`, {}, as(groupAdmin))).body
    expect((await api.put(`/v1/admin/users/${groupAdmin.user.id}/suspension`, { reason: 'abuse' }, as(admin))).status).toBe(204)
    expectError(await api.post(`/v1/invites/${invite.code}/accept`, undefined, as(joiner)), 404, 'INVALID_INVITE')
    expect((await api.del(`/v1/admin/users/${groupAdmin.user.id}/suspension`, as(admin))).status).toBe(204)
    expect((await api.post(`/v1/invites/${invite.code}/accept`, undefined, as(joiner))).status).toBe(200)
  })
})

describe('group bans', () => {
  it('an admin cannot lift a ban the owner made (of an admin or a member); it lifts an admin\'s ban of a member', async () => {
    const [owner, x, y, m1, m2] = await users(5)
    const g = await createGroup(api, owner, [x, y, m1, m2], 'bans')
    for (const a of [x, y]) expect((await api.patch(`/v1/conversations/${g.id}/members/${a.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
    expectError(await api.put(`/v1/conversations/${g.id}/bans/${x.user.id}`, undefined, as(y)), 403, 'FORBIDDEN')
    expect((await api.put(`/v1/conversations/${g.id}/bans/${x.user.id}`, undefined, as(owner))).status).toBe(204)
    expect((await api.put(`/v1/conversations/${g.id}/bans/${m1.user.id}`, undefined, as(owner))).status).toBe(204)
    expectError(await api.del(`/v1/conversations/${g.id}/bans/${x.user.id}`, as(y)), 403, 'FORBIDDEN')
    expectError(await api.del(`/v1/conversations/${g.id}/bans/${m1.user.id}`, as(y)), 403, 'FORBIDDEN')
    expectError(await api.post(`/v1/conversations/${g.id}/members`, { userIds: [x.user.id] }, as(y)), 403, 'BANNED')
    expect((await api.put(`/v1/conversations/${g.id}/bans/${m2.user.id}`, undefined, as(y))).status).toBe(204)
    expect((await api.del(`/v1/conversations/${g.id}/bans/${m2.user.id}`, as(y))).status).toBe(204)
    expect((await api.del(`/v1/conversations/${g.id}/bans/${x.user.id}`, as(owner))).status).toBe(204)
  })
})

describe('the operator\'s user list', () => {
  it('pages through every account, deleted ones included (their usernames are ~ and hex)', async () => {
    const [admin, d1, d2, d3] = await users(4)
    await grant(admin, 'admin')
    for (const d of [d1, d2, d3]) expect((await deleteAccount(d)).status).toBe(204)
    const [{ n, deleted }] = await server.sql('SELECT count(*)::int AS n, (count(*) FILTER (WHERE deleted_at IS NOT NULL))::int AS deleted FROM users')
    const seen: string[] = []
    let cursor: string | null = null
    for (let i = 0; i < 100 && (i === 0 || cursor !== null); i++) {
      const res: any = await api.get(`/v1/admin/users?limit=1${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`, as(admin))
      expect(res.status, `after ${cursor}: ${JSON.stringify(res.body)}`).toBe(200)
      seen.push(...res.body.users.map((u: { username: string }) => u.username))
      cursor = res.body.nextCursor
    }
    expect(seen).toHaveLength(n)
    expect(seen.filter((u) => u.startsWith('~'))).toHaveLength(deleted)
    expect(deleted).toBeGreaterThanOrEqual(3)
  })
})
