// Configured limits: posting rate per user, group size, message length.
import { describe, expect, it } from 'vitest'
import { createGroup } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { startServer, test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client

test.override('serverOptions', { config: { postRateLimitPerSecond: 5, groupMaxMembers: 3, messageMaxLength: 10 } })
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
