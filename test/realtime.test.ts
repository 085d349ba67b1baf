// Live delivery over real WebSockets: every member's every device, in seq
// order, nothing to outsiders; typing and read receipts.
import { afterAll, describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, register, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { connectReady, type Frame, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []

const open = (token: string) => connectReady(server.url, token, sockets)

test.override('serverOptions', { config: { typingPerSecond: 2 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

const isMsg = (conversationId: string) => (f: Frame) => f.type === 'message.created' && f.conversationId === conversationId

describe('event delivery', () => {
  it('pushes a new message to every connection of every member, and to nobody else', async () => {
    const [a, b, c, outsider] = await Promise.all([register(api), register(api), register(api), register(api)])
    const group = await createGroup(api, a, [b, c])
    const a1 = await open(a.accessToken)
    const a2 = await open(a.accessToken)
    const b1 = await open(b.accessToken)
    const out = await open(outsider.accessToken)

    const msg = await post(api, b, group.id, 'hello everyone')
    for (const s of [a1, a2, b1]) {
      const f = await s.next(isMsg(group.id))
      expect(f).toEqual({ type: 'message.created', conversationId: group.id, seq: msg.seq, createdAt: msg.createdAt, data: msg })
    }
    await out.none((f) => f.conversationId === group.id)
  })

  it('keeps seq order per conversation under concurrent senders', async () => {
    const users = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, users[0]!, users.slice(1))
    const watcher = await open(users[0]!.accessToken)
    const start = group.lastSeq as number
    const perUser = 15
    await Promise.all(users.map(async (u, i) => {
      for (let n = 0; n < perUser; n++) await post(api, u, group.id, `u${i} #${n}`)
    }))
    const total = perUser * users.length
    const seqs: number[] = []
    for (let i = 0; i < total; i++) seqs.push((await watcher.next(isMsg(group.id))).seq)
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => start + i + 1))
  })

  it('pushes edits and deletions as events', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const bs = await open(b.accessToken)
    const msg = await post(api, a, group.id, 'first draft')
    await bs.next(isMsg(group.id))
    await api.patch(`/v1/conversations/${group.id}/messages/${msg.id}`, { body: 'final' }, { token: a.accessToken })
    const updated = await bs.next((f) => f.type === 'message.updated')
    expect(updated.data).toMatchObject({ id: msg.id, body: 'final', editedAt: expect.any(String) })
    await api.del(`/v1/conversations/${group.id}/messages/${msg.id}`, { token: a.accessToken })
    const deleted = await bs.next((f) => f.type === 'message.deleted')
    expect(deleted.data).toMatchObject({ id: msg.id, body: '', deletedAt: expect.any(String) })
    expect(deleted.seq).toBeGreaterThan(updated.seq)
  })

  it('a member added later receives from their member.added on; a removed one stops after their member.removed', async () => {
    const [owner, late, leaving] = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, owner, [leaving])
    const lateSock = await open(late.accessToken)
    const leavingSock = await open(leaving.accessToken)
    await post(api, owner, group.id, 'before late joined')
    await lateSock.none((f) => f.conversationId === group.id, 200)

    await api.post(`/v1/conversations/${group.id}/members`, { userIds: [late.user.id] }, { token: owner.accessToken })
    const added = await lateSock.next((f) => f.type === 'member.added')
    expect(added.data).toMatchObject({ userId: late.user.id, by: owner.user.id })
    await post(api, owner, group.id, 'after late joined')
    expect((await lateSock.next(isMsg(group.id))).data.body).toBe('after late joined')

    expect((await api.del(`/v1/conversations/${group.id}/members/${leaving.user.id}`, { token: owner.accessToken })).status).toBe(204)
    const removed = await leavingSock.next((f) => f.type === 'member.removed' && f.data.userId === leaving.user.id)
    expect(removed.data.by).toBe(owner.user.id)
    await post(api, owner, group.id, 'after removal')
    await leavingSock.none((f) => f.conversationId === group.id && f.seq > removed.seq, 300)
  })
})

describe('typing', () => {
  it('goes to the other members only, and not to outsiders', async () => {
    const [a, b, outsider] = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const as = await open(a.accessToken)
    const bs = await open(b.accessToken)
    const os = await open(outsider.accessToken)
    as.send({ type: 'typing', conversationId: group.id })
    expect(await bs.next((f) => f.type === 'typing')).toEqual({ type: 'typing', conversationId: group.id, data: { userId: a.user.id } })
    await as.none((f) => f.type === 'typing', 200)
    await os.none((f) => f.type === 'typing', 0)
  })

  it('refuses typing into a conversation the user is not in', async () => {
    const [a, b, c] = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const cs = await open(c.accessToken)
    cs.send({ type: 'typing', conversationId: group.id })
    expect(await cs.next((f) => f.type === 'error')).toMatchObject({ code: 'NOT_FOUND' })
  })

  it('is relayed once a second per user and conversation, however many sockets the user types from', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const bs = await open(b.accessToken)
    const mine = await Promise.all(Array.from({ length: 5 }, () => open(a.accessToken)))
    const started = Date.now()
    for (const s of mine) s.send({ type: 'typing', conversationId: group.id })
    for (const s of mine) {
      s.send({ type: 'ping' })
      await s.next((f) => f.type === 'pong')
    }
    await bs.next((f) => f.type === 'typing')
    await new Promise((resolve) => setTimeout(resolve, 300))
    // One per second at most since the first was sent (five without the bound; a slow machine only widens it).
    const relayed = bs.frames.filter((f) => f.type === 'typing').length
    expect(relayed).toBeLessThanOrEqual(1 + Math.floor((Date.now() - started) / 1000))
    expect(relayed).toBeLessThan(5)
    for (const s of mine) expect(s.frames.filter((f) => f.type === 'error')).toEqual([])
    // A second later it is relayed again.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    mine[0]!.send({ type: 'typing', conversationId: group.id })
    await bs.next((f) => f.type === 'typing' && bs.frames.filter((g) => g.type === 'typing').length === relayed + 1)
  })

  it('is rate-limited per connection with an error frame', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const as = await open(a.accessToken)
    for (let i = 0; i < 10; i++) as.send({ type: 'typing', conversationId: group.id })
    expect(await as.next((f) => f.type === 'error')).toMatchObject({ code: 'RATE_LIMITED' })
    as.send({ type: 'ping' })
    await as.next((f) => f.type === 'pong')
  })
})

describe('read receipts', () => {
  it('go to the members, including the reader\'s other devices, only when the position moves', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const m = await post(api, b, group.id, 'read me')
    const a1 = await open(a.accessToken)
    const a2 = await open(a.accessToken)
    const bs = await open(b.accessToken)
    expect((await api.post(`/v1/conversations/${group.id}/read`, { seq: m.seq }, { token: a.accessToken })).status).toBe(204)
    const expected = { type: 'read', conversationId: group.id, data: { userId: a.user.id, seq: m.seq } }
    expect(await bs.next((f) => f.type === 'read')).toEqual(expected)
    expect(await a2.next((f) => f.type === 'read')).toEqual(expected)
    expect(await a1.next((f) => f.type === 'read')).toEqual(expected)
    // Reading an older position does not move it, and announces nothing.
    await api.post(`/v1/conversations/${group.id}/read`, { seq: 1 }, { token: a.accessToken })
    await bs.none((f) => f.type === 'read' && f.data.seq === 1, 300)
  })
})
