// The caller's own account over real HTTP and WebSocket: changing the
// password, listing and ending sessions, the profile push, and privacy
// (presence only for users who share a conversation, search without it).
import { afterAll, describe, expect, it } from 'vitest'
import { client, expectError, register, uniqueName, type Account, type Client } from './helpers/http.js'
import { createDirect, createGroup } from './helpers/chat.js'
import { startServer, test, type TestServer } from './helpers/server.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

async function login (a: Account, userAgent: string): Promise<Account> {
  const res = await api.post('/v1/auth/login', { username: a.user.username, password: a.password }, { headers: { 'user-agent': userAgent } })
  expect(res.status).toBe(200)
  return { ...res.body, password: a.password }
}

describe('change password', () => {
  it('ends every other session (sockets close 4001) and keeps this one', async () => {
    const a = await register(api)
    const phone = await login(a, 'phone')
    const here = await connectReady(server.url, a.accessToken, sockets)
    const there = await connectReady(server.url, phone.accessToken, sockets)
    expectError(await api.post('/v1/me/password', { currentPassword: 'wrong password', newPassword: 'the new password' }, { token: a.accessToken }), 401, 'INVALID_CREDENTIALS')
    expectError(await api.post('/v1/me/password', { currentPassword: a.password, newPassword: 'short' }, { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    expect((await api.post('/v1/me/password', { currentPassword: a.password, newPassword: 'the new password' }, { token: a.accessToken })).status).toBe(204)
    expect((await there.closed).code).toBe(4001)
    expectError(await api.get('/v1/me', { token: phone.accessToken }), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/auth/refresh', { refreshToken: phone.refreshToken }), 401, 'UNAUTHORIZED')
    // This session stays, its socket too.
    expect((await api.get('/v1/me', { token: a.accessToken })).status).toBe(200)
    here.send({ type: 'ping' })
    await here.next((f) => f.type === 'pong')
    expectError(await api.post('/v1/auth/login', { username: a.user.username, password: a.password }), 401, 'INVALID_CREDENTIALS')
    expect((await api.post('/v1/auth/login', { username: a.user.username, password: 'the new password' })).status).toBe(200)
    expectError(await api.post('/v1/me/password', { currentPassword: 'x', newPassword: 'the new password' }), 401, 'UNAUTHORIZED')
  })
})

describe('sessions', () => {
  it('lists sessions with user agent, times and the current one; ends one, then all others', async () => {
    const a = await register(api)
    const phone = await login(a, 'PhoneApp/1.0')
    const tablet = await login(a, 'TabletApp/2.0')
    const list = await api.get('/v1/me/sessions', { token: phone.accessToken })
    expect(list.status).toBe(200)
    expect(list.body.sessions).toHaveLength(3)
    const agents = list.body.sessions.map((s: any) => s.userAgent)
    expect(agents.slice(0, 2)).toEqual(['TabletApp/2.0', 'PhoneApp/1.0'])
    expect(list.body.sessions.filter((s: any) => s.current).map((s: any) => s.userAgent)).toEqual(['PhoneApp/1.0'])
    for (const s of list.body.sessions) {
      expect(Object.keys(s).sort()).toEqual(['createdAt', 'current', 'id', 'lastUsedAt', 'userAgent'])
      expect(Date.parse(s.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(s.createdAt))
    }
    // A refresh moves lastUsedAt.
    const tabletSession = list.body.sessions.find((s: any) => s.userAgent === 'TabletApp/2.0')
    const refreshed = await api.post('/v1/auth/refresh', { refreshToken: tablet.refreshToken })
    expect(refreshed.status).toBe(200)
    const after = (await api.get('/v1/me/sessions', { token: phone.accessToken })).body.sessions.find((s: any) => s.id === tabletSession.id)
    expect(Date.parse(after.lastUsedAt)).toBeGreaterThan(Date.parse(tabletSession.lastUsedAt))

    const tabletSocket = await connectReady(server.url, refreshed.body.accessToken, sockets)
    expect((await api.del(`/v1/me/sessions/${tabletSession.id}`, { token: phone.accessToken })).status).toBe(204)
    expect((await tabletSocket.closed).code).toBe(4001)
    expectError(await api.post('/v1/auth/refresh', { refreshToken: refreshed.body.refreshToken }), 401, 'UNAUTHORIZED')
    expectError(await api.del(`/v1/me/sessions/${tabletSession.id}`, { token: phone.accessToken }), 404, 'NOT_FOUND')
    expectError(await api.del('/v1/me/sessions/not-a-uuid', { token: phone.accessToken }), 400, 'VALIDATION_FAILED')
    // Another user's session is not found either.
    const b = await register(api)
    const firstSession = list.body.sessions.find((s: any) => !s.current && s.userAgent !== 'TabletApp/2.0')
    expectError(await api.del(`/v1/me/sessions/${firstSession.id}`, { token: b.accessToken }), 404, 'NOT_FOUND')

    const first = await connectReady(server.url, a.accessToken, sockets)
    const ended = await api.post('/v1/me/sessions/end-others', undefined, { token: phone.accessToken })
    expect(ended.status).toBe(200)
    expect(ended.body).toEqual({ ended: 1 })
    expect((await first.closed).code).toBe(4001)
    const left = await api.get('/v1/me/sessions', { token: phone.accessToken })
    expect(left.body.sessions.map((s: any) => s.current)).toEqual([true])
  })

  it('keeps at most SESSIONS_PER_USER live sessions: a login past them ends the one used longest ago, its socket too', async () => {
    const capped = await startServer({ config: { sessionsPerUser: 3 } })
    try {
      const k = client(capped.url)
      const a = await register(k)
      const second = (await k.post('/v1/auth/login', { username: a.user.username, password: a.password })).body
      const third = (await k.post('/v1/auth/login', { username: a.user.username, password: a.password })).body
      // The first (registration) session is used again: the second is now the one used longest ago.
      const refreshed = (await k.post('/v1/auth/refresh', { refreshToken: a.refreshToken })).body
      const secondSocket = await connectReady(capped.url, second.accessToken, sockets)
      const fourth = (await k.post('/v1/auth/login', { username: a.user.username, password: a.password })).body
      expect((await secondSocket.closed).code).toBe(4001)
      expectError(await k.post('/v1/auth/refresh', { refreshToken: second.refreshToken }), 401, 'UNAUTHORIZED')
      const live = (await k.get('/v1/me/sessions', { token: fourth.accessToken })).body.sessions
      expect(live).toHaveLength(3)
      for (const pair of [refreshed, third, fourth]) expect((await k.get('/v1/me', { token: pair.accessToken })).status).toBe(200)
    } finally {
      await capped.close()
    }
  })
})

describe('profile', () => {
  it('PATCH /v1/me changes the display name and pushes user.updated to users who share a conversation only', async () => {
    const [a, b, c, stranger] = await Promise.all([register(api), register(api), register(api), register(api)])
    await createDirect(api, a, b)
    await createGroup(api, c, [a])
    const [sb, sc, ss] = await Promise.all([b, c, stranger].map((u) => connectReady(server.url, u.accessToken, sockets)))
    const res = await api.patch('/v1/me', { displayName: '  New Name  ' }, { token: a.accessToken })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ ...a.user, displayName: 'New Name' })
    for (const s of [sb!, sc!]) {
      const frame = await s.next((f) => f.type === 'user.updated')
      expect(frame).toEqual({ type: 'user.updated', data: { ...a.user, displayName: 'New Name' } })
    }
    await ss!.none((f) => f.type === 'user.updated')
    expect((await api.get('/v1/me', { token: a.accessToken })).body.displayName).toBe('New Name')
    expectError(await api.patch('/v1/me', { displayName: '' }, { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    expectError(await api.patch('/v1/me', { displayName: 'x'.repeat(65) }, { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    expectError(await api.patch('/v1/me', { username: 'other' }, { token: a.accessToken }), 400, 'VALIDATION_FAILED')
  })
})

describe('privacy', () => {
  it('shows presence and last seen only to users who share a conversation', async () => {
    const [a, contact, stranger] = await Promise.all([register(api), register(api), register(api)])
    await createDirect(api, a, contact)
    await connectReady(server.url, a.accessToken, sockets)
    const seen = await api.get(`/v1/users/${a.user.id}`, { token: contact.accessToken })
    expect(seen.body).toMatchObject({ id: a.user.id, online: true })
    const hidden = await api.get(`/v1/users/${a.user.id}`, { token: stranger.accessToken })
    expect(hidden.status).toBe(200)
    expect(hidden.body).toEqual({ ...a.user, online: false, lastSeenAt: null })
    // The user themself sees their own.
    expect((await api.get(`/v1/users/${a.user.id}`, { token: a.accessToken })).body.online).toBe(true)
  })

  it('search needs 3 characters and returns no presence', async () => {
    const stem = uniqueName('prv')
    const a = await register(api, `${stem}a`)
    expectError(await api.get('/v1/users?query=p', { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/users?query=pr', { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    const res = await api.get(`/v1/users?query=${stem}`, { token: a.accessToken })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ users: [a.user] })
  })
})
