// The retention sweep (src/domain/session-retention.ts): what accounts leave
// behind is deleted once it can no longer be used, and a session that lapsed
// is logged out everywhere. Time is moved by moving the stored timestamps back.
import { describe, expect, it } from 'vitest'
import { client, expectError, register, type Account, type Client } from './helpers/http.js'
import { connect } from './helpers/ws.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client

test.override('serverOptions', { config: { retentionSweepIntervalMs: 200, sessionHistoryDays: 30 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const sessionOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid
const poll = { timeout: 15_000, interval: 100 }

async function login (a: Account) {
  const res = await api.post('/v1/auth/login', { username: a.user.username, password: a.password })
  expect(res.status).toBe(200)
  return res.body as { accessToken: string, refreshToken: string }
}

async function count (sql: string, params: unknown[]): Promise<number> {
  return Number((await server.sql<{ n: string }>(sql, params))[0]!.n)
}

describe('session retention', () => {
  it('a session unused past REFRESH_TOKEN_TTL_SECONDS is logged out: no longer listed, its socket closed with 4001, its devices gone', async () => {
    const a = await register(api)
    const kept = await login(a)
    const lapsing = a
    const lapsingId = sessionOf(lapsing.accessToken)
    const socket = await connect(server.url, lapsing.accessToken)
    await socket.next((f) => f.type === 'ready')
    await server.sql("INSERT INTO devices (user_id, device_id, session_id, platform, token) VALUES ($1, 'phone-1', $2, 'apns', $3)", [a.user.id, lapsingId, 'a'.repeat(64)])

    // Its refresh token expired, and the access token issued with it long ago.
    await server.sql("UPDATE refresh_tokens SET expires_at = now() - interval '1 second', created_at = now() - interval '31 days' WHERE session_id = $1", [lapsingId])

    expect((await socket.closed).code).toBe(4001)
    const listed = await api.get('/v1/me/sessions', { token: kept.accessToken })
    expect(listed.body.sessions.map((s: { id: string }) => s.id)).toEqual([sessionOf(kept.accessToken)])
    expectError(await api.get('/v1/me', { token: lapsing.accessToken }), 401, 'UNAUTHORIZED')
    expect((await api.post('/v1/auth/refresh', { refreshToken: lapsing.refreshToken })).status).toBe(401)
    expect(await count('SELECT count(*) AS n FROM devices WHERE session_id = $1', [lapsingId])).toBe(0)
    // Ended, and kept for the export until SESSION_HISTORY_DAYS have passed.
    const exported = (await api.get('/v1/me/export', { token: kept.accessToken })).body
    expect(exported.sessions.find((s: { id: string }) => s.id === lapsingId)).toMatchObject({ revokedAt: expect.any(String) })
    // The other session never stopped working.
    expect((await api.get('/v1/me', { token: kept.accessToken })).status).toBe(200)
    expect((await api.post('/v1/auth/refresh', { refreshToken: kept.refreshToken })).status).toBe(200)
  })

  it('a session listed is one that works: until its access token expires, even with its refresh token expired', async () => {
    const a = await register(api)
    const id = sessionOf(a.accessToken)
    // The refresh token expired a moment ago; the access token issued with it still works.
    await server.sql("UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE session_id = $1", [id])
    const listed = await api.get('/v1/me/sessions', { token: a.accessToken })
    expect(listed.status).toBe(200)
    expect(listed.body.sessions.map((s: { id: string }) => s.id)).toEqual([id])
    expect((await api.get('/v1/me', { token: a.accessToken })).status).toBe(200)
  })

  it('deletes exchanged refresh tokens once expired, and nothing a session still needs', async () => {
    const a = await register(api)
    const id = sessionOf(a.accessToken)
    let tokens = { accessToken: a.accessToken, refreshToken: a.refreshToken }
    for (let i = 0; i < 3; i++) {
      const res = await api.post('/v1/auth/refresh', { refreshToken: tokens.refreshToken })
      expect(res.status).toBe(200)
      tokens = res.body
    }
    expect(await count('SELECT count(*) AS n FROM refresh_tokens WHERE session_id = $1', [id])).toBe(4)
    await server.sql("UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE session_id = $1 AND rotated_at IS NOT NULL", [id])

    await expect.poll(() => count('SELECT count(*) AS n FROM refresh_tokens WHERE session_id = $1', [id]), poll).toBe(1)
    // An expired token is refused, as it was before it was deleted: and the session is not revoked for it.
    expect((await api.post('/v1/auth/refresh', { refreshToken: a.refreshToken })).status).toBe(401)
    expect((await api.get('/v1/me', { token: tokens.accessToken })).status).toBe(200)
    expect((await api.post('/v1/auth/refresh', { refreshToken: tokens.refreshToken })).status).toBe(200)
  })

  it('deletes sessions ended more than SESSION_HISTORY_DAYS ago with their tokens, and password resets a day past their expiry', async () => {
    const a = await register(api)
    const recent = await login(a)
    const old = await login(a)
    for (const s of [recent, old]) expect((await api.post('/v1/auth/logout', { refreshToken: s.refreshToken })).status).toBe(204)
    const oldId = sessionOf(old.accessToken)
    await server.sql("UPDATE sessions SET revoked_at = now() - interval '31 days' WHERE id = $1", [oldId])
    await server.sql(`INSERT INTO password_resets (token_hash, user_id, created_at, expires_at)
      VALUES (repeat('1', 64), $1, now() - interval '3 days', now() - interval '2 days'), (repeat('2', 64), $1, now(), now() + interval '30 minutes')`, [a.user.id])

    await expect.poll(() => count('SELECT count(*) AS n FROM sessions WHERE id = $1', [oldId]), poll).toBe(0)
    expect(await count('SELECT count(*) AS n FROM refresh_tokens WHERE session_id = $1', [oldId])).toBe(0)
    await expect.poll(() => count('SELECT count(*) AS n FROM password_resets WHERE user_id = $1', [a.user.id]), poll).toBe(1)
    expect(await count("SELECT count(*) AS n FROM password_resets WHERE token_hash = repeat('2', 64)", [])).toBe(1)
    // The session ended within the history stays, for the export.
    const exported = (await api.get('/v1/me/export', { token: a.accessToken })).body
    expect(exported.sessions.map((s: { id: string }) => s.id).sort()).toEqual([sessionOf(a.accessToken), sessionOf(recent.accessToken)].sort())
  })
})
