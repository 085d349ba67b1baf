import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { client, expectError, register, uniqueName, type Client } from './helpers/http.js'
import { startServer, test, type TestServer } from './helpers/server.js'
import { ageRotation } from './helpers/users.js'
import { loadConfig } from '../src/config.js'
import { hashPassword, setPasswordHashCost, verifyPassword } from '../src/domain/passwords.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

describe('register', () => {
  it('creates a user, lower-cases the username and returns tokens', async () => {
    const name = uniqueName('Mixed')
    const res = await api.post('/v1/auth/register', { username: name, password: 'password123', displayName: 'Mixed Case' })
    expect(res.status).toBe(201)
    expect(res.body.user).toEqual({ id: expect.any(String), username: name.toLowerCase(), displayName: 'Mixed Case', avatarUrl: null, createdAt: expect.any(String) })
    expect(res.body.user).not.toHaveProperty('passwordHash')
    expect(res.body.expiresIn).toBe(900)
    expect(res.body.refreshToken.length).toBeGreaterThanOrEqual(40)
    const me = await api.get('/v1/me', { token: res.body.accessToken })
    expect(me.body.id).toBe(res.body.user.id)
  })

  it('defaults displayName to the username as typed', async () => {
    const name = uniqueName('Bob')
    const res = await api.post('/v1/auth/register', { username: name, password: 'password123' })
    expect(res.body.user.displayName).toBe(name)
  })

  it('answers 409 USERNAME_TAKEN for a taken name in any case', async () => {
    const name = uniqueName('dup')
    await register(api, name)
    expectError(await api.post('/v1/auth/register', { username: name.toUpperCase(), password: 'password123' }), 409, 'USERNAME_TAKEN')
  })

  it.each([
    [{ password: 'password123' }, 'body must have required property \'username\''],
    [{ username: 'ab', password: 'password123' }, 'body/username must NOT have fewer than 3 characters'],
    [{ username: 'a'.repeat(33), password: 'password123' }, 'body/username must NOT have more than 32 characters'],
    [{ username: 'bad name!', password: 'password123' }, 'body/username must match pattern'],
    [{ username: 'okname', password: 'short' }, 'body/password must NOT have fewer than 8 characters'],
    [{ username: 'okname', password: 'p'.repeat(257) }, 'body/password must NOT have more than 256 characters'],
    [{ username: 'okname', password: 'password123', displayName: '' }, 'body/displayName must NOT have fewer than 1 characters'],
    [{ username: 'okname', password: 'password123', displayName: 'd'.repeat(65) }, 'body/displayName must NOT have more than 64 characters'],
    [{ username: 12345, password: 'password123' }, 'body/username must be string']
  ])('rejects %j with VALIDATION_FAILED', async (body, message) => {
    const res = await api.post('/v1/auth/register', body)
    expectError(res, 400, 'VALIDATION_FAILED')
    expect(res.body.message).toContain(message)
  })
})

describe('login', () => {
  it('logs in case-insensitively and starts a new session', async () => {
    const acct = await register(api, uniqueName('carol'))
    const res = await api.post('/v1/auth/login', { username: acct.user.username.toUpperCase(), password: acct.password })
    expect(res.status).toBe(200)
    expect(res.body.user.id).toBe(acct.user.id)
    expect(res.body.refreshToken).not.toBe(acct.refreshToken)
  })

  it('answers the same 401 for an unknown user and a wrong password', async () => {
    const acct = await register(api)
    const wrong = await api.post('/v1/auth/login', { username: acct.user.username, password: 'not the password' })
    const unknown = await api.post('/v1/auth/login', { username: uniqueName('ghost'), password: 'not the password' })
    expectError(wrong, 401, 'INVALID_CREDENTIALS')
    expect(unknown.status).toBe(wrong.status)
    expect(unknown.body).toEqual(wrong.body)
  })
})

describe('refresh and logout', () => {
  it('rotates the refresh token: the new one works, the old one revokes the session', async () => {
    const acct = await register(api)
    const first = await api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken })
    expect(first.status).toBe(200)
    expect(first.body.refreshToken).not.toBe(acct.refreshToken)
    expect((await api.get('/v1/me', { token: first.body.accessToken })).status).toBe(200)

    // The rotated-away token comes back after the grace window: the whole session ends.
    await ageRotation(server, acct.refreshToken)
    const reuse = await api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken })
    expectError(reuse, 401, 'UNAUTHORIZED')
    expect(reuse.body.message).toMatch(/reuse/)
    expectError(await api.post('/v1/auth/refresh', { refreshToken: first.body.refreshToken }), 401, 'UNAUTHORIZED')
    expectError(await api.get('/v1/me', { token: first.body.accessToken }), 401, 'UNAUTHORIZED')
    expectError(await api.get('/v1/me', { token: acct.accessToken }), 401, 'UNAUTHORIZED')
  })

  it('keeps other sessions of the user alive when one is revoked', async () => {
    const acct = await register(api)
    const other = await api.post('/v1/auth/login', { username: acct.user.username, password: acct.password })
    await api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken })
    await ageRotation(server, acct.refreshToken)
    await api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken })
    expect((await api.get('/v1/me', { token: other.body.accessToken })).status).toBe(200)
    expect((await api.post('/v1/auth/refresh', { refreshToken: other.body.refreshToken })).status).toBe(200)
  })

  it('concurrent refreshes of one token (two tabs, a retry) all get the same working pair', async () => {
    const acct = await register(api)
    const answers = await Promise.all(Array.from({ length: 8 }, () => api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken })))
    expect(answers.map((r) => r.status)).toEqual(Array(8).fill(200))
    const pairs = new Set(answers.map((r) => `${r.body.accessToken} ${r.body.refreshToken}`))
    expect(pairs.size).toBe(1)
    const { accessToken, refreshToken } = answers[0]!.body
    expect(refreshToken).not.toBe(acct.refreshToken)
    expect((await api.get('/v1/me', { token: accessToken })).status).toBe(200)
    // A retry a moment later gets the same pair again, and the pair keeps working.
    expect((await api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken })).body).toMatchObject({ accessToken, refreshToken })
    const next = await api.post('/v1/auth/refresh', { refreshToken })
    expect(next.status).toBe(200)
    expect((await api.get('/v1/me', { token: next.body.accessToken })).status).toBe(200)

    // The replacement is kept sealed: no refresh token is stored in clear.
    const rows = await server.sql<{ successor: Buffer | null }>('SELECT successor FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE s.user_id = $1', [acct.user.id])
    for (const row of rows) if (row.successor !== null) expect(row.successor.toString('latin1')).not.toContain(refreshToken)

    // Past the grace window the old token is a reuse: the session ends.
    await ageRotation(server, acct.refreshToken)
    expectError(await api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken }), 401, 'UNAUTHORIZED')
    expectError(await api.get('/v1/me', { token: next.body.accessToken }), 401, 'UNAUTHORIZED')
  })

  it('the grace window ends once the new pair was used: the old token then revokes the session', async () => {
    const acct = await register(api)
    const first = await api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken })
    const second = await api.post('/v1/auth/refresh', { refreshToken: first.body.refreshToken })
    expect(second.status).toBe(200)
    // Within seconds of its exchange, but its successor was exchanged too: a reuse, not a retry.
    const reuse = await api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken })
    expectError(reuse, 401, 'UNAUTHORIZED')
    expect(reuse.body.message).toMatch(/reuse/)
    expectError(await api.get('/v1/me', { token: second.body.accessToken }), 401, 'UNAUTHORIZED')
  })

  it('the grace window does not outlive a logout: the old token then gets 401, not the sealed pair', async () => {
    const acct = await register(api)
    const first = await api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken })
    expect((await api.post('/v1/auth/logout', { refreshToken: first.body.refreshToken })).status).toBe(204)
    expectError(await api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken }), 401, 'UNAUTHORIZED')
    expectError(await api.get('/v1/me', { token: first.body.accessToken }), 401, 'UNAUTHORIZED')
  })

  it('rejects an unknown refresh token', async () => {
    expectError(await api.post('/v1/auth/refresh', { refreshToken: 'nope' }), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/auth/refresh', {}), 400, 'VALIDATION_FAILED')
  })

  it('logout ends the session: its refresh and access tokens stop working', async () => {
    const acct = await register(api)
    const res = await api.post('/v1/auth/logout', { refreshToken: acct.refreshToken })
    expect(res.status).toBe(204)
    expect(res.body).toBe('')
    expectError(await api.post('/v1/auth/refresh', { refreshToken: acct.refreshToken }), 401, 'UNAUTHORIZED')
    expectError(await api.get('/v1/me', { token: acct.accessToken }), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/auth/logout', { refreshToken: 'unknown-token' }), 401, 'UNAUTHORIZED')
  })

  it('stores refresh tokens only as hashes', async () => {
    const acct = await register(api)
    const rows = await server.sql('SELECT token_hash FROM refresh_tokens')
    const hashes = rows.map((r: { token_hash: string }) => r.token_hash)
    expect(hashes.length).toBeGreaterThan(0)
    expect(hashes).not.toContain(acct.refreshToken)
    const [user] = await server.sql('SELECT password_hash FROM users WHERE id = $1', [acct.user.id])
    expect(user.password_hash).toMatch(/^\$argon2id\$/)
  })

  it('hashes passwords with argon2id at the cost OWASP recommends, unless a test suite asks for less', async () => {
    // The servers of this suite hash at the test cost (test/helpers/server.ts); a deployment cannot.
    expect(loadConfig({}, { dotenv: false }).passwordHashCost).toBe('standard')
    setPasswordHashCost('standard')
    try {
      expect(await hashPassword('correct horse battery')).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    } finally {
      setPasswordHashCost('test')
    }
    // A hash of either cost is verified (the cost is read from the hash).
    expect(await verifyPassword(await hashPassword('correct horse battery'), 'correct horse battery')).toBe(true)
  })
})

describe('access tokens', () => {
  it('refuses missing, malformed, forged and alg:none tokens', async () => {
    const acct = await register(api)
    const [header, payload] = acct.accessToken.split('.')
    const forged = `${header}.${payload}.${createHmac('sha256', 'wrong-key').update(`${header}.${payload}`).digest('base64url')}`
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`
    for (const token of [undefined, 'garbage', forged, none]) {
      expectError(await api.get('/v1/me', token === undefined ? {} : { token }), 401, 'UNAUTHORIZED')
    }
    expectError(await api.get('/v1/me', { headers: { authorization: 'Basic Zm9vOmJhcg==' } }), 401, 'UNAUTHORIZED')
  })
})

describe('token expiry', () => {
  it('rejects an expired access token with 401, and refresh issues a working one', async () => {
    const short = await startServer({ config: { accessTokenTtlSeconds: 1 } })
    try {
      const sapi = client(short.url)
      const acct = await register(sapi)
      expect(acct).toHaveProperty('expiresIn', 1)
      // Used while valid, so the verifier caches it: the cache must not outlive its exp.
      // (On a busy machine the second may already have passed: then it is refused at once.)
      expect([200, 401]).toContain((await sapi.get('/v1/me', { token: acct.accessToken })).status)
      await new Promise((r) => setTimeout(r, 2100))
      const res = await sapi.get('/v1/me', { token: acct.accessToken })
      expectError(res, 401, 'UNAUTHORIZED')
      expect(res.body.message).toMatch(/expired/)
      // The new token lives 1 s too: on a busy machine that can pass before it is used, so
      // a few tries (each with the refresh token just issued) must see it work.
      let refreshToken = acct.refreshToken
      let me = 0
      for (let i = 0; i < 5 && me !== 200; i++) {
        const refreshed = await sapi.post('/v1/auth/refresh', { refreshToken })
        expect(refreshed.status).toBe(200)
        refreshToken = refreshed.body.refreshToken
        me = (await sapi.get('/v1/me', { token: refreshed.body.accessToken })).status
      }
      expect(me).toBe(200)
    } finally {
      await short.close()
    }
  })
})
