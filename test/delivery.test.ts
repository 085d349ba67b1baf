// Delivery receipts (issue 17): a device acknowledges receipt up to a seq, by
// WebSocket frame or REST; each membership keeps a monotonic lastDeliveredSeq
// (capped at lastSeq, at least lastReadSeq), shown on the conversation and per
// member; the other members get a `delivered` frame (not in the log), but not
// those the acknowledging user blocked; acks are coalesced per window.
import { afterAll, describe, expect, it } from 'vitest'
import { createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { recordingClient, type RecordingClient } from './helpers/sdk.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []
const sdks: RecordingClient[] = []
const WINDOW_MS = 300

test.override('serverOptions', { config: { deliveryCoalesceMs: WINDOW_MS } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
  for (const c of sdks) c.sdk.realtime.close()
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const delivered = (who: Account, c: string, seq: number) => api.post(`/v1/conversations/${c}/delivered`, { seq }, as(who))
const conversation = async (who: Account, c: string) => (await api.get(`/v1/conversations/${c}`, as(who))).body
const memberOf = (conv: any, who: Account) => conv.members.find((m: any) => m.user.id === who.user.id)
const isDelivered = (c: string, who: Account, seq?: number) => (f: any) =>
  f.type === 'delivered' && f.conversationId === c && f.data.userId === who.user.id && (seq === undefined || f.data.seq === seq)

describe('delivery receipts', () => {
  it('REST: moves lastDeliveredSeq forward only, capped at lastSeq; the others get a delivered frame, the acknowledging user does not; nothing is logged', async () => {
    const [owner, b, c] = await users(3)
    const group = await createGroup(api, owner, [b, c])
    const m1 = await post(api, owner, group.id, 'one')
    const m2 = await post(api, owner, group.id, 'two')
    const ownerSocket = await connectReady(server.url, owner.accessToken, sockets)
    const bSocket = await connectReady(server.url, b.accessToken, sockets)
    const logBefore = await replay(api, owner, group.id)

    expect((await delivered(b, group.id, m1.seq)).status).toBe(204)
    const frame = await ownerSocket.next(isDelivered(group.id, b), 20_000)
    expect(frame).toEqual({ type: 'delivered', conversationId: group.id, data: { userId: b.user.id, seq: m1.seq } })
    expect((await conversation(b, group.id)).lastDeliveredSeq).toBe(m1.seq)
    expect(memberOf(await conversation(owner, group.id), b).lastDeliveredSeq).toBe(m1.seq)

    // Past lastSeq: capped. Lower again: nothing moves, nothing is sent.
    await new Promise((r) => setTimeout(r, WINDOW_MS + 50))
    expect((await delivered(b, group.id, 1_000_000)).status).toBe(204)
    await ownerSocket.next(isDelivered(group.id, b, m2.seq), 20_000)
    expect((await conversation(b, group.id)).lastDeliveredSeq).toBe(m2.seq)
    await new Promise((r) => setTimeout(r, WINDOW_MS + 50))
    expect((await delivered(b, group.id, m1.seq)).status).toBe(204)
    expect((await conversation(b, group.id)).lastDeliveredSeq).toBe(m2.seq)
    await ownerSocket.none(isDelivered(group.id, b), 500)
    expect(bSocket.frames.filter((f) => f.type === 'delivered')).toEqual([])
    expect(await replay(api, owner, group.id)).toEqual(logBefore)
  })

  it('reading implies delivery: lastDeliveredSeq is at least lastReadSeq, and an ack at or below it changes nothing', async () => {
    const [owner, b] = await users(2)
    const group = await createGroup(api, owner, [b])
    const m1 = await post(api, owner, group.id, 'one')
    expect((await api.post(`/v1/conversations/${group.id}/read`, { seq: m1.seq }, as(b))).status).toBe(204)
    expect((await conversation(b, group.id)).lastDeliveredSeq).toBe(m1.seq)
    expect(memberOf(await conversation(owner, group.id), b)).toMatchObject({ lastReadSeq: m1.seq, lastDeliveredSeq: m1.seq })
    const ownerSocket = await connectReady(server.url, owner.accessToken, sockets)
    expect((await delivered(b, group.id, m1.seq)).status).toBe(204)
    await ownerSocket.none(isDelivered(group.id, b), 500)
  })

  it('WebSocket frame: the same, per connection; a non-member gets an error frame NOT_FOUND; a bad frame VALIDATION_FAILED', async () => {
    const [owner, b, stranger] = await users(3)
    const group = await createGroup(api, owner, [b])
    const m1 = await post(api, owner, group.id, 'one')
    const ownerSocket = await connectReady(server.url, owner.accessToken, sockets)
    const bSocket = await connectReady(server.url, b.accessToken, sockets)
    bSocket.send({ type: 'delivered', conversationId: group.id, seq: m1.seq })
    expect((await ownerSocket.next(isDelivered(group.id, b), 20_000)).data.seq).toBe(m1.seq)
    expect((await conversation(b, group.id)).lastDeliveredSeq).toBe(m1.seq)

    const strangerSocket = await connectReady(server.url, stranger.accessToken, sockets)
    strangerSocket.send({ type: 'delivered', conversationId: group.id, seq: 1 })
    expect(await strangerSocket.next((f) => f.type === 'error', 20_000)).toMatchObject({ code: 'NOT_FOUND' })
    strangerSocket.send({ type: 'delivered', conversationId: group.id, seq: -1 })
    expect(await strangerSocket.next((f) => f.type === 'error', 20_000)).toMatchObject({ code: 'VALIDATION_FAILED' })
    expectError(await delivered(stranger, group.id, 1), 404, 'NOT_FOUND')
  })

  it('coalesces: a client acknowledging every message of a burst causes a few frames, the last with the highest seq', async () => {
    const [owner, b] = await users(2)
    const group = await createGroup(api, owner, [b])
    const posted = []
    for (let i = 0; i < 30; i++) posted.push(await post(api, owner, group.id, `m${i}`))
    const ownerSocket = await connectReady(server.url, owner.accessToken, sockets)
    const bSocket = await connectReady(server.url, b.accessToken, sockets)
    for (const m of posted) bSocket.send({ type: 'delivered', conversationId: group.id, seq: m.seq })
    const last = posted.at(-1).seq
    await ownerSocket.next(isDelivered(group.id, b, last), 20_000)
    const frames = ownerSocket.frames.filter(isDelivered(group.id, b))
    expect(frames.length).toBeLessThanOrEqual(3)
    expect(frames.map((f) => f.data.seq)).toEqual([...frames.map((f) => f.data.seq)].sort((x, y) => x - y))
    expect((await conversation(b, group.id)).lastDeliveredSeq).toBe(last)
  })

  it('follows blocks and windows: not to users the acknowledging user blocked (who see 0), not to removed members', async () => {
    const [owner, b, c] = await users(3)
    const group = await createGroup(api, owner, [b, c])
    const m1 = await post(api, owner, group.id, 'one')
    expect((await api.put(`/v1/me/blocks/${c.user.id}`, undefined, as(b))).status).toBe(204)
    const ownerSocket = await connectReady(server.url, owner.accessToken, sockets)
    const cSocket = await connectReady(server.url, c.accessToken, sockets)
    expect((await delivered(b, group.id, m1.seq)).status).toBe(204)
    await ownerSocket.next(isDelivered(group.id, b), 20_000)
    await cSocket.none(isDelivered(group.id, b), 500)
    expect(memberOf(await conversation(c, group.id), b).lastDeliveredSeq).toBe(0)
    expect(memberOf(await conversation(owner, group.id), b).lastDeliveredSeq).toBe(m1.seq)

    expect((await api.del(`/v1/conversations/${group.id}/members/${c.user.id}`, as(owner))).status).toBe(204)
    const m2 = await post(api, owner, group.id, 'two')
    expect((await api.put(`/v1/me/blocks/${c.user.id}`, undefined, as(owner))).status).toBe(204)
    await new Promise((r) => setTimeout(r, WINDOW_MS + 50))
    expect((await delivered(b, group.id, m2.seq)).status).toBe(204)
    await ownerSocket.next(isDelivered(group.id, b, m2.seq), 20_000)
    expect(cSocket.frames.filter(isDelivered(group.id, b))).toEqual([])
    expectError(await delivered(c, group.id, m2.seq), 404, 'NOT_FOUND')
  })

  it('SDK: conversations.delivered and realtime.delivered; the delivered event on the other side', async () => {
    const [owner, b] = await users(2)
    const group = await createGroup(api, owner, [b])
    const m1 = await post(api, owner, group.id, 'one')
    const m2 = await post(api, owner, group.id, 'two')
    const sender = recordingClient(server.url)
    const receiver = recordingClient(server.url)
    sdks.push(sender, receiver)
    const seen: any[] = []
    sender.sdk.realtime.on('delivered', (f) => seen.push(f))
    await sender.sdk.auth.login({ username: owner.user.username, password: owner.password })
    await receiver.sdk.auth.login({ username: b.user.username, password: b.password })
    sender.sdk.realtime.connect()
    receiver.sdk.realtime.connect()
    await sender.until(() => sender.synced >= 1, 10_000, 'sender sync')
    await receiver.until(() => receiver.synced >= 1, 10_000, 'receiver sync')
    await receiver.sdk.conversations.delivered(group.id, m1.seq)
    await sender.until(() => seen.some((f) => f.data.seq === m1.seq), 20_000, 'first tick')
    await new Promise((r) => setTimeout(r, WINDOW_MS + 50))
    expect(receiver.sdk.realtime.delivered(group.id, m2.seq)).toBe(true)
    await sender.until(() => seen.some((f) => f.data.seq === m2.seq), 20_000, 'second tick')
    expect(seen.at(-1)).toEqual({ type: 'delivered', conversationId: group.id, data: { userId: b.user.id, seq: m2.seq } })
  })

  it('the SDK coalesces acks: one per message in a tight loop, over many conversations, stays within the frame budget', async () => {
    const [owner, b] = await users(2)
    const groups = await Promise.all(Array.from({ length: 12 }, (_, i) => createGroup(api, owner, [b], `acks ${i}`)))
    const last = await Promise.all(groups.map((g) => post(api, owner, g.id, 'latest')))
    const receiver = recordingClient(server.url)
    sdks.push(receiver)
    const errors: unknown[] = []
    receiver.sdk.realtime.on('error', (err) => errors.push(err))
    await receiver.sdk.auth.login({ username: b.user.username, password: b.password })
    receiver.sdk.realtime.connect()
    await receiver.until(() => receiver.synced >= 1, 10_000, 'receiver sync')
    // 12 conversations × every seq up to the last, 100 times over: 1,200+ acks at once.
    for (let round = 0; round < 100; round++) {
      for (const [i, g] of groups.entries()) for (let seq = 1; seq <= last[i]!.seq; seq++) receiver.sdk.realtime.delivered(g.id, seq)
    }
    const stored = async () => (await server.sql('SELECT count(*)::int AS n FROM memberships WHERE user_id = $1 AND last_delivered_seq >= 2', [b.user.id]))[0].n
    await expect.poll(stored, { timeout: 20_000 }).toBe(groups.length)
    expect(receiver.sdk.realtime.state).toBe('live')
    expect(receiver.synced).toBe(1)
    expect(errors).toEqual([])
  })
})
