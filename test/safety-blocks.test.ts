// Blocking, over real HTTP and WebSocket against real PostgreSQL: what a
// blocked user can no longer do or see, and what stays (the shared log).
import { createServer, type Server } from 'node:http'
import { afterAll, describe, expect, it } from 'vitest'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const opened: TestSocket[] = []

// A webhook receiver that accepts everything: the test reads the queued jobs.
// Listening before the server starts, as its address is the server's setting.
const hook: Server = createServer((req, res) => { req.resume(); req.on('end', () => { res.statusCode = 204; res.end() }) })
await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve))
const url = `http://127.0.0.1:${(hook.address() as { port: number }).port}/push`

test.override('serverOptions', {
  config: { presenceGraceMs: 50, pushWebhook: { url, secret: 'webhook-secret-for-tests-0123456789', timeoutMs: 2000, retryLimit: 1, retryDelaySeconds: 1, previewChars: 10 } }
})
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  for (const s of opened) await s.close()
  await new Promise<void>((resolve) => hook.close(() => resolve()))
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const block = (who: Account, target: Account) => api.put(`/v1/me/blocks/${target.user.id}`, undefined, as(who))

async function until (check: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('the block list', () => {
  it('blocks, lists, unblocks; blocking twice or unblocking twice changes nothing; bad targets are 4xx', async () => {
    const [a, b, c] = await users(3)
    expect((await block(a, b)).status).toBe(204)
    expect((await block(a, b)).status).toBe(204)
    expect((await block(a, c)).status).toBe(204)
    const list = (await api.get('/v1/me/blocks', as(a))).body
    expect(list.blocks.map((x: any) => x.userId)).toEqual([c.user.id, b.user.id])
    expect(list.blocks[0]).toMatchObject({ username: c.user.username, displayName: c.user.displayName })
    expect((await api.del(`/v1/me/blocks/${b.user.id}`, as(a))).status).toBe(204)
    expect((await api.del(`/v1/me/blocks/${b.user.id}`, as(a))).status).toBe(204)
    expect((await api.get('/v1/me/blocks', as(a))).body.blocks.map((x: any) => x.userId)).toEqual([c.user.id])
    expect((await api.get('/v1/me/blocks', as(b))).body.blocks).toEqual([])
    expectError(await block(a, a), 400, 'VALIDATION_FAILED')
    expectError(await api.put('/v1/me/blocks/01890000-0000-7000-8000-000000000000', undefined, as(a)), 404, 'NOT_FOUND')
    expectError(await api.put('/v1/me/blocks/nope', undefined, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/me/blocks'), 401, 'UNAUTHORIZED')
  })
})

describe('a blocked user', () => {
  it('cannot open or post into a direct conversation with the blocker (403 BLOCKED); the blocker still can; unblocking lifts it', async () => {
    const [a, b, c] = await users(3)
    const direct = await createDirect(api, a, b)
    await block(a, b)
    expectError(await api.post(`/v1/conversations/${direct.id}/messages`, { body: 'hi' }, as(b)), 403, 'BLOCKED')
    await post(api, a, direct.id, 'from the blocker')
    await block(c, b)
    expectError(await api.post('/v1/conversations', { type: 'direct', userId: c.user.id }, as(b)), 403, 'BLOCKED')
    await api.del(`/v1/me/blocks/${b.user.id}`, as(a))
    await post(api, b, direct.id, 'after unblock')
    // Nothing of the refused post reached the log.
    expect((await replay(api, a, direct.id)).filter((e) => e.type === 'message.created').map((e) => e.data.body)).toEqual(['from the blocker', 'after unblock'])
  })

  it('is refused in a batch while other posts of the same batch go through', async () => {
    const [a, b, c] = await users(3)
    const direct = await createDirect(api, a, b)
    const other = await createDirect(api, c, b)
    await block(a, b)
    const results = await Promise.all([
      api.post(`/v1/conversations/${direct.id}/messages`, { body: 'x' }, as(b)),
      api.post(`/v1/conversations/${other.id}/messages`, { body: 'y' }, as(b)),
      api.post(`/v1/conversations/${direct.id}/messages`, { body: 'z' }, as(a))
    ])
    expect(results.map((r) => r.status)).toEqual([403, 201, 201])
  })

  it('cannot add the blocker to a group, nor create a group with them (403 BLOCKED)', async () => {
    const [a, b, c] = await users(3)
    await block(a, b)
    expectError(await api.post('/v1/conversations', { type: 'group', title: 'g', memberIds: [a.user.id, c.user.id] }, as(b)), 403, 'BLOCKED')
    const group = await createGroup(api, b, [c])
    expectError(await api.post(`/v1/conversations/${group.id}/members`, { userIds: [a.user.id] }, as(b)), 403, 'BLOCKED')
    // The blocker may add the blocked user.
    const theirs = await createGroup(api, a, [c])
    expect((await api.post(`/v1/conversations/${theirs.id}/members`, { userIds: [b.user.id] }, as(a))).status).toBe(200)
  })

  it("does not see the blocker's typing, read receipts or presence; others still do; messages in a shared group stay in the log", async () => {
    const [a, b, c] = await users(3)
    const group = await createGroup(api, a, [b, c])
    await block(a, b)
    const sb = await connectReady(server.url, b.accessToken, opened)
    const sc = await connectReady(server.url, c.accessToken, opened)
    const typing = (f: any) => f.type === 'typing' && f.data.userId === a.user.id
    const read = (f: any) => f.type === 'read' && f.data.userId === a.user.id
    const presence = (f: any) => f.type === 'presence' && f.data.userId === a.user.id && f.data.online === true

    const sa = await connectReady(server.url, a.accessToken, opened)
    await sc.next(presence)
    sa.send({ type: 'typing', conversationId: group.id })
    await sc.next(typing)
    const m = await post(api, b, group.id, 'from the blocked user')
    await api.post(`/v1/conversations/${group.id}/read`, { seq: m.seq }, as(a))
    await sc.next(read)
    await sb.none((f) => typing(f) || read(f) || presence(f), 300)
    expect(sb.frames.filter((f) => typing(f) || read(f) || presence(f))).toEqual([])

    // Nor over REST: the blocker's profile shows the blocked user no presence; others see it.
    expect((await api.get(`/v1/users/${a.user.id}`, as(b))).body).toMatchObject({ online: false, lastSeenAt: null })
    expect((await api.get(`/v1/users/${a.user.id}`, as(c))).body).toMatchObject({ online: true })

    // The blocked user's message is in the blocker's log, as it was posted.
    const events = await replay(api, a, group.id)
    expect(events.find((e) => e.seq === m.seq)).toMatchObject({ type: 'message.created', data: { body: 'from the blocked user', senderId: b.user.id } })
    // And the blocker still sees the blocked user's typing.
    sb.send({ type: 'typing', conversationId: group.id })
    await sa.next((f) => f.type === 'typing' && f.data.userId === b.user.id)
  })

  it('sends the blocker no offline notification of their messages', async () => {
    const [a, b, c] = await users(3)
    const group = await createGroup(api, c, [a, b])
    await block(a, b)
    const fromB = await post(api, b, group.id, 'blocked speaks')
    const fromC = await post(api, c, group.id, 'friend speaks')
    const jobs = async (messageId: string) => (await server.sql<{ r: string }>(
      "SELECT data->>'recipientId' AS r FROM pgboss.job WHERE name = 'push-webhook' AND data->>'messageId' = $1", [messageId])).map((j) => j.r).sort()
    // Jobs of one message are queued together: C's job for B's message means A's would be there too.
    await until(async () => (await jobs(fromB.id)).length > 0 && (await jobs(fromC.id)).length > 0, 'the jobs')
    expect(await jobs(fromB.id)).toEqual([c.user.id])
    expect(await jobs(fromC.id)).toEqual([a.user.id, b.user.id].sort())
  })
})
