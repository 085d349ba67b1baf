// Passwords are Unicode-normalised (NFKC, NIST SP 800-63B) before they are
// hashed or checked (found by an audit): "é" typed composed (U+00E9) on one
// device and decomposed ("e" + U+0301, some macOS and iOS keyboards and input
// methods) on another was two passwords. Hashes made before, from the password
// as typed, still log in; lengths are counted on the normalised form.
import { hash } from '@node-rs/argon2'
import { afterAll, describe, expect, it } from 'vitest'
import { client, expectError, register, uniqueName, type Account, type Client } from './helpers/http.js'
import type { TestServer } from './helpers/server.js'
import { test, type TestSmtp } from './helpers/smtp.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

let smtp: TestSmtp
let server: TestServer
let api: Client
const sockets: TestSocket[] = []

test.override('serverOptions', { scope: 'file' }, ({ smtp }) => ({
  config: { smtpUrl: smtp.url, mailFrom: 'Switchboard <no-reply@switchboard.test>' }
}))
test.beforeAll(({ server: started, smtp: mail }) => {
  server = started
  smtp = mail
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

// One password, as two keyboards type it.
const COMPOSED = 'caf\u00e9 cr\u00e8me br\u00fbl\u00e9e'
const DECOMPOSED = 'cafe\u0301 cre\u0300me bru\u0302le\u0301e'

const login = (username: string, password: string) => api.post('/v1/auth/login', { username, password })

async function withEmail (a: Account, password: string): Promise<string> {
  const email = `${a.user.username}@example.test`
  expect((await api.post('/v1/me/email', { email, password }, { token: a.accessToken })).status).toBe(202)
  const code = /\b(\d{6})\b/.exec((await smtp.next(email)).text)![1]!
  expect((await api.post('/v1/me/email/verify', { code }, { token: a.accessToken })).status).toBe(200)
  return email
}

describe('password normalisation', () => {
  it('the two forms differ as typed and are one password once normalised', () => {
    expect(COMPOSED).not.toBe(DECOMPOSED)
    expect(DECOMPOSED.normalize('NFKC')).toBe(COMPOSED)
  })

  it('registered composed, logs in decomposed; registered decomposed, logs in composed', async () => {
    const a = await register(api, uniqueName(), COMPOSED)
    const b = await register(api, uniqueName(), DECOMPOSED)
    expect((await login(a.user.username, DECOMPOSED)).status).toBe(200)
    expect((await login(a.user.username, COMPOSED)).status).toBe(200)
    expect((await login(b.user.username, COMPOSED)).status).toBe(200)
    expect((await login(b.user.username, DECOMPOSED)).status).toBe(200)
    expectError(await login(a.user.username, 'cafe cre\u0300me bru\u0302le\u0301e'), 401, 'INVALID_CREDENTIALS')
  })

  it('a hash made from the password as typed, before normalisation, still logs in', async () => {
    const a = await register(api)
    // As the code before hashed it: argon2id of the raw decomposed password, at the same cost.
    const legacy = await hash(DECOMPOSED, { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 })
    await server.sql('UPDATE users SET password_hash = $2 WHERE id = $1', [a.user.id, legacy])
    expect((await login(a.user.username, DECOMPOSED)).status).toBe(200)
    // Typed the other way it was never this account's password (no rehash on login: the hash stays as it was).
    expectError(await login(a.user.username, COMPOSED), 401, 'INVALID_CREDENTIALS')
    expect((await server.sql('SELECT password_hash FROM users WHERE id = $1', [a.user.id]))[0].password_hash).toBe(legacy)
    // The account's other password checks take it too: here changing it, after which both forms work.
    const session = (await login(a.user.username, DECOMPOSED)).body
    expect((await api.post('/v1/me/password', { currentPassword: DECOMPOSED, newPassword: DECOMPOSED }, { token: session.accessToken })).status).toBe(204)
    expect((await login(a.user.username, COMPOSED)).status).toBe(200)
  })

  it('password change, email change and account deletion check the current password in either form', async () => {
    const a = await register(api, uniqueName(), COMPOSED)
    expect((await api.post('/v1/me/password', { currentPassword: DECOMPOSED, newPassword: `${DECOMPOSED} 2` }, { token: a.accessToken })).status).toBe(204)
    expect((await login(a.user.username, `${COMPOSED} 2`)).status).toBe(200)
    await withEmail(a, `${DECOMPOSED} 2`)
    const res = await api.request('DELETE', '/v1/me', { body: { password: `${COMPOSED} 2` }, token: a.accessToken })
    expect(res.status).toBe(204)
  })

  it('a password set by reset in one form logs in with the other', async () => {
    const a = await register(api)
    const email = await withEmail(a, a.password)
    expect((await api.post('/v1/auth/password-reset', { username: a.user.username })).status).toBe(202)
    const token = /^([A-Za-z0-9_-]{43})$/m.exec((await smtp.next(email)).text)![1]!
    expect((await api.post('/v1/auth/password-reset/confirm', { token, newPassword: DECOMPOSED })).status).toBe(204)
    const res = await login(a.user.username, COMPOSED)
    expect(res.status).toBe(200)
    // The session works (the reset ended the earlier ones).
    await connectReady(server.url, res.body.accessToken, sockets)
  })

  it('counts lengths on the normalised form: 8-256 characters whichever way they are typed', async () => {
    // Eight code points as sent, four characters once composed: too short.
    const short = await api.post('/v1/auth/register', { username: uniqueName(), password: 'e\u0301'.repeat(4) })
    expectError(short, 400, 'VALIDATION_FAILED')
    expect(short.body.message).toContain('body/password must NOT have fewer than 8 characters')
    // 512 code points as sent, 256 characters: the longest password, and it logs in composed.
    const longest = await register(api, uniqueName(), 'e\u0301'.repeat(256))
    expect((await login(longest.user.username, '\u00e9'.repeat(256))).status).toBe(200)
    const long = await api.post('/v1/auth/register', { username: uniqueName(), password: '\u00e9'.repeat(257) })
    expectError(long, 400, 'VALIDATION_FAILED')
    expect(long.body.message).toContain('body/password must NOT have more than 256 characters')
    // A compatibility character counts as what it stands for: "ﬀ" (U+FB00) is "ff".
    expect((await api.post('/v1/auth/register', { username: uniqueName(), password: '\ufb00'.repeat(4) })).status).toBe(201)
    // The new password of a change and of a reset is held to the same rule.
    const a = await register(api)
    const change = await api.post('/v1/me/password', { currentPassword: a.password, newPassword: 'e\u0301'.repeat(4) }, { token: a.accessToken })
    expectError(change, 400, 'VALIDATION_FAILED')
    expect(change.body.message).toContain('body/newPassword must NOT have fewer than 8 characters')
    expectError(await api.post('/v1/auth/password-reset/confirm', { token: 'x'.repeat(43), newPassword: 'e\u0301'.repeat(4) }), 400, 'VALIDATION_FAILED')
  })
})
