// Mail bombing through password reset (found by an audit): the reset request
// was limited per client address only, so requests from many addresses could
// send one mailbox any number of reset mails. Each account is now sent at most
// PASSWORD_RESET_MAILS_PER_HOUR of them, counted by account (its username and
// its email, in any case, are one budget), across processes with
// BROKER=redis. Past it nothing is mailed, and the answer is the one every
// request gets: it must not tell whether the account exists.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { AppConfig } from '../src/config.js'
import { createTestDatabase } from './helpers/database.js'
import { client, register, uniqueName, type Account, type Client, type Response } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'
import { startSmtp, type TestSmtp } from './helpers/smtp.js'

const CAP = 2
let smtp: TestSmtp

beforeAll(async () => { smtp = await startSmtp() })
afterAll(async () => { await smtp?.close() })

// Every request from an address of its own: the per-address limit (1 here) is no help against them.
let addresses = 0
const fresh = () => {
  addresses++
  return { headers: { 'x-forwarded-for': `10.${(addresses >> 16) & 255}.${(addresses >> 8) & 255}.${addresses & 255}` } }
}

const mailConfig = (): Partial<AppConfig> => ({
  smtpUrl: smtp.url,
  mailFrom: 'no-reply@switchboard.test',
  passwordResetMailsPerHour: CAP,
  accountMailRateLimitMax: 1,
  trustProxy: 1
})

async function withEmail (api: Client, a: Account): Promise<string> {
  const email = `${a.user.username}@example.test`
  expect((await api.post('/v1/me/email', { email, password: a.password }, { token: a.accessToken, ...fresh() })).status).toBe(202)
  const code = /\b(\d{6})\b/.exec((await smtp.next(email)).text)![1]!
  expect((await api.post('/v1/me/email/verify', { code }, { token: a.accessToken, ...fresh() })).status).toBe(200)
  return email
}

/** What a client sees of an answer: everything but the date and the request id. */
const seen = (res: Response) => ({
  status: res.status,
  body: res.body,
  headers: [...res.headers].filter(([name]) => name !== 'date' && name !== 'x-request-id')
})

/** The names an account can be asked for by: its username and its email, in any case. */
const namesOf = (a: Account, email: string) => [
  { username: a.user.username }, { email: email.toUpperCase() }, { username: a.user.username.toUpperCase() }, { email }
]

const resetMailsTo = (email: string) => smtp.mails.filter((m) => m.to.includes(email) && /^Subject: Reset your password\r?$/m.test(m.raw)).length

describe('password-reset mails per account', () => {
  it('one account gets PASSWORD_RESET_MAILS_PER_HOUR mails from any number of addresses; the answers stay the same; others still get theirs', async () => {
    const server = await startServer({ config: mailConfig() })
    try {
      const api = client(server.url)
      const victim = await register(api)
      const other = await register(api)
      const [victimEmail, otherEmail] = [await withEmail(api, victim), await withEmail(api, other)]
      const names = namesOf(victim, victimEmail)
      const answers: Response[] = []
      for (let i = 0; i < CAP + 2; i++) {
        answers.push(await api.post('/v1/auth/password-reset', names[i % names.length], fresh()))
        // Interleaved: an account that does not exist, for the answer to compare with.
        answers.push(await api.post('/v1/auth/password-reset', { username: uniqueName('ghost') }, fresh()))
      }
      // Past the budget as before it, and for an unknown name alike: one answer.
      expect(seen(answers[0]!)).toMatchObject({ status: 202, body: { accepted: true } })
      for (const res of answers) expect(seen(res)).toEqual(seen(answers[0]!))

      await server.app.me.recovery.idle()
      expect(resetMailsTo(victimEmail)).toBe(CAP)
      // No token is made for a mail that is not sent.
      expect(await server.sql('SELECT 1 FROM password_resets WHERE user_id = $1', [victim.user.id])).toHaveLength(CAP)

      // Another account's budget is its own.
      expect((await api.post('/v1/auth/password-reset', { username: other.user.username }, fresh())).status).toBe(202)
      expect((await smtp.next(otherEmail)).text).toMatch(/^[A-Za-z0-9_-]{43}$/m)
    } finally {
      await server.close()
    }
  })

  it('with BROKER=redis the budget is shared by the processes: requests spread over both get no more mails', async () => {
    const db = await createTestDatabase()
    const config = { ...mailConfig(), broker: 'redis' as const, redisUrl: inject('redisUrl'), brokerChannel: `reset-cap-${randomBytes(4).toString('hex')}` }
    const servers: TestServer[] = []
    try {
      for (let i = 0; i < 2; i++) servers.push(await startServer({ databaseUrl: db.url, config }))
      const apis = servers.map((s) => client(s.url))
      const victim = await register(apis[0]!)
      const victimEmail = await withEmail(apis[0]!, victim)
      const names = namesOf(victim, victimEmail)
      for (let i = 0; i < CAP + 2; i++) {
        const res = await apis[i % 2]!.post('/v1/auth/password-reset', names[i % names.length], fresh())
        expect({ status: res.status, body: res.body }).toEqual({ status: 202, body: { accepted: true } })
      }
      await Promise.all(servers.map((s) => s.app.me.recovery.idle()))
      expect(resetMailsTo(victimEmail)).toBe(CAP)
    } finally {
      for (const s of servers) await s.close()
      await db.drop()
    }
  })
})
