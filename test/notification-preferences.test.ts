// Notification preferences: the user's level and each conversation's level
// and mute, stored and shown in the Conversation, and what they do to the
// offline notifications (webhook jobs), decided by shouldNotify: no job while
// muted, at level none, or at level mentions without a mention of the
// recipient. Real HTTP, PostgreSQL and a loopback webhook receiver.
import { createServer, type Server } from 'node:http'
import { describe, expect, it } from 'vitest'
import { ApiError, createClient, mentionsMe, type SwitchboardClient } from '../src/client/index.js'
import { createGroup, post } from './helpers/chat.js'
import { client, expectError, uniqueName, type Account, type Client } from './helpers/http.js'
import { test as serverTest, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

const SECRET = 'webhook-secret-for-tests-0123456789'

interface Receiver { url: string, bodies: any[] }

const test = serverTest
  // eslint-disable-next-line no-empty-pattern -- vitest reads a fixture's dependencies from this pattern: none
  .extend('receiver', { scope: 'file' }, async ({}, { onCleanup }): Promise<Receiver> => {
    const bodies: any[] = []
    const server: Server = createServer((req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (chunk: string) => { body += chunk })
      req.on('end', () => {
        bodies.push(JSON.parse(body))
        res.statusCode = 204
        res.end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())))
    return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/push`, bodies }
  })

test.override('serverOptions', { scope: 'file' }, ({ receiver }) => ({
  config: { pushWebhook: { url: receiver.url, secret: SECRET, timeoutMs: 2000, retryLimit: 2, retryDelaySeconds: 1, previewChars: 20 } }
}))

let server: TestServer
let api: Client
let receiver: Receiver
test.beforeAll(({ server: started, receiver: r }) => {
  server = started
  receiver = r
  api = client(server.url)
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const at = (who: Account) => `@${who.user.username}`

async function until<T> (read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * The recipients of a message's webhook jobs, with their `mentioned` flag. The
 * jobs of one message go into the queue in one insert, and every message here
 * has a recipient at level all, so once any job of it is there, all are.
 */
async function jobsOf (messageId: string): Promise<Map<string, boolean>> {
  const rows = await until(
    () => server.sql<{ recipient: string, mentioned: boolean }>(
      "SELECT data->>'recipientId' AS recipient, (data->>'mentioned')::boolean AS mentioned FROM pgboss.job WHERE name = 'push-webhook' AND data->>'messageId' = $1",
      [messageId]),
    (r) => r.length > 0, `the jobs of ${messageId}`)
  return new Map(rows.map((r) => [r.recipient, r.mentioned]))
}

async function setMine (who: Account, level: string): Promise<void> {
  const res = await api.put('/v1/me/notifications', { level }, as(who))
  expect(res.status).toBe(200)
  expect(res.body).toEqual({ level })
}
async function setHere (who: Account, conversationId: string, settings: Record<string, unknown>): Promise<any> {
  const res = await api.put(`/v1/conversations/${conversationId}/notifications`, settings, as(who))
  expect(res.status).toBe(200)
  return res.body
}

describe('notification preferences', () => {
  it('are stored per user and per conversation and shown in the Conversation; bad input answers 400, strangers 404', async () => {
    const [owner, b, stranger] = await users(3)
    const group = await createGroup(api, owner, [b])
    expect((await api.get('/v1/me/notifications', as(b))).body).toEqual({ level: 'all' })
    await setMine(b, 'mentions')
    expect((await api.get('/v1/me/notifications', as(b))).body).toEqual({ level: 'mentions' })

    let view = (await api.get(`/v1/conversations/${group.id}`, as(b))).body
    expect(view.notifications).toEqual({ level: 'default', muteUntil: null })
    const until = new Date(Date.now() + 3_600_000).toISOString()
    expect(await setHere(b, group.id, { level: 'none', muteUntil: until })).toEqual({ level: 'none', muteUntil: until })
    view = (await api.get(`/v1/conversations/${group.id}`, as(b))).body
    expect(view.notifications).toEqual({ level: 'none', muteUntil: until })
    const listed = (await api.get('/v1/conversations', as(b))).body.conversations.find((c: any) => c.id === group.id)
    expect(listed.notifications).toEqual({ level: 'none', muteUntil: until })
    // Only the caller's: the owner's stay as they were.
    expect((await api.get(`/v1/conversations/${group.id}`, as(owner))).body.notifications).toEqual({ level: 'default', muteUntil: null })

    // muteUntil omitted: kept; null: unmuted; a time past: shown as not muted.
    expect(await setHere(b, group.id, { level: 'mentions' })).toEqual({ level: 'mentions', muteUntil: until })
    expect(await setHere(b, group.id, { level: 'default', muteUntil: null })).toEqual({ level: 'default', muteUntil: null })
    expect(await setHere(b, group.id, { level: 'all', muteUntil: '2020-01-01T00:00:00.000Z' })).toEqual({ level: 'all', muteUntil: null })

    expectError(await api.put('/v1/me/notifications', { level: 'default' }, as(b)), 400, 'VALIDATION_FAILED')
    expectError(await api.put('/v1/me/notifications', { level: 'loud' }, as(b)), 400, 'VALIDATION_FAILED')
    expectError(await api.put('/v1/me/notifications', {}, as(b)), 400, 'VALIDATION_FAILED')
    expectError(await api.put(`/v1/conversations/${group.id}/notifications`, { level: 'all', muteUntil: 'tomorrow' }, as(b)), 400, 'VALIDATION_FAILED')
    expectError(await api.put(`/v1/conversations/${group.id}/notifications`, { muteUntil: null }, as(b)), 400, 'VALIDATION_FAILED')
    // A date-time the schema takes but JavaScript or PostgreSQL cannot hold (a leap second, year 0000, before
    // 0001 or past 9999 in UTC) is refused, not a 500 nor a stored mute that breaks GET /v1/me/export.
    for (const muteUntil of ['2026-12-31T23:59:60Z', '0000-01-01T00:00:00Z', '0001-01-01T00:30:00+01:00', '9999-12-31T23:59:59-23:59']) {
      expectError(await api.put(`/v1/conversations/${group.id}/notifications`, { level: 'all', muteUntil }, as(b)), 400, 'VALIDATION_FAILED')
    }
    expect(await setHere(b, group.id, { level: 'default', muteUntil: '9999-12-31T23:59:59.999Z' })).toEqual({ level: 'default', muteUntil: '9999-12-31T23:59:59.999Z' })
    expect((await api.get('/v1/me/export', as(b))).status).toBe(200)
    expect(await setHere(b, group.id, { level: 'default', muteUntil: null })).toEqual({ level: 'default', muteUntil: null })
    expectError(await api.put(`/v1/conversations/${group.id}/notifications`, { level: 'all' }, as(stranger)), 404, 'NOT_FOUND')
    expectError(await api.put('/v1/conversations/not-a-uuid/notifications', { level: 'all' }, as(b)), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/me/notifications'), 401, 'UNAUTHORIZED')
  })

  it('decide the webhook jobs: mutes, levels none and mentions, overrides, blocks', async () => {
    const [[sender, loud, quiet, mentionsOnly, muted, silencedHere], [overridden, blocker]] = await Promise.all([users(6), users(2)])
    const group = await createGroup(api, sender, [loud, quiet, mentionsOnly, muted, silencedHere, overridden, blocker])
    await setMine(quiet, 'none')
    await setMine(mentionsOnly, 'mentions')
    await setHere(muted, group.id, { level: 'all', muteUntil: new Date(Date.now() + 3_600_000).toISOString() })
    await setHere(silencedHere, group.id, { level: 'none' })
    await setMine(overridden, 'none')
    await setHere(overridden, group.id, { level: 'mentions' })
    expect((await api.put(`/v1/me/blocks/${sender.user.id}`, undefined, as(blocker))).status).toBe(204)

    // Nobody is connected: everyone but the sender is offline.
    const plain = await post(api, sender, group.id, 'good morning')
    expect(await jobsOf(plain.id)).toEqual(new Map([[loud.user.id, false]]))

    const named = await post(api, sender, group.id, `${at(mentionsOnly)} ${at(overridden)} ${at(quiet)} ${at(muted)} ${at(blocker)} ${at(silencedHere)}`)
    expect(await jobsOf(named.id)).toEqual(new Map([[loud.user.id, false], [mentionsOnly.user.id, true], [overridden.user.id, true]]))

    // @all from the owner mentions everyone: level mentions hears it, none and mutes do not.
    const all = await post(api, sender, group.id, '@all standup')
    expect(await jobsOf(all.id)).toEqual(new Map([[loud.user.id, true], [mentionsOnly.user.id, true], [overridden.user.id, true]]))

    // Unmuted, back to the user's level, unblocked: heard again.
    await setHere(muted, group.id, { level: 'default', muteUntil: null })
    await setHere(silencedHere, group.id, { level: 'default' })
    expect((await api.del(`/v1/me/blocks/${sender.user.id}`, as(blocker))).status).toBe(204)
    const after = await post(api, sender, group.id, 'after')
    expect(await jobsOf(after.id)).toEqual(new Map([[loud.user.id, false], [muted.user.id, false], [silencedHere.user.id, false], [blocker.user.id, false]]))

    // The delivered payload says whether it mentions the recipient.
    const delivered = await until(async () => receiver.bodies.filter((b) => b.messageId === named.id), (list) => list.length === 3, 'deliveries', 30_000)
    expect(delivered.find((b) => b.recipientId === mentionsOnly.user.id)).toMatchObject({ mentioned: true, conversationId: group.id, seq: named.seq })
  }, 60_000)

  it('through the SDK: levels, a conversation mute, mentionCount and mentionsMe', async () => {
    const signUp = async (): Promise<SwitchboardClient> => {
      const sdk = createClient({ baseUrl: server.url })
      await sdk.auth.register({ username: uniqueName(), password: 'correct horse battery' })
      return sdk
    }
    const [owner, member] = await Promise.all([signUp(), signUp()])
    const memberId = member.session!.user.id
    const group = await owner.conversations.createGroup('g', [memberId])
    expect(await member.notifications.get()).toEqual({ level: 'all' })
    expect(await member.notifications.set('mentions')).toEqual({ level: 'mentions' })
    const muteUntil = new Date(Date.now() + 60_000).toISOString()
    expect(await member.notifications.setConversation(group.id, { level: 'none', muteUntil })).toEqual({ level: 'none', muteUntil })
    expect((await member.conversations.get(group.id)).notifications).toEqual({ level: 'none', muteUntil })
    const err = await member.notifications.setConversation(crypto.randomUUID(), { level: 'all' }).catch((e: unknown) => e)
    expect(err instanceof ApiError && err.code).toBe('NOT_FOUND')

    const m = await owner.messages.send(group.id, `hi @${member.session!.user.username}`)
    expect(m.mentions).toEqual([memberId])
    expect(mentionsMe(m, memberId)).toBe(true)
    expect(mentionsMe(m, owner.session!.user.id)).toBe(false)
    expect((await member.conversations.get(group.id)).mentionCount).toBe(1)
    await member.conversations.markRead(group.id, m.seq)
    expect((await member.conversations.get(group.id)).mentionCount).toBe(0)
  })
})

describe('thread replies', () => {
  it('make webhook jobs for the thread\'s followers and the mentioned only, not the whole group', async () => {
    const [a, b, c, d, e] = await users(5)
    const group = await createGroup(api, a, [b, c, d, e])
    const root = await post(api, a, group.id, 'root')
    // b replies mentioning d: a (started it) and d (mentioned); c and e take no part.
    const first = await post(api, b, group.id, `re ${at(d)}`, { threadRootId: root.id })
    expect([...(await jobsOf(first.id)).entries()].sort()).toEqual([[a.user.id, false], [d.user.id, true]].sort())
    // c replies: the followers a, b (replied) and d (mentioned before).
    const second = await post(api, c, group.id, 'me too', { threadRootId: root.id })
    expect([...(await jobsOf(second.id)).keys()].sort()).toEqual([a.user.id, b.user.id, d.user.id].sort())
    // A top-level message still reaches the whole group.
    const top = await post(api, e, group.id, 'top')
    expect([...(await jobsOf(top.id)).keys()].sort()).toEqual([a.user.id, b.user.id, c.user.id, d.user.id].sort())
  })
})
