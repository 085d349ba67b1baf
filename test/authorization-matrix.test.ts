// The authorization matrix, generated over every route of the OpenAPI
// document: a route added without an entry here fails the test.
import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, register, type Account, type Client, type Response } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'

interface Route { method: string, path: string, auth: boolean }

let server: TestServer
let api: Client
let routes: Route[]
let owner: Account, member: Account, admin: Account, outsider: Account, removed: Account, revoked: Account
let group: { id: string }
let ownersMessage: { id: string }
const SECRET = 'the-secret-body-7f3a9'
const MISSING = '0196a1b2-0000-7000-8000-000000000000'

// A valid body for each route, so that authorization, not validation, decides.
const bodies: Record<string, () => unknown> = {
  'POST /v1/auth/register': () => ({ username: 'matrixuser', password: 'password123' }),
  'POST /v1/auth/login': () => ({ username: 'x', password: 'y' }),
  'POST /v1/auth/refresh': () => ({ refreshToken: 'x' }),
  'POST /v1/auth/logout': () => ({ refreshToken: 'x' }),
  'POST /v1/auth/password-reset': () => ({ username: 'x' }),
  'POST /v1/auth/password-reset/confirm': () => ({ token: 'x', newPassword: 'password123' }),
  'POST /v1/me/password': () => ({ currentPassword: 'x', newPassword: 'password123' }),
  'PATCH /v1/me': () => ({ displayName: 'matrix' }),
  'DELETE /v1/me': () => ({ password: 'x' }),
  'POST /v1/me/email': () => ({ email: 'matrix@example.test', password: 'x' }),
  'POST /v1/me/email/verify': () => ({ code: '123456' }),
  'POST /v1/conversations': () => ({ type: 'group', title: 'matrix', memberIds: [] }),
  'PATCH /v1/conversations/{id}': () => ({ title: 'renamed' }),
  'POST /v1/conversations/{id}/members': () => ({ userIds: [outsider.user.id] }),
  'PATCH /v1/conversations/{id}/members/{userId}': () => ({ role: 'admin' }),
  'POST /v1/conversations/{id}/read': () => ({ seq: 1 }),
  'POST /v1/conversations/{id}/delivered': () => ({ seq: 1 }),
  'POST /v1/conversations/{id}/messages/{messageId}/thread/read': () => ({ seq: 1 }),
  'POST /v1/conversations/{id}/messages': () => ({ body: 'hello' }),
  'PATCH /v1/conversations/{id}/messages/{messageId}': () => ({ body: 'edited' }),
  'PUT /v1/conversations/{id}/slow-mode': () => ({ seconds: 5 }),
  'POST /v1/reports': () => ({ userId: outsider.user.id, reason: 'spam' }),
  'POST /v1/admin/reports/{id}/resolve': () => ({ resolution: 'dismissed' }),
  'PUT /v1/admin/users/{id}/suspension': () => ({}),
  'PUT /v1/me/notifications': () => ({ level: 'mentions' }),
  'PUT /v1/conversations/{id}/notifications': () => ({ level: 'none' }),
  'PUT /v1/me/devices/{deviceId}': () => ({ platform: 'fcm', token: 'matrix-device-token' }),
  'POST /v1/uploads': () => ({ conversationId: group.id, filename: 'matrix.txt', contentType: 'text/plain', size: 5 }),
  'POST /v1/conversations/{id}/invites': () => ({ maxUses: 1 })
}
const noBody = new Set([
  'GET /v1/me', 'GET /v1/users/{id}', 'GET /v1/users', 'GET /v1/conversations', 'GET /v1/conversations/{id}',
  'GET /v1/conversations/{id}/members', 'DELETE /v1/conversations/{id}/members/{userId}', 'GET /v1/conversations/{id}/messages',
  'DELETE /v1/conversations/{id}/messages/{messageId}', 'GET /v1/conversations/{id}/events',
  'GET /v1/me/sessions', 'DELETE /v1/me/sessions/{id}', 'POST /v1/me/sessions/end-others', 'GET /v1/me/export',
  'PUT /v1/me/blocks/{userId}', 'DELETE /v1/me/blocks/{userId}', 'GET /v1/me/blocks',
  'PUT /v1/conversations/{id}/bans/{userId}', 'DELETE /v1/conversations/{id}/bans/{userId}', 'GET /v1/conversations/{id}/bans',
  'PUT /v1/conversations/{id}/mutes/{userId}', 'DELETE /v1/conversations/{id}/mutes/{userId}',
  'PUT /v1/conversations/{id}/freeze', 'DELETE /v1/conversations/{id}/freeze',
  'GET /v1/admin/reports', 'DELETE /v1/admin/users/{id}/suspension', 'DELETE /v1/admin/users/{id}', 'DELETE /v1/admin/messages/{messageId}', 'GET /v1/admin/users', 'GET /v1/admin/audit',
  'GET /v1/me/notifications', 'GET /v1/me/unread', 'GET /v1/me/threads', 'GET /v1/presence',
  'GET /v1/conversations/{id}/messages/{messageId}/thread',
  'GET /v1/me/devices', 'DELETE /v1/me/devices/{deviceId}', 'GET /v1/me/devices/{deviceId}/deliveries', 'POST /v1/me/devices/{deviceId}/test', 'GET /v1/push/config',
  'POST /v1/uploads/{id}/complete', 'GET /v1/attachments/{id}', 'GET /v1/attachments/{id}/{variant}', 'GET /v1/media/{id}',
  'PUT /v1/storage', 'GET /v1/storage',
  'PUT /v1/conversations/{id}/messages/{messageId}/reactions/{emoji}', 'DELETE /v1/conversations/{id}/messages/{messageId}/reactions/{emoji}',
  'PUT /v1/conversations/{id}/pins/{messageId}', 'DELETE /v1/conversations/{id}/pins/{messageId}', 'GET /v1/conversations/{id}/pins',
  // Search, channels and invitations (README).
  'GET /v1/search/messages', 'GET /v1/channels', 'POST /v1/conversations/{id}/join',
  'GET /v1/conversations/{id}/invites', 'DELETE /v1/conversations/{id}/invites/{code}', 'POST /v1/invites/{code}/accept',
  'GET /v1/me/invitations', 'POST /v1/me/invitations/{id}/accept', 'POST /v1/me/invitations/{id}/decline',
  'GET /v1/conversations/{id}/invitations', 'DELETE /v1/conversations/{id}/invitations/{userId}',
  // The sync cursor (README "Sync: one cursor per account"): only the caller's own changes.
  'GET /v1/sync'
])
const query: Record<string, string> = { 'GET /v1/users': '?query=abc', 'GET /v1/presence': '?userIds=0196a1b2-0000-7000-8000-000000000000', 'GET /v1/search/messages': '?q=hello' }
// Routes only an owner or admin may use, with the status a plain member gets.
const adminOnly = new Set([
  'PATCH /v1/conversations/{id}', 'POST /v1/conversations/{id}/members',
  'PATCH /v1/conversations/{id}/members/{userId}', 'DELETE /v1/conversations/{id}/members/{userId}',
  'PATCH /v1/conversations/{id}/messages/{messageId}', 'DELETE /v1/conversations/{id}/messages/{messageId}',
  'PUT /v1/conversations/{id}/bans/{userId}', 'DELETE /v1/conversations/{id}/bans/{userId}', 'GET /v1/conversations/{id}/bans',
  'PUT /v1/conversations/{id}/mutes/{userId}', 'DELETE /v1/conversations/{id}/mutes/{userId}',
  'PUT /v1/conversations/{id}/slow-mode', 'PUT /v1/conversations/{id}/freeze', 'DELETE /v1/conversations/{id}/freeze',
  'PUT /v1/conversations/{id}/pins/{messageId}', 'DELETE /v1/conversations/{id}/pins/{messageId}',
  'POST /v1/conversations/{id}/invites', 'GET /v1/conversations/{id}/invites', 'DELETE /v1/conversations/{id}/invites/{code}',
  'GET /v1/conversations/{id}/invitations', 'DELETE /v1/conversations/{id}/invitations/{userId}'
])

const key = (r: Route) => `${r.method} ${r.path}`
const scoped = (r: Route) => r.path.startsWith('/v1/conversations/{id}')

function url (r: Route, ids: { id?: string, messageId?: string, userId?: string } = {}) {
  return r.path
    .replace('{id}', ids.id ?? group.id)
    .replace('{messageId}', ids.messageId ?? ownersMessage.id)
    .replace('{userId}', ids.userId ?? admin.user.id)
    .replace('{deviceId}', 'matrix-device')
    .replace('{emoji}', encodeURIComponent('👍')).replace('{code}', 'matrix-invite-code') + (query[key(r)] ?? '')
}

function call (r: Route, token: string | undefined, ids?: Parameters<typeof url>[1]): Promise<Response> {
  const body = bodies[key(r)]?.()
  return api.request(r.method, url(r, ids), { ...(body === undefined ? {} : { body }), ...(token === undefined ? {} : { token }) })
}

function noLeak (res: Response) {
  const text = JSON.stringify(res.body)
  expect(text).not.toContain(SECRET)
  expect(text).not.toContain('matrix group')
  for (const a of [owner, member, admin]) expect(text).not.toContain(a.user.username)
}

test.beforeAll(async ({ server: started }) => {
  server = started
  api = client(server.url)
  ;[owner, member, admin, outsider, removed, revoked] = await Promise.all(Array.from({ length: 6 }, () => register(api))) as [Account, Account, Account, Account, Account, Account]
  group = await createGroup(api, owner, [member, admin, removed], 'matrix group')
  await api.patch(`/v1/conversations/${group.id}/members/${admin.user.id}`, { role: 'admin' }, { token: owner.accessToken })
  ownersMessage = await post(api, owner, group.id, SECRET)
  await api.del(`/v1/conversations/${group.id}/members/${removed.user.id}`, { token: owner.accessToken })
  await api.post('/v1/auth/logout', { refreshToken: revoked.refreshToken })
  const doc = (await api.get('/docs/json')).body as { paths: Record<string, Record<string, { security?: unknown[] }>> }
  // `security: []` marks the routes that take no token (register, login, ...).
  routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, auth: (op.security?.length ?? 0) > 0 })))
})

describe('the route table', () => {
  it('has a test entry for every documented route', () => {
    expect(routes.length).toBeGreaterThanOrEqual(20)
    for (const r of routes) expect(bodies[key(r)] !== undefined || noBody.has(key(r)), `no matrix entry for ${key(r)}`).toBe(true)
    // The storage routes (local driver) take a signed token in the URL instead; /v1/media serves avatars and group pictures.
    expect(routes.filter((r) => !r.auth).map(key).sort()).toEqual(['GET /v1/media/{id}', 'GET /v1/storage', 'POST /v1/auth/login', 'POST /v1/auth/logout',
      'POST /v1/auth/password-reset', 'POST /v1/auth/password-reset/confirm', 'POST /v1/auth/refresh', 'POST /v1/auth/register', 'PUT /v1/storage', 'GET /v1/push/config'].sort())
  })
})

describe('bad credentials on every authenticated route', () => {
  it('anonymous, garbage, expired, wrong-key, alg:none, revoked-session and non-uuid-claim tokens all get 401 UNAUTHORIZED', async () => {
    const [h, p] = owner.accessToken.split('.')
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const tokens: Record<string, string | undefined> = {
      anonymous: undefined,
      garbage: 'not.a.jwt',
      expired: server.app.jwt.sign({ sub: owner.user.id, sid: JSON.parse(Buffer.from(p!, 'base64url').toString()).sid }, { clockTimestamp: Date.now() - 3_600_000 }),
      wrongKey: `${h}.${p}.${createHmac('sha256', 'not-the-key').update(`${h}.${p}`).digest('base64url')}`,
      algNone: `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`,
      revokedSession: revoked.accessToken,
      // Signed with the real key, but claims that are not canonical ids (they reached SQL: 500).
      sidNotUuid: server.app.jwt.sign({ sub: owner.user.id, sid: 'not-a-uuid' }),
      sidUpperCase: server.app.jwt.sign({ sub: owner.user.id, sid: String(JSON.parse(Buffer.from(p!, 'base64url').toString()).sid).toUpperCase() }),
      subNotUuid: server.app.jwt.sign({ sub: `urn:uuid:${owner.user.id}`, sid: JSON.parse(Buffer.from(p!, 'base64url').toString()).sid })
    }
    for (const r of routes.filter((x) => x.auth)) {
      for (const [name, token] of Object.entries(tokens)) {
        const res = await call(r, token)
        expect({ route: key(r), name, status: res.status, code: res.body?.code }).toEqual({ route: key(r), name, status: 401, code: 'UNAUTHORIZED' })
        noLeak(res)
      }
    }
  })
})

describe('conversation routes', () => {
  it('a non-member and a removed member get exactly what a missing conversation gets', async () => {
    for (const r of routes.filter(scoped)) {
      const missing = await call(r, outsider.accessToken, { id: MISSING })
      expect({ route: key(r), status: missing.status }).toEqual({ route: key(r), status: 404 })
      for (const who of [outsider, removed]) {
        const res = await call(r, who.accessToken)
        expect({ route: key(r), who: who === outsider ? 'outsider' : 'removed', status: res.status, body: res.body })
          .toEqual({ route: key(r), who: who === outsider ? 'outsider' : 'removed', status: 404, body: missing.body })
        noLeak(res)
      }
    }
  })

  it('a plain member gets 403 FORBIDDEN on owner/admin routes and on others\' messages', async () => {
    for (const r of routes.filter((x) => adminOnly.has(key(x)))) {
      const res = await call(r, member.accessToken)
      expect({ route: key(r), status: res.status, code: res.body?.code }).toEqual({ route: key(r), status: 403, code: 'FORBIDDEN' })
      noLeak(res)
    }
    // Nothing was changed by the refused calls.
    const conv = await api.get(`/v1/conversations/${group.id}`, { token: owner.accessToken })
    expect(conv.body.title).toBe('matrix group')
    const [msg] = (await api.get(`/v1/conversations/${group.id}/messages`, { token: owner.accessToken })).body.messages
    expect(msg).toMatchObject({ id: ownersMessage.id, body: SECRET, deletedAt: null })
  })
})
