// Email verification and password reset by mail, through a real SMTP server:
// codes and tokens arrive by mail, reset answers the same for every request,
// tokens work once, and a reset ends every session (sockets close with 4001).
import { afterAll, describe, expect, it } from 'vitest'
import { client, expectError, register, type Account, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'
import { test, type TestSmtp } from './helpers/smtp.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

let smtp: TestSmtp
let server: TestServer
let api: Client
const sockets: TestSocket[] = []

test.override('serverOptions', { scope: 'file' }, ({ smtp }) => ({
  config: { smtpUrl: smtp.url, mailFrom: 'Switchboard <no-reply@switchboard.test>', accountMailRateLimitMax: 1000 }
}))
test.beforeAll(({ server: started, smtp: mail }) => {
  server = started
  smtp = mail
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

async function withEmail (a: Account, email: string): Promise<void> {
  const res = await api.post('/v1/me/email', { email, password: a.password }, { token: a.accessToken })
  expect(res.status).toBe(202)
  const mail = await smtp.next(email)
  const code = /\b(\d{6})\b/.exec(mail.text)![1]!
  const ok = await api.post('/v1/me/email/verify', { code }, { token: a.accessToken })
  expect(ok.status).toBe(200)
  expect(ok.body).toEqual({ email: email.toLowerCase() })
}

const tokenOf = (text: string) => /^([A-Za-z0-9_-]{43})$/m.exec(text)![1]!

describe('email', () => {
  it('becomes the account email only with the mailed code; wrong codes count, five void it', async () => {
    const a = await register(api)
    const email = `${a.user.username}@example.test`
    expect((await api.post('/v1/me/email', { email, password: a.password }, { token: a.accessToken })).status).toBe(202)
    const mail = await smtp.next(email)
    expect(mail.from).toBe('no-reply@switchboard.test')
    const code = /\b(\d{6})\b/.exec(mail.text)![1]!
    const wrong = code === '000000' ? '111111' : '000000'
    for (let i = 0; i < 5; i++) expectError(await api.post('/v1/me/email/verify', { code: wrong }, { token: a.accessToken }), 400, 'INVALID_CODE')
    // Voided: even the right code no longer works.
    expectError(await api.post('/v1/me/email/verify', { code }, { token: a.accessToken }), 400, 'INVALID_CODE')
    await withEmail(a, email)
    const rows = await server.sql('SELECT email, email_code_hash FROM users WHERE id = $1', [a.user.id])
    expect(rows[0]).toEqual({ email, email_code_hash: null })
  })

  it('an address verified by one account cannot be taken by another', async () => {
    const a = await register(api)
    const b = await register(api)
    const email = `${a.user.username}@example.test`
    await withEmail(a, email)
    await api.post('/v1/me/email', { email, password: b.password }, { token: b.accessToken })
    const code = /\b(\d{6})\b/.exec((await smtp.next(email)).text)![1]!
    expectError(await api.post('/v1/me/email/verify', { code }, { token: b.accessToken }), 409, 'EMAIL_TAKEN')
    expectError(await api.post('/v1/me/email', { email: 'not an address', password: b.password }, { token: b.accessToken }), 400, 'VALIDATION_FAILED')
  })

  it('takes only addresses the mailer sends to as written: others are 400, never a 503 nor another mailbox', async () => {
    const a = await register(api)
    for (const email of ['a@b.c:', 'a@<b.c', 'a"b@c.d', '::@::.::', ',,,@,,,.,,,', 'victim@b.example>', '(x)victim@b.example', 'x:victim@b.example', 'a@localhost']) {
      expectError(await api.post('/v1/me/email', { email, password: a.password }, { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    }
    const rows = await server.sql('SELECT pending_email FROM users WHERE id = $1', [a.user.id])
    expect(rows[0]).toEqual({ pending_email: null })
  })

  it('needs the current password: an access token alone cannot move the account to another address', async () => {
    const a = await register(api)
    const thief = `thief-${a.user.username}@example.test`
    expectError(await api.post('/v1/me/email', { email: thief }, { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    expectError(await api.post('/v1/me/email', { email: thief, password: 'not the password' }, { token: a.accessToken }), 401, 'INVALID_CREDENTIALS')
    const rows = await server.sql('SELECT pending_email, email_code_hash FROM users WHERE id = $1', [a.user.id])
    expect(rows[0]).toEqual({ pending_email: null, email_code_hash: null })
  })

  it('parallel guesses get five tries in all, not five each', async () => {
    const a = await register(api)
    const email = `${a.user.username}@example.test`
    expect((await api.post('/v1/me/email', { email, password: a.password }, { token: a.accessToken })).status).toBe(202)
    const code = /\b(\d{6})\b/.exec((await smtp.next(email)).text)![1]!
    const wrong = Array.from({ length: 20 }, (_, i) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'))
    const answers = await Promise.all(wrong.map((guess) => api.post('/v1/me/email/verify', { code: guess }, { token: a.accessToken })))
    for (const res of answers) expectError(res, 400, 'INVALID_CODE')
    const rows = await server.sql('SELECT email_code_attempts FROM users WHERE id = $1', [a.user.id])
    expect(rows[0].email_code_attempts).toBe(5)
    expectError(await api.post('/v1/me/email/verify', { code }, { token: a.accessToken }), 400, 'INVALID_CODE')
  })

  it('tells the previous address when the email changes, with the new one masked', async () => {
    const a = await register(api)
    const first = `${a.user.username}@example.test`
    await withEmail(a, first)
    const second = `new-${a.user.username}@example.test`
    await withEmail(a, second)
    const notice = await smtp.next(first)
    expect(notice.raw).toMatch(/^Subject: Your email address was changed\r?$/m)
    expect(notice.text).toContain(`n***@example.test`)
    expect(notice.text).not.toContain(second)
    // A reset now goes to the new address only.
    expect((await api.post('/v1/auth/password-reset', { email: first })).status).toBe(202)
    expect((await api.post('/v1/auth/password-reset', { email: second })).status).toBe(202)
    expect(tokenOf((await smtp.next(second)).text)).toHaveLength(43)
  })

  it('a code taken for a new request no longer counts: only the newest code confirms', async () => {
    const a = await register(api)
    const first = `one-${a.user.username}@example.test`
    const second = `two-${a.user.username}@example.test`
    await api.post('/v1/me/email', { email: first, password: a.password }, { token: a.accessToken })
    const oldCode = /\b(\d{6})\b/.exec((await smtp.next(first)).text)![1]!
    await api.post('/v1/me/email', { email: second, password: a.password }, { token: a.accessToken })
    const newCode = /\b(\d{6})\b/.exec((await smtp.next(second)).text)![1]!
    if (oldCode !== newCode) expectError(await api.post('/v1/me/email/verify', { code: oldCode }, { token: a.accessToken }), 400, 'INVALID_CODE')
    const ok = await api.post('/v1/me/email/verify', { code: newCode }, { token: a.accessToken })
    expect(ok.body).toEqual({ email: second })
  })
})

describe('password reset', () => {
  it('mails a single-use token; confirming sets the password and ends every session', async () => {
    const a = await register(api)
    const email = `${a.user.username}@Example.test`
    await withEmail(a, email)
    const socket = await connectReady(server.url, a.accessToken, sockets)

    const res = await api.post('/v1/auth/password-reset', { username: a.user.username.toUpperCase() })
    expect(res.status).toBe(202)
    expect(res.body).toEqual({ accepted: true })
    const token = tokenOf((await smtp.next(email)).text)
    // Only its hash is stored.
    const stored = await server.sql('SELECT token_hash FROM password_resets WHERE user_id = $1', [a.user.id])
    expect(stored).toHaveLength(1)
    expect(stored[0].token_hash).not.toContain(token)

    expect((await api.post('/v1/auth/password-reset/confirm', { token, newPassword: 'a brand new password' })).status).toBe(204)
    expect((await socket.closed).code).toBe(4001)
    expectError(await api.get('/v1/me', { token: a.accessToken }), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/auth/refresh', { refreshToken: a.refreshToken }), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/auth/login', { username: a.user.username, password: a.password }), 401, 'INVALID_CREDENTIALS')
    expect((await api.post('/v1/auth/login', { username: a.user.username, password: 'a brand new password' })).status).toBe(200)
    // Single use.
    expectError(await api.post('/v1/auth/password-reset/confirm', { token, newPassword: 'yet another password' }), 400, 'INVALID_RESET_TOKEN')
  })

  it('works by email too; an expired token is refused', async () => {
    const a = await register(api)
    const email = `${a.user.username}@example.test`
    await withEmail(a, email)
    expect((await api.post('/v1/auth/password-reset', { email: email.toUpperCase() })).status).toBe(202)
    const token = tokenOf((await smtp.next(email)).text)
    await server.sql("UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE user_id = $1", [a.user.id])
    expectError(await api.post('/v1/auth/password-reset/confirm', { token, newPassword: 'a brand new password' }), 400, 'INVALID_RESET_TOKEN')
    expectError(await api.post('/v1/auth/password-reset/confirm', { token: 'x'.repeat(43), newPassword: 'a brand new password' }), 400, 'INVALID_RESET_TOKEN')
  })

  it('answers the same for unknown users, users without email and bad input shapes are 400', async () => {
    const noEmail = await register(api)
    const known = await register(api)
    const email = `${known.user.username}@example.test`
    await withEmail(known, email)
    const before = smtp.mails.length
    const answers = await Promise.all([
      api.post('/v1/auth/password-reset', { username: 'nobody_' + Date.now() }),
      api.post('/v1/auth/password-reset', { email: 'nobody@example.test' }),
      api.post('/v1/auth/password-reset', { username: noEmail.user.username })
    ])
    for (const r of answers) expect({ status: r.status, body: r.body }).toEqual({ status: 202, body: { accepted: true } })
    // Requests are worked off in order: once the known user's mail is here, the others were handled and sent nothing.
    await api.post('/v1/auth/password-reset', { username: known.user.username })
    await smtp.next(email)
    expect(smtp.mails.length).toBe(before + 1)
    expect(await server.sql('SELECT 1 FROM password_resets WHERE user_id = $1', [noEmail.user.id])).toHaveLength(0)
    expectError(await api.post('/v1/auth/password-reset', {}), 400, 'VALIDATION_FAILED')
    expectError(await api.post('/v1/auth/password-reset', { username: 'a', email: 'b@c.d' }), 400, 'VALIDATION_FAILED')
    expectError(await api.post('/v1/auth/password-reset', { foo: 1 }), 400, 'VALIDATION_FAILED')
    expectError(await api.post('/v1/auth/password-reset/confirm', { token: 'x', newPassword: 'short' }), 400, 'VALIDATION_FAILED')
  })

  it('is rate-limited per client address', async () => {
    const limited = await startServer({ config: { smtpUrl: smtp.url, mailFrom: 'no-reply@switchboard.test', accountMailRateLimitMax: 2 } })
    try {
      const l = client(limited.url)
      expect((await l.post('/v1/auth/password-reset', { username: 'nobody1' })).status).toBe(202)
      expect((await l.post('/v1/auth/password-reset', { username: 'nobody2' })).status).toBe(202)
      const res = await l.post('/v1/auth/password-reset', { username: 'nobody3' })
      expectError(res, 429, 'RATE_LIMITED')
      expect(res.headers.get('retry-after')).not.toBeNull()
    } finally {
      await limited.close()
    }
  })

  it('without SMTP_URL answers 503 MAIL_NOT_CONFIGURED', async () => {
    const plain = await startServer()
    try {
      const p = client(plain.url)
      expectError(await p.post('/v1/auth/password-reset', { username: 'whoever' }), 503, 'MAIL_NOT_CONFIGURED')
      const a = await register(p)
      expectError(await p.post('/v1/me/email', { email: 'a@example.test', password: a.password }, { token: a.accessToken }), 503, 'MAIL_NOT_CONFIGURED')
    } finally {
      await plain.close()
    }
  })
})
