// No account enumeration through timing (found by an audit): password reset
// requests were worked off one at a time with their mail, so one's own reset
// mail came later when the reset asked just before was for an existing account
// (its mail to a slow relay held the queue). Mails now go out apart from the
// queue. Login takes as long for an unknown username as for a wrong password.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SMTPServer } from 'smtp-server'
import { client, register, uniqueName, type Account, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'

// An SMTP relay that, like a remote one, takes a while per connection (TCP+TLS+AUTH over a WAN: ~hundreds of ms).
const RELAY_DELAY_MS = 300
interface Mail { to: string[], text: string, at: number }
const mails: Mail[] = []
let relay: SMTPServer
let relayUrl: string
let server: TestServer
let api: Client

beforeAll(async () => {
  relay = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onConnect (_session, cb) { setTimeout(() => cb(), RELAY_DELAY_MS) },
    onData (stream, session, cb) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), text: Buffer.concat(chunks).toString('utf8'), at: Date.now() })
        cb()
      })
    }
  })
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', () => resolve()))
  relayUrl = `smtp://127.0.0.1:${(relay.server.address() as { port: number }).port}`
  server = await startServer({ config: { smtpUrl: relayUrl, mailFrom: 'no-reply@switchboard.test' } })
  api = client(server.url)
})
afterAll(async () => {
  await server?.close()
  await new Promise<void>((resolve) => relay.close(() => resolve()))
})

async function waitMail (to: string, after: number, timeoutMs = 15_000): Promise<Mail> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const m = mails.find((x) => x.at >= after && x.to.includes(to))
    if (m !== undefined) { mails.splice(mails.indexOf(m), 1); return m }
    if (Date.now() > end) throw new Error(`no mail to ${to}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function withEmail (a: Account, email: string): Promise<void> {
  const t = Date.now()
  expect((await api.post('/v1/me/email', { email, password: a.password }, { token: a.accessToken })).status).toBe(202)
  const code = /\b(\d{6})\b/.exec((await waitMail(email, t)).text)![1]!
  expect((await api.post('/v1/me/email/verify', { code }, { token: a.accessToken })).status).toBe(200)
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }

describe('password reset: the mail queue tells whether another account exists', () => {
  it('the attacker\'s own reset mail arrives no later after a reset for an existing account than after one for an unknown name', async () => {
    const victim = await register(api)
    await withEmail(victim, `${victim.user.username}@example.test`)
    const attacker = await register(api)
    const mine = `${attacker.user.username}@example.test`
    await withEmail(attacker, mine)
    const known: number[] = []
    const unknown: number[] = []
    for (let i = 0; i < 8; i++) {
      for (const exists of [true, false]) {
        const target = exists ? victim.user.username : uniqueName('ghost')
        const r1 = await api.post('/v1/auth/password-reset', { username: target })
        const t0 = Date.now()
        const r2 = await api.post('/v1/auth/password-reset', { username: attacker.user.username })
        expect([r1.status, r2.status]).toEqual([202, 202])
        const m = await waitMail(mine, t0)
        ;(exists ? known : unknown).push(m.at - t0)
        if (exists) await waitMail(`${victim.user.username}@example.test`, 0)
      }
    }
    // No enumeration: the two must not be told apart.
    expect(median(known) - median(unknown)).toBeLessThan(RELAY_DELAY_MS / 2)
  })
})

describe('login timing', () => {
  it('unknown username and wrong password take about as long', async () => {
    const a = await register(api)
    const known: number[] = []
    const unknown: number[] = []
    for (let i = 0; i < 30; i++) {
      for (const exists of i % 2 === 0 ? [true, false] : [false, true]) {
        const t = performance.now()
        const r = await api.post('/v1/auth/login', { username: exists ? a.user.username : uniqueName('ghost'), password: 'wrong password' })
        const dt = performance.now() - t
        expect(r.status).toBe(401)
        ;(exists ? known : unknown).push(dt)
      }
    }
    expect(Math.abs(median(known) - median(unknown))).toBeLessThan(0.5 * median(known))
  })
})
