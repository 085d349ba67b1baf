// Offline notifications: a recipient with no live connection gets a signed
// webhook from a durable queue (pg-boss in PostgreSQL), retried with backoff
// until the receiver accepts it; a connected recipient gets none.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { preview, signature, verifySignature } from '../src/notifications/webhook.js'
import { createDirect, createGroup, post } from './helpers/chat.js'
import { client, register, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'
import { connect } from './helpers/ws.js'

interface Received { at: number, headers: IncomingHttpHeaders, body: string, answered: number }

const SECRET = 'webhook-secret-for-tests-0123456789'

/** A loopback receiver that answers 500 to the first `failures` requests of each message, then 204. */
function receiver (failures: number) {
  const received: Received[] = []
  const attempts = new Map<string, number>()
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => { body += chunk })
    req.on('end', () => {
      const key = String(req.headers['x-switchboard-delivery'])
      const n = (attempts.get(key) ?? 0) + 1
      attempts.set(key, n)
      const answered = n <= failures ? 500 : 204
      received.push({ at: Date.now(), headers: req.headers, body, answered })
      res.statusCode = answered
      res.end()
    })
  })
  return {
    received,
    async listen () {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      return `http://127.0.0.1:${(server.address() as { port: number }).port}/push`
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

async function until (check: () => boolean, timeoutMs: number, what: string) {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('push webhook', () => {
  const hook = receiver(2)
  let server: TestServer
  let api: Client

  beforeAll(async () => {
    const url = await hook.listen()
    server = await startServer({
      config: { pushWebhook: { url, secret: SECRET, timeoutMs: 2000, retryLimit: 5, retryDelaySeconds: 1, previewChars: 10 } }
    })
    api = client(server.url)
  })
  afterAll(async () => {
    await server.close()
    await hook.close()
  })

  it('delivers a signed payload for an offline recipient, retrying with growing delays until it is accepted', async () => {
    const [alice, bob] = await Promise.all([register(api), register(api)])
    const direct = await createDirect(api, alice, bob)
    const message = await post(api, alice, direct.id, 'Are you there, Bob? Long text here.')

    await until(() => hook.received.some((r) => r.answered === 204), 20_000, 'an accepted delivery')
    const attempts = hook.received.filter((r) => JSON.parse(r.body).messageId === message.id)
    expect(attempts.map((r) => r.answered)).toEqual([500, 500, 204])
    // Exponential backoff: the second wait is longer than the first (1-2 s, then 2-4 s).
    const waits = [attempts[1]!.at - attempts[0]!.at, attempts[2]!.at - attempts[1]!.at]
    expect(waits[0]).toBeGreaterThanOrEqual(900)
    expect(waits[1]).toBeGreaterThanOrEqual(1900)

    for (const r of attempts) {
      expect(r.headers['content-type']).toBe('application/json')
      expect(r.headers['x-switchboard-event']).toBe('message.created')
      const headers = { signature: r.headers['x-switchboard-signature'] as string, timestamp: r.headers['x-switchboard-timestamp'] as string }
      expect(verifySignature(SECRET, headers, r.body)).toBe(true)
      expect(verifySignature('another-secret-0123456789', headers, r.body)).toBe(false)
      expect(verifySignature(SECRET, headers, r.body.replace('message.created', 'message.updated'))).toBe(false)
    }
    expect(new Set(attempts.map((r) => r.headers['x-switchboard-delivery'])).size).toBe(1)
    expect(JSON.parse(attempts[2]!.body)).toEqual({
      type: 'message.created',
      conversationId: direct.id,
      messageId: message.id,
      seq: message.seq,
      senderId: alice.user.id,
      recipientId: bob.user.id,
      preview: 'Are you t…',
      createdAt: message.createdAt,
      mentioned: false
    })
    const jobs = await server.sql("SELECT state, retry_count FROM pgboss.job WHERE name = 'push-webhook' AND data->>'messageId' = $1", [message.id])
    expect(jobs).toEqual([{ state: 'completed', retry_count: 2 }])
  })

  it('sends nothing for the sender or a recipient who is connected', async () => {
    const [alice, bob, carol] = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, alice, [bob, carol])
    const sock = await connect(server.url, bob.accessToken)
    await sock.next((f) => f.type === 'ready')
    const message = await post(api, alice, group.id, 'hello group')
    await until(() => hook.received.some((r) => JSON.parse(r.body).messageId === message.id && r.answered === 204), 20_000, 'carol\'s delivery')
    await new Promise((r) => setTimeout(r, 300))
    const recipients = hook.received.filter((r) => JSON.parse(r.body).messageId === message.id).map((r) => JSON.parse(r.body).recipientId)
    expect(new Set(recipients)).toEqual(new Set([carol.user.id]))
    await sock.close()
  })

  it('does not retry a delivery whose message was deleted since: its preview is not sent again', async () => {
    const [alice, bob] = await Promise.all([register(api), register(api)])
    const direct = await createDirect(api, alice, bob)
    const message = await post(api, alice, direct.id, 'oops, wrong chat')
    const attempts = () => hook.received.filter((r) => JSON.parse(r.body).messageId === message.id)
    await until(() => attempts().length === 1, 20_000, 'the first (refused) attempt')
    expect((await api.del(`/v1/conversations/${direct.id}/messages/${message.id}`, { token: alice.accessToken })).status).toBe(200)
    // Retries come 1-2 s, then 2-4 s later: none of them is sent.
    await new Promise((r) => setTimeout(r, 7_000))
    expect(attempts()).toHaveLength(1)
  }, 40_000)

  it('sends nothing, preview included, for a suspended member', async () => {
    const [alice, suspended, carol] = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, alice, [suspended, carol])
    await server.sql('UPDATE users SET suspended_at = now() WHERE id = $1', [suspended.user.id])
    const message = await post(api, alice, group.id, 'for members in good standing')
    await until(() => hook.received.some((r) => JSON.parse(r.body).messageId === message.id && r.answered === 204), 20_000, 'carol\'s delivery')
    await new Promise((r) => setTimeout(r, 1_000))
    const recipients = hook.received.filter((r) => JSON.parse(r.body).messageId === message.id).map((r) => JSON.parse(r.body).recipientId)
    expect(new Set(recipients)).toEqual(new Set([carol.user.id]))
  })
})

describe('webhook signing', () => {
  it('signs timestamp and raw body; refuses old timestamps', () => {
    const body = '{"a":1}'
    const ts = String(Math.floor(Date.now() / 1000))
    const sig = signature(SECRET, ts, body)
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/)
    expect(verifySignature(SECRET, { signature: sig, timestamp: ts }, body)).toBe(true)
    const old = String(Number(ts) - 3600)
    expect(verifySignature(SECRET, { signature: signature(SECRET, old, body), timestamp: old }, body)).toBe(false)
    expect(verifySignature(SECRET, { signature: sig, timestamp: undefined }, body)).toBe(false)
  })

  it('cuts previews by characters', () => {
    expect(preview('short', 10)).toBe('short')
    expect(preview('😀😀😀😀', 3)).toBe('😀😀…')
    expect(preview('anything', 0)).toBeUndefined()
  })
})

describe('webhook settings', () => {
  const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', ...env }, { dotenv: false })

  it('are off by default, and need a secret with the URL', () => {
    expect(load({}).pushWebhook).toBeUndefined()
    expect(() => load({ PUSH_WEBHOOK_URL: 'https://relay.test/push' })).toThrow(/PUSH_WEBHOOK_SECRET is required/)
    expect(() => load({ PUSH_WEBHOOK_URL: 'ftp://relay.test', PUSH_WEBHOOK_SECRET: SECRET })).toThrow(/PUSH_WEBHOOK_URL/)
    expect(load({ PUSH_WEBHOOK_URL: 'https://relay.test/push', PUSH_WEBHOOK_SECRET: SECRET, PUSH_WEBHOOK_RETRY_LIMIT: '3' }).pushWebhook)
      .toEqual({ url: 'https://relay.test/push', secret: SECRET, timeoutMs: 5000, retryLimit: 3, retryDelaySeconds: 5, previewChars: 100 })
    expect(() => load({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/)
  })
})
