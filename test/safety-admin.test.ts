// Reports, app roles (granted by `npm run admin`), the /v1/admin API and its
// audit log, over real HTTP and WebSocket against real PostgreSQL.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

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
const run = promisify(execFile)

/** The real command (`npm run admin`; its transpiled form when the run has one), against the test server's database. */
function adminCommand (...args: string[]) {
  const options = { env: { ...process.env, DATABASE_URL: server.databaseUrl, NODE_ENV: 'test' } }
  const build = inject('serverBuild')
  return build === undefined || build === ''
    ? run('npx', ['tsx', 'src/cli/admin.ts', ...args], options)
    : run(process.execPath, [join(build, 'cli', 'admin.js'), ...args], options)
}

describe('reports', () => {
  it('reports a message the reporter can see, or a user; anything else is 404; bad bodies 400', async () => {
    const [a, b, stranger] = await users(3)
    const group = await createGroup(api, a, [b])
    const m = await post(api, b, group.id, 'something nasty')
    const res = await api.post('/v1/reports', { messageId: m.id, reason: 'harassment', note: ' rude ' }, as(a))
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ status: 'open' })
    expect((await api.post('/v1/reports', { userId: b.user.id, reason: 'spam' }, as(stranger))).status).toBe(201)
    expectError(await api.post('/v1/reports', { messageId: m.id, reason: 'spam' }, as(stranger)), 404, 'NOT_FOUND')
    expectError(await api.post('/v1/reports', { messageId: '01890000-0000-7000-8000-000000000000', reason: 'spam' }, as(a)), 404, 'NOT_FOUND')
    expectError(await api.post('/v1/reports', { userId: '01890000-0000-7000-8000-000000000000', reason: 'spam' }, as(a)), 404, 'NOT_FOUND')
    expectError(await api.post('/v1/reports', { messageId: m.id, userId: b.user.id, reason: 'spam' }, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.post('/v1/reports', { reason: 'spam' }, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.post('/v1/reports', { userId: b.user.id, reason: 'boring' }, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.post('/v1/reports', { messageId: m.id, reason: 'spam' }, as(b)), 400, 'VALIDATION_FAILED')
    // A member who joined after the message cannot see it, so cannot report it.
    const late = (await users(1))[0]
    await api.post(`/v1/conversations/${group.id}/members`, { userIds: [late.user.id] }, as(a))
    expectError(await api.post('/v1/reports', { messageId: m.id, reason: 'spam' }, as(late)), 404, 'NOT_FOUND')
  })
})

describe('app roles and the admin API', () => {
  it('npm run admin grants and revokes; the role is checked on every request', async () => {
    const [boss, plain] = await users(2)
    expectError(await api.get('/v1/admin/users', as(boss)), 403, 'FORBIDDEN')
    const granted = await adminCommand('grant', boss.user.username.toUpperCase(), 'moderator')
    expect(granted.stdout).toContain(`Granted moderator to ${boss.user.username}`)
    expect((await api.get('/v1/admin/users', as(boss))).status).toBe(200)
    // Moderators do not read the audit log.
    expectError(await api.get('/v1/admin/audit', as(boss)), 403, 'FORBIDDEN')
    await adminCommand('revoke', boss.user.username, 'moderator')
    expectError(await api.get('/v1/admin/users', as(boss)), 403, 'FORBIDDEN')
    await expect(adminCommand('grant', 'nobody_here_at_all', 'admin')).rejects.toMatchObject({ code: 1 })
    await expect(adminCommand('grant', plain.user.username, 'superuser')).rejects.toMatchObject({ code: 2 })
    expectError(await api.get('/v1/admin/reports', as(plain)), 403, 'FORBIDDEN')
    expectError(await api.get('/v1/admin/reports'), 401, 'UNAUTHORIZED')
  }, 120_000)

  it('lists and resolves reports, suspends (sockets close, login 403 SUSPENDED) and unsuspends, deletes any message; all audited', async () => {
    const [admin, mod, a, b] = await users(4)
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [admin.user.id])
    await server.sql("UPDATE users SET app_roles = '{moderator}' WHERE id = $1", [mod.user.id])
    const group = await createGroup(api, a, [b])
    const m = await post(api, b, group.id, 'spam spam spam')
    const report = (await api.post('/v1/reports', { messageId: m.id, reason: 'spam' }, as(a))).body

    const open = (await api.get('/v1/admin/reports?status=open&limit=100', as(mod))).body
    expect(open.reports.find((r: any) => r.id === report.id)).toMatchObject({
      reporterId: a.user.id, userId: b.user.id, messageId: m.id, conversationId: group.id, messageBody: 'spam spam spam', status: 'open'
    })
    const resolved = await api.post(`/v1/admin/reports/${report.id}/resolve`, { resolution: 'message deleted, user suspended' }, as(mod))
    expect(resolved.body).toMatchObject({ status: 'resolved', resolvedBy: mod.user.id })
    expectError(await api.post(`/v1/admin/reports/${report.id}/resolve`, { resolution: 'again' }, as(mod)), 409, 'CONFLICT')
    expectError(await api.post('/v1/admin/reports/01890000-0000-7000-8000-000000000000/resolve', { resolution: 'x' }, as(mod)), 404, 'NOT_FOUND')

    // Delete any message: a message.deleted event to the members, the earlier event redacted.
    const sa = await connectReady(server.url, a.accessToken, opened)
    const tomb = await api.del(`/v1/admin/messages/${m.id}`, as(mod))
    expect(tomb.body).toMatchObject({ id: m.id, body: '' })
    expect((await sa.next((f) => f.type === 'message.deleted')).data.id).toBe(m.id)
    const events = await replay(api, a, group.id)
    expect(events.find((e) => e.seq === m.seq).data.body).toBe('')

    // Suspend: sockets close with 4001, refresh and login refused.
    const sb = await connectReady(server.url, b.accessToken, opened)
    expect((await api.put(`/v1/admin/users/${b.user.id}/suspension`, { reason: 'spam' }, as(mod))).status).toBe(204)
    expect((await sb.closed).code).toBe(4001)
    expectError(await api.get('/v1/me', as(b)), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/auth/refresh', { refreshToken: b.refreshToken }), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/auth/login', { username: b.user.username, password: b.password }), 403, 'SUSPENDED')
    // A moderator cannot suspend staff; nobody suspends themself.
    expectError(await api.put(`/v1/admin/users/${admin.user.id}/suspension`, {}, as(mod)), 403, 'FORBIDDEN')
    expectError(await api.put(`/v1/admin/users/${mod.user.id}/suspension`, {}, as(mod)), 403, 'FORBIDDEN')
    const listed = (await api.get(`/v1/admin/users?query=${b.user.username}`, as(admin))).body.users
    expect(listed).toHaveLength(1)
    expect(listed[0].suspendedAt).not.toBeNull()
    expect((await api.del(`/v1/admin/users/${b.user.id}/suspension`, as(admin))).status).toBe(204)
    expect((await api.post('/v1/auth/login', { username: b.user.username, password: b.password })).status).toBe(200)

    const audit = (await api.get('/v1/admin/audit?limit=100', as(admin))).body.entries
    const mine = audit.filter((e: any) => e.targetId === b.user.id || e.targetId === m.id || e.targetId === report.id)
    expect(mine.map((e: any) => [e.action, e.actorId])).toEqual([
      ['user.unsuspended', admin.user.id],
      ['user.suspended', mod.user.id],
      ['message.deleted', mod.user.id],
      ['report.resolved', mod.user.id]
    ])
  })

  it('an admin deletes a suspended user\'s account for them (a data-erasure request): erased as by DELETE /v1/me, audited; moderators and self refused', async () => {
    const [admin, mod, a, b] = await users(4)
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [admin.user.id])
    await server.sql("UPDATE users SET app_roles = '{moderator}' WHERE id = $1", [mod.user.id])
    const group = await createGroup(api, a, [b])
    const secret = `secret of b ${Date.now()}`
    const m = await post(api, b, group.id, secret)
    expect((await api.put(`/v1/admin/users/${b.user.id}/suspension`, { reason: 'spam' }, as(admin))).status).toBe(204)
    expectError(await api.post('/v1/auth/login', { username: b.user.username, password: b.password }), 403, 'SUSPENDED')

    const sa = await connectReady(server.url, a.accessToken, opened)
    expectError(await api.del(`/v1/admin/users/${b.user.id}`, as(mod)), 403, 'FORBIDDEN')
    expectError(await api.del(`/v1/admin/users/${b.user.id}`, as(a)), 403, 'FORBIDDEN')
    expectError(await api.del(`/v1/admin/users/${admin.user.id}`, as(admin)), 403, 'FORBIDDEN')
    expectError(await api.del('/v1/admin/users/01890000-0000-7000-8000-000000000000', as(admin)), 404, 'NOT_FOUND')
    expect((await api.del(`/v1/admin/users/${b.user.id}`, as(admin))).status).toBe(204)

    // The other member sees what DELETE /v1/me shows: the message erased, the user gone from the group.
    expect((await sa.next((f) => f.type === 'message.deleted')).data.id).toBe(m.id)
    expect((await sa.next((f) => f.type === 'member.removed')).data.userId).toBe(b.user.id)
    const history = (await api.get(`/v1/conversations/${group.id}/messages`, as(a))).body.messages
    expect(JSON.stringify(history)).not.toContain(secret)
    expect((await api.get(`/v1/users/${b.user.id}`, as(a))).body).toMatchObject({ displayName: 'Deleted user' })
    expectError(await api.post('/v1/auth/login', { username: b.user.username, password: b.password }), 401, 'INVALID_CREDENTIALS')
    // Once: a second request finds no account to delete.
    expectError(await api.del(`/v1/admin/users/${b.user.id}`, as(admin)), 404, 'NOT_FOUND')

    const audit = (await api.get('/v1/admin/audit?limit=100', as(admin))).body.entries
    const entry = audit.find((e: any) => e.action === 'user.deleted' && e.targetId === b.user.id)
    expect(entry).toMatchObject({ actorId: admin.user.id, targetType: 'user' })
    expect(entry.data).toEqual({ appRoles: [], suspended: true })
  })

  it('one account deleted in parallel by admins and by itself: one deletion is done (and audited when an admin\'s), the others answer 404 (401 its own)', async () => {
    const [admin, other] = await users(2)
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = ANY($1::uuid[])", [[admin.user.id, other.user.id]])
    for (let round = 0; round < 3; round++) {
      const [victim] = await users(1)
      const [own, ...byAdmins] = await Promise.all([
        api.request('DELETE', '/v1/me', { body: { password: victim.password }, token: victim.accessToken }),
        ...Array.from({ length: 6 }, (_, i) => api.del(`/v1/admin/users/${victim.user.id}`, as(i % 2 === 0 ? admin : other)))
      ])
      const done = byAdmins.filter((r) => r.status === 204).length
      expect(done + (own.status === 204 ? 1 : 0)).toBe(1)
      for (const r of byAdmins.filter((x) => x.status !== 204)) expectError(r, 404, 'NOT_FOUND')
      if (own.status !== 204) expectError(own, 401, 'UNAUTHORIZED')
      const [{ n }] = await server.sql("SELECT count(*)::int AS n FROM audit_log WHERE action = 'user.deleted' AND target_id = $1", [victim.user.id])
      expect(n).toBe(done)
    }
  })

  it('pages users and the audit log with cursors', async () => {
    const [admin] = await users(1)
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [admin.user.id])
    const first = (await api.get('/v1/admin/users?limit=2', as(admin))).body
    expect(first.users).toHaveLength(2)
    const second = (await api.get(`/v1/admin/users?limit=2&cursor=${first.nextCursor}`, as(admin))).body
    expect(second.users[0].username > first.users[1].username).toBe(true)
  })

  it('refuses a cursor that is not one of its pages with 400 VALIDATION_FAILED, not a database error', async () => {
    const [admin] = await users(1)
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [admin.user.id])
    for (const path of ['/v1/admin/reports?cursor=x', '/v1/admin/audit?cursor=not-a-uuid', `/v1/admin/reports?cursor=${'1'.repeat(36)}`, "/v1/admin/users?cursor=a'b", '/v1/admin/users?cursor=%00']) {
      const res = await api.get(path, as(admin))
      expect(res.status, path).toBe(400)
      expect(res.body.code, path).toBe('VALIDATION_FAILED')
    }
  })
})

describe('an operator deleting a message with a file', () => {
  it('leaves a tombstone without the attachment, in the answer, history and replay, and the file goes', async () => {
    const [a, b, op] = await users(3)
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [op.user.id])
    const group = await createGroup(api, a, [b])
    const bytes = Buffer.from('a file the operator removes\n')
    const created = await api.post('/v1/uploads', { conversationId: group.id, filename: 'offensive-name.txt', contentType: 'text/plain', size: bytes.length }, as(a))
    expect(created.status).toBe(201)
    expect((await fetch(new URL(created.body.uploadUrl, server.url), { method: 'PUT', headers: created.body.headers, body: bytes })).ok).toBe(true)
    const done = await api.post(`/v1/uploads/${created.body.upload.id}/complete`, undefined, as(a))
    expect(done.status).toBe(200)
    const m = await post(api, a, group.id, 'a file', { attachments: [done.body.id] })
    expect(m.attachments).toHaveLength(1)

    const tomb = await api.del(`/v1/admin/messages/${m.id}`, as(op))
    expect(tomb.status).toBe(200)
    expect(tomb.body.attachments).toEqual([])
    const shown = (await api.get(`/v1/conversations/${group.id}/messages`, as(b))).body.messages.find((x: any) => x.id === m.id)
    expect(shown.attachments).toEqual([])
    expect((await replay(api, b, group.id)).filter((e) => e.data?.id === m.id).map((e) => e.data.attachments)).toEqual([[], []])
    expect(JSON.stringify(await replay(api, b, group.id))).not.toContain('offensive-name')
    await expect.poll(async () => (await server.sql('SELECT state FROM uploads WHERE id = $1', [done.body.id])).length).toBe(0)
  })
})
