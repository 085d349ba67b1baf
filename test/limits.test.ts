// Configured limits: posting rate per user, group size, message length.
import { describe, expect, it } from 'vitest'
import { createGroup } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { startServer, test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client

test.override('serverOptions', { config: { postRateLimitPerSecond: 5, profileRateLimitPerMinute: 3, groupMaxMembers: 3, messageMaxLength: 10 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)

describe('posting rate limit', () => {
  it('answers 429 RATE_LIMITED with Retry-After past the limit, per user', async () => {
    const [a, b] = await users(2)
    const group = await createGroup(api, a, [b])
    const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => api.post(`/v1/conversations/${group.id}/messages`, { body: `m${i}` }, as(a))))
    const limited = burst.filter((r) => r.status === 429)
    expect(burst.filter((r) => r.status === 201)).toHaveLength(5)
    expect(limited).toHaveLength(3)
    expectError(limited[0]!, 429, 'RATE_LIMITED')
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    // Another user is not affected.
    expect((await api.post(`/v1/conversations/${group.id}/messages`, { body: 'mine' }, as(b))).status).toBe(201)
    // Nothing was stored for the refused posts, and seqs stay gapless.
    const [{ n, max }] = await server.sql('SELECT count(*)::int AS n, max(seq) AS max FROM messages WHERE conversation_id = $1', [group.id])
    expect(n).toBe(6)
    expect(max).toBe(group.lastSeq + 6)
  })
})

describe('rate limit of the other routes that write an event pushed to the members', () => {
  // Each is an event in the log pushed to every member, as a post is: posting's budget (5 here) per user and route.
  // A burst of 20 at once: some are answered, the rest 429 RATE_LIMITED with Retry-After; nothing else.
  async function expectLimited (what: string, send: (i: number) => Promise<{ status: number, headers: Headers, body: any }>, ok: number[]) {
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => send(i)))
    const limited = burst.filter((r) => r.status === 429)
    const statuses = [...new Set(burst.map((r) => r.status))].sort()
    expect({ what, statuses: statuses.filter((s) => s !== 429 && !ok.includes(s)), answered: burst.length - limited.length > 0, limited: limited.length > 0 })
      .toEqual({ what, statuses: [], answered: true, limited: true })
    for (const r of limited) {
      expectError(r, 429, 'RATE_LIMITED')
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    }
  }

  it('edits, deletions, renames, role changes, removals and moderation changes answer 429 RATE_LIMITED past the budget', async () => {
    const [a, b, c] = await users(3)
    const group = await createGroup(api, a, [b])
    const base = `/v1/conversations/${group.id}`
    const m = (await api.post(`${base}/messages`, { body: 'target' }, as(a))).body
    await expectLimited('edit', (i) => api.patch(`${base}/messages/${m.id}`, { body: `edit ${i}` }, as(a)), [200])
    await expectLimited('rename', (i) => api.patch(base, { title: `title ${i}` }, as(a)), [200])
    // The budget is per user: another member is not held back by the owner's (b is a plain member: 403).
    expectError(await api.patch(base, { title: 'mine' }, as(b)), 403, 'FORBIDDEN')
    await expectLimited('role', (i) => api.patch(`${base}/members/${b.user.id}`, { role: i % 2 === 0 ? 'admin' : 'member' }, as(a)), [200])
    await expectLimited('mute', () => api.put(`${base}/mutes/${b.user.id}`, undefined, as(a)), [204])
    await expectLimited('unmute', () => api.del(`${base}/mutes/${b.user.id}`, as(a)), [204])
    await expectLimited('slow mode', (i) => api.put(`${base}/slow-mode`, { seconds: i % 2 }, as(a)), [204])
    await expectLimited('freeze', () => api.put(`${base}/freeze`, undefined, as(a)), [204])
    await expectLimited('unfreeze', () => api.del(`${base}/freeze`, as(a)), [204])
    // A ban can be set ahead, on a user who is not a member; again, it writes nothing.
    await expectLimited('ban', () => api.put(`${base}/bans/${c.user.id}`, undefined, as(a)), [204])
    await expectLimited('unban', () => api.del(`${base}/bans/${c.user.id}`, as(a)), [204])
    // Deleting again answers the tombstone; removing a non-member answers 404: each one still counts.
    await expectLimited('delete', () => api.del(`${base}/messages/${m.id}`, as(a)), [200])
    await expectLimited('remove', () => api.del(`${base}/members/${b.user.id}`, as(a)), [204, 404])
  })

  it('and every other write a user makes has a budget: reads, receipts, blocks, devices, settings, invites, sessions, the profile', async () => {
    const [a, b, c] = await users(3)
    const group = await createGroup(api, a, [b])
    const base = `/v1/conversations/${group.id}`
    const m = (await api.post(`${base}/messages`, { body: 'target' }, as(b))).body
    await api.post(`${base}/messages`, { body: 'reply', threadRootId: m.id }, as(a))
    await expectLimited('read', () => api.post(`${base}/read`, { seq: m.seq }, as(a)), [204])
    await expectLimited('thread read', () => api.post(`${base}/messages/${m.id}/thread/read`, { seq: m.seq }, as(a)), [204])
    await expectLimited('delivered', () => api.post(`${base}/delivered`, { seq: m.seq }, as(a)), [204])
    await expectLimited('block', () => api.put(`/v1/me/blocks/${c.user.id}`, undefined, as(a)), [204])
    await expectLimited('unblock', () => api.del(`/v1/me/blocks/${c.user.id}`, as(a)), [204])
    await expectLimited('device', (i) => api.put(`/v1/me/devices/d${i}`, { platform: 'fcm', token: `registration-token-${i}` }, as(a)), [200, 503])
    await expectLimited('settings', () => api.put('/v1/me/notifications', { level: 'all' }, as(a)), [200])
    await expectLimited('conversation settings', () => api.put(`${base}/notifications`, { level: 'all' }, as(a)), [200])
    await expectLimited('invite', () => api.post(`${base}/invites`, {}, as(a)), [201, 409])
    await expectLimited('end other sessions', () => api.post('/v1/me/sessions/end-others', undefined, as(a)), [200])
    // The profile tells every contact: its own, smaller budget per minute (3 here).
    // A burst that lands at once is answered up to the budget exactly (the limiter's in-memory counter is read per request).
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => api.patch('/v1/me', { displayName: `Name ${i}` }, as(c))))
    expect(burst.map((r) => r.status).sort()).toEqual([...Array(3).fill(200), ...Array(17).fill(429)])
    // Per user: b is not held back by a's budgets.
    expect((await api.post(`${base}/read`, { seq: m.seq }, as(b))).status).toBe(204)
  })
})

describe('group size', () => {
  it('refuses a group or an addition past GROUP_MAX_MEMBERS with 400', async () => {
    const [a, b, c, d] = await users(4)
    expectError(await api.post('/v1/conversations', { type: 'group', title: 'big', memberIds: [b.user.id, c.user.id, d.user.id] }, as(a)), 400, 'VALIDATION_FAILED')
    const group = await createGroup(api, a, [b, c])
    expect(group.members).toHaveLength(3)
    expectError(await api.post(`/v1/conversations/${group.id}/members`, { userIds: [d.user.id] }, as(a)), 400, 'VALIDATION_FAILED')
    await api.del(`/v1/conversations/${group.id}/members/${c.user.id}`, as(a))
    expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [d.user.id] }, as(a))).status).toBe(200)
  })
})

describe('message length', () => {
  it('follows MESSAGE_MAX_LENGTH', async () => {
    const [a] = await users(1)
    const group = await createGroup(api, a, [])
    expect((await api.post(`/v1/conversations/${group.id}/messages`, { body: '0123456789' }, as(a))).status).toBe(201)
    const res = await api.post(`/v1/conversations/${group.id}/messages`, { body: '0123456789x' }, as(a))
    expectError(res, 400, 'VALIDATION_FAILED')
    expect(res.body.message).toContain('must NOT have more than 10 characters')
  })
})

describe('OpenAPI', () => {
  it('documents the conversation and message routes with the configured limits', async () => {
    const doc = (await api.get('/docs/json')).body
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([
      '/v1/conversations', '/v1/conversations/{id}', '/v1/conversations/{id}/members', '/v1/conversations/{id}/members/{userId}',
      '/v1/conversations/{id}/read', '/v1/conversations/{id}/messages', '/v1/conversations/{id}/messages/{messageId}', '/v1/conversations/{id}/events'
    ]))
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Message', 'Event', 'Member', 'Conversation']))
    const postBody = doc.paths['/v1/conversations/{id}/messages'].post.requestBody.content['application/json'].schema
    expect(postBody.properties.body.maxLength).toBe(10)
  })
})

describe('membership rate limit', () => {
  it('group creation and member additions share one per-user budget: 429 RATE_LIMITED past it, nothing written', async () => {
    const limited = await startServer({ config: { membershipRateLimitPerMinute: 3 } })
    try {
      const lapi = client(limited.url)
      const [a, b, c, d] = await registerMany(lapi, 4)
      const group = await createGroup(lapi, a, [b])
      expect((await lapi.post(`/v1/conversations/${group.id}/members`, { userIds: [c.user.id] }, as(a))).status).toBe(200)
      expect((await lapi.post('/v1/conversations', { type: 'direct', userId: b.user.id }, as(a))).status).toBe(201)
      const refused = await lapi.post(`/v1/conversations/${group.id}/members`, { userIds: [d.user.id] }, as(a))
      expectError(refused, 429, 'RATE_LIMITED')
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expectError(await lapi.post('/v1/conversations', { type: 'group', title: 'more', memberIds: [d.user.id] }, as(a)), 429, 'RATE_LIMITED')
      expect((await lapi.get(`/v1/conversations/${group.id}`, as(a))).body.lastSeq).toBe(group.lastSeq + 1)
      // Another user has their own budget.
      expect((await lapi.post('/v1/conversations', { type: 'group', title: 'theirs', memberIds: [d.user.id] }, as(b))).status).toBe(201)
    } finally {
      await limited.close()
    }
  })
})
