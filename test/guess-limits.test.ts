// Guessing spread over many addresses (found by an audit): the per-address
// limits alone let a botnet try passwords, or email codes (a fresh code resets
// its five tries), without end. Logins also count per username, from every
// address together, whether or not the account exists; email codes per account
// and day.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, expectError, register, uniqueName, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'
import { startSmtp, type TestSmtp } from './helpers/smtp.js'

let smtp: TestSmtp
let server: TestServer
let api: Client

beforeAll(async () => {
  smtp = await startSmtp()
  server = await startServer({ config: { smtpUrl: smtp.url, mailFrom: 'Switchboard <no-reply@switchboard.test>', loginRateLimitPerUsername: 5, emailCodesPerDay: 2 } })
  api = client(server.url)
})
afterAll(async () => {
  await server?.close()
  await smtp?.close()
})

describe('logins per username', () => {
  it('past the budget a username answers 429, the right password too, and an unknown name alike; other users log in', async () => {
    const [victim, other] = [await register(api), await register(api)]
    const unknown = uniqueName()
    for (let i = 0; i < 5; i++) {
      expectError(await api.post('/v1/auth/login', { username: victim.user.username, password: `guess ${i} wrong` }), 401, 'INVALID_CREDENTIALS')
      expectError(await api.post('/v1/auth/login', { username: unknown, password: `guess ${i} wrong` }), 401, 'INVALID_CREDENTIALS')
    }
    const blocked = await api.post('/v1/auth/login', { username: victim.user.username.toUpperCase(), password: victim.password })
    expectError(blocked, 429, 'RATE_LIMITED')
    expect(blocked.headers.get('retry-after')).not.toBeNull()
    expectError(await api.post('/v1/auth/login', { username: unknown, password: 'x'.repeat(12) }), 429, 'RATE_LIMITED')
    expect((await api.post('/v1/auth/login', { username: other.user.username, password: other.password })).status).toBe(200)
  })
})

describe('email codes per account', () => {
  it('an account asks for at most EMAIL_CODES_PER_DAY codes; then 429', async () => {
    const a = await register(api)
    for (let i = 0; i < 2; i++) {
      expect((await api.post('/v1/me/email', { email: `c${i}-${a.user.username}@example.test`, password: a.password }, { token: a.accessToken })).status).toBe(202)
    }
    expectError(await api.post('/v1/me/email', { email: `c3-${a.user.username}@example.test`, password: a.password }, { token: a.accessToken }), 429, 'RATE_LIMITED')
    const b = await register(api)
    expect((await api.post('/v1/me/email', { email: `b-${b.user.username}@example.test`, password: b.password }, { token: b.accessToken })).status).toBe(202)
  })
})
