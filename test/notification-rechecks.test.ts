// Offline notifications are decided again before each attempt, not only when
// queued: a webhook job or a device push in flight when its recipient is
// suspended, deletes their account, blocks the sender, is removed from the
// group or sets level none is not retried with the message text. Each case
// holds the first attempt (the local webhook receiver and the local APNs
// endpoint answer only when the test says), makes the change while it is in
// flight, lets it fail, and waits for the job and the delivery to settle:
// no timing window to win on a loaded machine.
import { createServer, type Server, type ServerResponse } from 'node:http'
import { text as readText } from 'node:stream/consumers'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, register, type Account, type Client } from './helpers/http.js'
import { apnsToken, startFakeApns, type FakeApns } from './helpers/push-services.js'
import { startServer, testConfig, type TestServer } from './helpers/server.js'

interface Hooked { at: number, delivery: string, body: any, answered: number }

/** A loopback webhook receiver that holds the first attempt of each delivery until `release`, answers it 500, then 204. */
function receiver () {
  const received: Hooked[] = []
  const held = new Map<string, ServerResponse>()
  const server: Server = createServer((req, res) => {
    void readText(req).then((body) => {
      const delivery = String(req.headers['x-switchboard-delivery'])
      const first = !received.some((r) => r.delivery === delivery)
      const parsed = JSON.parse(body)
      received.push({ at: Date.now(), delivery, body: parsed, answered: first ? 500 : 204 })
      if (first) held.set(parsed.messageId, res)
      else res.writeHead(204).end()
    })
  })
  return {
    received,
    /** The attempts for one message, first (held) included. */
    attempts: (messageId: string) => received.filter((r) => r.body.messageId === messageId),
    release (messageId: string) {
      const res = held.get(messageId)
      held.delete(messageId)
      res?.writeHead(500).end()
    },
    async listen () {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      return `http://127.0.0.1:${(server.address() as { port: number }).port}/push`
    },
    close: () => new Promise<void>((resolve) => {
      for (const res of held.values()) res.end()
      server.close(() => resolve())
    })
  }
}

/** The check's value once it is neither undefined nor false (vitest's waitFor, which retries while the check throws). */
const settled = <T>(check: () => Promise<T | undefined | false>, what: string): Promise<T> => vi.waitFor(async () => {
  const value = await check()
  if (value === undefined || value === false) throw new Error(`still waiting for ${what}`)
  return value
}, { timeout: 30_000, interval: 50 })

const hook = receiver()
let apns: FakeApns
let server: TestServer
let api: Client
let admin: Account

beforeAll(async () => {
  const url = await hook.listen()
  apns = await startFakeApns()
  server = await startServer({
    config: {
      // Timeouts well above how long a held attempt waits for the change.
      pushWebhook: { url, secret: 'webhook-secret-for-tests-0123456789', timeoutMs: 20_000, retryLimit: 3, retryDelaySeconds: 1, previewChars: 100 },
      push: { ...testConfig().push, apns: apns.config, ca: apns.ca, pollIntervalMs: 500, retryDelayMs: 200, retryLimit: 3, timeoutMs: 20_000 }
    }
  })
  api = client(server.url)
  admin = await register(api)
  await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [admin.user.id])
})
afterAll(async () => {
  await server?.close()
  await Promise.all([hook.close(), apns?.close()])
})

interface Case {
  change (c: { alice: Account, bob: Account, group: { id: string } }): Promise<void>
  /** The device delivery's reason once refused: the rule's, or the device's when the change removed it (suspension, deletion end the sessions). */
  pushReason?: string
}

const cases: Array<[string, Case]> = [
  ['is suspended', {
    change: async ({ bob }) => { expect((await api.put(`/v1/admin/users/${bob.user.id}/suspension`, { reason: 'spam' }, { token: admin.accessToken })).status).toBe(204) }
  }],
  ['deletes their account', {
    change: async ({ bob }) => { expect((await api.request('DELETE', '/v1/me', { token: bob.accessToken, body: { password: bob.password } })).status).toBe(204) }
  }],
  ['blocks the sender', {
    change: async ({ alice, bob }) => { expect((await api.put(`/v1/me/blocks/${alice.user.id}`, {}, { token: bob.accessToken })).status).toBeLessThan(300) },
    pushReason: 'no longer notified'
  }],
  ['is removed from the group', {
    change: async ({ alice, bob, group }) => { expect((await api.del(`/v1/conversations/${group.id}/members/${bob.user.id}`, { token: alice.accessToken })).status).toBeLessThan(300) },
    pushReason: 'no longer notified'
  }],
  ['sets level none there', {
    change: async ({ bob, group }) => { expect((await api.put(`/v1/conversations/${group.id}/notifications`, { level: 'none' }, { token: bob.accessToken })).status).toBe(200) },
    pushReason: 'no longer notified'
  }]
]

/**
 * Bob (offline, one APNs device) in a group with alice; alice posts; both
 * first attempts (webhook, APNs) are held while `change` runs, then fail
 * (500, 429 Retry-After 1). Returns once the webhook job and the delivery
 * have settled, with what each endpoint received for bob.
 */
async function inFlight (text: (bob: Account) => string, change: Case['change']) {
  const [alice, bob] = await Promise.all([register(api), register(api)])
  const token = apnsToken()
  let release!: () => void
  const held = { arrived: false, release: new Promise<void>((resolve) => { release = resolve }) }
  apns.behaviours.hold.set(token, held)
  apns.behaviours.throttle.set(token, { times: 1, retryAfter: '1' })
  expect((await api.put('/v1/me/devices/iphone', { platform: 'apns', token }, { token: bob.accessToken })).status).toBeLessThan(300)
  const group = await createGroup(api, alice, [bob])
  const message = await post(api, alice, group.id, text(bob))
  await settled(async () => hook.attempts(message.id).length === 1 && held.arrived, 'both first attempts in flight')
  await change({ alice, bob, group })
  hook.release(message.id)
  release()

  const delivery = hook.attempts(message.id)[0]!.delivery
  const job = await settled(async () => {
    const [row] = await server.sql<{ state: string }>('SELECT state::text FROM pgboss.job WHERE id = $1::uuid', [delivery])
    return row !== undefined && ['completed', 'failed', 'cancelled'].includes(row.state) ? row.state : undefined
  }, 'the webhook job settled')
  const pushes = await settled(async () => {
    const rows = await server.sql<{ status: string, reason: string | null }>("SELECT status, reason FROM push_deliveries WHERE user_id = $1 AND kind = 'message'", [bob.user.id])
    return rows.every((r) => r.status === 'accepted' || r.status === 'failed') ? rows : undefined
  }, 'the device push settled')
  return {
    job,
    pushes,
    hooked: hook.attempts(message.id).map((r) => ({ recipientId: r.body.recipientId, answered: r.answered, preview: r.body.preview })),
    pushed: apns.received.filter((r) => r.token === token).map((r) => ({ answered: r.answered, alert: r.payload?.aps?.alert })),
    bob
  }
}

describe('offline notifications checked again before each attempt', () => {
  it('an eligible recipient still gets the retry, webhook and device push alike', async () => {
    const text = 'retried for an eligible recipient'
    const { job, pushes, hooked, pushed, bob } = await inFlight(() => text, async () => {})
    expect(job).toBe('completed')
    expect(hooked).toEqual([
      { recipientId: bob.user.id, answered: 500, preview: text },
      { recipientId: bob.user.id, answered: 204, preview: text }
    ])
    expect(pushes).toEqual([{ status: 'accepted', reason: null }])
    expect(pushed).toHaveLength(2)
    expect(pushed[1]).toMatchObject({ answered: 200, alert: { body: expect.stringContaining(text) } })
  }, 90_000)

  it('at level mentions, the retry of a message that mentions the recipient still goes (the mentions as queued)', async () => {
    const { job, pushes, hooked, pushed } = await inFlight((bob) => `@${bob.user.username} look`, async ({ bob, group }) => {
      expect((await api.put(`/v1/conversations/${group.id}/notifications`, { level: 'mentions' }, { token: bob.accessToken })).status).toBe(200)
    })
    expect(job).toBe('completed')
    expect(hooked.map((h) => h.answered)).toEqual([500, 204])
    expect(pushes).toEqual([{ status: 'accepted', reason: null }])
    expect(pushed.map((p) => p.answered)).toEqual([429, 200])
  }, 90_000)

  for (const [name, { change, pushReason }] of cases) {
    it(`no retry carries the text once the recipient ${name}`, async () => {
      const text = `secret text: the recipient ${name}`
      const { job, pushes, hooked, pushed } = await inFlight(() => text, change)
      // The job completes without sending: only the held first attempt reached the receiver.
      expect(job).toBe('completed')
      expect(hooked.slice(1)).toEqual([])
      // The delivery is settled failed without sending: only the throttled first attempt reached APNs.
      expect(pushed.slice(1)).toEqual([])
      expect(pushed.map((p) => p.answered)).toEqual([429])
      for (const p of pushes) expect(p.status).toBe('failed')
      if (pushReason !== undefined) expect(pushes).toEqual([{ status: 'failed', reason: pushReason }])
    }, 90_000)
  }
})
