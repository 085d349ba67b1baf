import { describe, expect, it } from 'vitest'
import { client, expectError, register, uniqueName, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

describe('users', () => {
  it('GET /v1/me returns the caller without secrets', async () => {
    const acct = await register(api)
    const res = await api.get('/v1/me', { token: acct.accessToken })
    expect(res.status).toBe(200)
    expect(res.body).toEqual(acct.user)
  })

  it('GET /v1/users/:id returns a public profile with presence', async () => {
    const a = await register(api)
    const b = await register(api)
    const res = await api.get(`/v1/users/${b.user.id}`, { token: a.accessToken })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ ...b.user, online: false, lastSeenAt: null })
  })

  it('GET /v1/users/:id answers 404 for an unknown id and 400 for a malformed one', async () => {
    const a = await register(api)
    expectError(await api.get('/v1/users/0196a1b2-0000-7000-8000-000000000000', { token: a.accessToken }), 404, 'NOT_FOUND')
    expectError(await api.get('/v1/users/not-a-uuid', { token: a.accessToken }), 400, 'VALIDATION_FAILED')
  })

  it('searches usernames by prefix, case-insensitively, with a limit', async () => {
    const stem = uniqueName('srch')
    const a = await register(api, `${stem}_a`)
    await register(api, `${stem}_b`)
    await register(api, `${stem}xc`)
    const all = await api.get(`/v1/users?query=${stem.toUpperCase()}`, { token: a.accessToken })
    expect(all.status).toBe(200)
    expect(all.body.users.map((u: { username: string }) => u.username)).toEqual([`${stem}_a`, `${stem}_b`, `${stem}xc`])
    // Search shows no presence (presence is for users who share a conversation).
    expect(all.body.users[0]).not.toHaveProperty('online')
    // `_` is a literal character here, not a wildcard.
    const underscore = await api.get(`/v1/users?query=${stem}_`, { token: a.accessToken })
    expect(underscore.body.users).toHaveLength(2)
    const limited = await api.get(`/v1/users?query=${stem}&limit=1`, { token: a.accessToken })
    expect(limited.body.users).toHaveLength(1)
  })

  it('validates the search query and requires authentication', async () => {
    const a = await register(api)
    expectError(await api.get('/v1/users', { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/users?query=a%25', { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/users?query=abc&limit=101', { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/users?query=abc&limit=0', { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/users?query=ab'), 401, 'UNAUTHORIZED')
    expectError(await api.get(`/v1/users/${a.user.id}`), 401, 'UNAUTHORIZED')
  })
})
