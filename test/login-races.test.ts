// Logins racing what ends every session: a login whose password check was under
// way while the password changed, the account was deleted or suspended gets no
// session that outlives the change (the account row is locked and checked
// again when the session is made).
import { describe, expect, it } from 'vitest'
import { setTimeout as sleep } from 'node:timers/promises'
import { client, register, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

async function racingLogins (username: string, password: string, n: number, stepMs: number) {
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    await sleep(i * stepMs)
    return api.post('/v1/auth/login', { username, password })
  }))
}

describe('login racing a password change', () => {
  it('no session logged in with the old password survives the change', async () => {
    const a = await register(api)
    const change = api.post('/v1/me/password', { currentPassword: a.password, newPassword: 'a brand new passphrase' }, { token: a.accessToken })
    const logins = racingLogins(a.user.username, a.password, 30, 12)
    const [changed, results] = await Promise.all([change, logins])
    expect(changed.status).toBe(204)
    const ok = results.filter((r) => r.status === 200)
    const alive: string[] = []
    for (const r of ok) {
      const me = await api.get('/v1/me/sessions', { token: r.body.accessToken })
      if (me.status === 200) alive.push(r.body.accessToken)
    }
    const live = await server.sql('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1 AND revoked_at IS NULL', [a.user.id])
    console.log('AUDIT pw-change: logins', results.map((r) => r.status).join(','), 'alive after change', alive.length, 'live sessions in db', live[0].n)
    // Only the caller's own session may stay.
    expect(alive).toEqual([])
  })
})

describe('login racing an account deletion', () => {
  it('no session of a deleted account survives', async () => {
    const a = await register(api)
    const del = api.del('/v1/me', { token: a.accessToken, body: { password: a.password } })
    const logins = racingLogins(a.user.username, a.password, 60, 12)
    const [deleted, results] = await Promise.all([del, logins])
    expect(deleted.status).toBe(204)
    const ok = results.filter((r) => r.status === 200)
    const alive: Array<{ token: string, patch: number }> = []
    for (const r of ok) {
      const s = await api.get('/v1/me/sessions', { token: r.body.accessToken })
      if (s.status === 200) {
        const patch = await api.patch('/v1/me', { displayName: 'back from the dead' }, { token: r.body.accessToken })
        const refreshed = await api.post('/v1/auth/refresh', { refreshToken: r.body.refreshToken })
        alive.push({ token: r.body.accessToken, patch: patch.status * 1000 + refreshed.status })
      }
    }
    const row = await server.sql('SELECT username, display_name, deleted_at IS NOT NULL AS deleted FROM users WHERE id = $1', [a.user.id])
    console.log('AUDIT deletion: logins', results.map((r) => r.status).join(','), 'alive', JSON.stringify(alive.map((x) => x.patch)), 'row', JSON.stringify(row[0]))
    expect(alive).toEqual([])
  })
})

describe('login racing a suspension', () => {
  it('no session of a suspended account survives', async () => {
    const boss = await register(api)
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [boss.user.id])
    const a = await register(api)
    const logins = racingLogins(a.user.username, a.password, 40, 5)
    await sleep(60)
    const suspended = await api.put(`/v1/admin/users/${a.user.id}/suspension`, { reason: 'spam' }, { token: boss.accessToken })
    const results = await logins
    expect(suspended.status).toBeLessThan(300)
    const alive: string[] = []
    for (const r of results.filter((x) => x.status === 200)) {
      if ((await api.get('/v1/me/sessions', { token: r.body.accessToken })).status === 200) alive.push(r.body.accessToken)
    }
    console.log('AUDIT suspension: status', suspended.status, 'logins', results.map((r) => r.status).join(','), 'alive', alive.length)
    expect(alive).toEqual([])
  })
})
