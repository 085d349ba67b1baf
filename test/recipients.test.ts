// Who receives an event is decided by membership windows by seq, for the
// live push, the gap fill and the replay alike. A publish that never happens
// (the process died between commit and publish) is made here by running the
// real domain code with a publisher that drops everything: the commit is
// real, the push is lost, and the server must fill the gap from the log for
// exactly the users whose window holds each missing event.
import { afterAll, describe, expect, it } from 'vitest'
import { createMemberService } from '../src/domain/members.js'
import { createMessageService } from '../src/domain/messages.js'
import type { RealtimePublisher } from '../src/domain/events.js'
import { createGroup, post, replay } from './helpers/chat.js'
import { client, register, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { connectReady, type Frame, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []
/** The domain of the server's own process, with every publish lost after commit. */
let lost: { members: ReturnType<typeof createMemberService>, messages: ReturnType<typeof createMessageService> }

const WAIT = 20_000
const as = (a: Account) => ({ token: a.accessToken })

const open = (who: Account) => connectReady(server.url, who.accessToken, sockets)

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
  const silent: RealtimePublisher = { publishEvents () {}, publishRead () {}, publishThreadRead () {} }
  const deps = { prisma: server.app.db.prisma, pool: server.app.db.pool, publisher: silent, groupMaxMembers: 1000, membersPreview: 10 }
  lost = { members: createMemberService(deps), messages: createMessageService(deps) }
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

/** Accounts registered a few at a time (argon2 takes both cores of a small machine). */
async function registerMany (n: number): Promise<Account[]> {
  const out: Account[] = []
  while (out.length < n) out.push(...await Promise.all(Array.from({ length: Math.min(8, n - out.length) }, () => register(api))))
  return out
}

const inConv = (conversationId: string) => (f: Frame) => f.conversationId === conversationId && typeof f.seq === 'number'
const seqsOf = (s: TestSocket, conversationId: string) => s.frames.filter(inConv(conversationId)).map((f) => f.seq as number)

describe('gap fill', () => {
  it('a message committed while X was removed, whose push was lost, never reaches X once re-added, nor a new member', async () => {
    const [owner, x, m, fresh] = await Promise.all([register(api), register(api), register(api), register(api)])
    const group = await createGroup(api, owner, [x, m])
    const [xs, ms, fs] = [await open(x), await open(m), await open(fresh)]
    await post(api, owner, group.id, 'before')
    expect((await api.del(`/v1/conversations/${group.id}/members/${x.user.id}`, as(owner))).status).toBe(204)
    const removed = await xs.next((f) => f.type === 'member.removed', WAIT)

    const secret = await lost.messages.post(owner.user.id, group.id, { body: 'said while X was away' })
    expect(secret.message.seq).toBe(removed.seq + 1)
    const readd = await api.post(`/v1/conversations/${group.id}/members`, { userIds: [x.user.id, fresh.user.id] }, as(owner))
    expect(readd.status).toBe(200)
    const addedSeq = secret.message.seq + 1

    // m, a member all along, gets the missing message from the log, then the addition, in order.
    await ms.next((f) => f.seq === addedSeq && f.conversationId === group.id, WAIT)
    expect(seqsOf(ms, group.id).slice(-2)).toEqual([secret.message.seq, addedSeq])
    // X and the new member get the addition (the start of their window) and not what came before it.
    for (const s of [xs, fs]) {
      const added = await s.next((f) => f.seq === addedSeq && f.conversationId === group.id, WAIT)
      expect(added).toMatchObject({ type: 'members.added', data: { userIds: [x.user.id, fresh.user.id] } })
      expect(s.frames.some((f) => f.conversationId === group.id && f.seq === secret.message.seq)).toBe(false)
    }
    // The replay agrees with the push.
    expect((await replay(api, x, group.id, removed.seq)).map((e) => e.seq)).toEqual([addedSeq])
  })

  it('a removed member gets their own member.removed even when its push was lost', async () => {
    const [owner, x, m] = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, owner, [x, m])
    const [xs, ms] = [await open(x), await open(m)]
    const first = await post(api, owner, group.id, 'hello')
    await xs.next((f) => f.seq === first.seq && f.conversationId === group.id, WAIT)

    await lost.members.remove(owner.user.id, group.id, x.user.id)
    const after = await post(api, owner, group.id, 'after the removal')

    await ms.next((f) => f.seq === after.seq && f.conversationId === group.id, WAIT)
    const removal = await xs.next((f) => f.type === 'member.removed' && f.conversationId === group.id, WAIT)
    expect(removal).toMatchObject({ seq: after.seq - 1, data: { userId: x.user.id, by: owner.user.id } })
    await xs.none((f) => f.seq === after.seq, 300)
    expect(seqsOf(xs, group.id).at(-1)).toBe(removal.seq)
  })
})

describe('edits and deletions judged by the message, not the event', () => {
  it('a member who joined after a message gets neither its edit nor its deletion, by push or replay', async () => {
    const [owner, old, late] = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, owner, [old])
    const early = await post(api, owner, group.id, 'early text')
    await api.post(`/v1/conversations/${group.id}/members`, { userIds: [late.user.id] }, as(owner))
    const [olds, lates] = [await open(old), await open(late)]

    const edited = await api.patch(`/v1/conversations/${group.id}/messages/${early.id}`, { body: 'edited secret' }, as(owner))
    expect(edited.status).toBe(200)
    await api.del(`/v1/conversations/${group.id}/messages/${early.id}`, as(owner))
    const marker = await post(api, owner, group.id, 'marker')

    await olds.next((f) => f.type === 'message.updated' && f.data.id === early.id, WAIT)
    await olds.next((f) => f.type === 'message.deleted' && f.data.id === early.id, WAIT)
    await lates.next((f) => f.seq === marker.seq, WAIT)
    expect(lates.frames.filter((f) => f.data?.id === early.id)).toEqual([])
    const lateView = await replay(api, late, group.id)
    expect(lateView.filter((e) => e.data?.id === early.id)).toEqual([])
    expect(JSON.stringify(lateView)).not.toContain('edited secret')
    expect(lateView.at(-1).seq).toBe(marker.seq)
  })

  it('a member removed and re-added gets no edit of a message posted while they were away', async () => {
    const [owner, x] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, owner, [x])
    await api.del(`/v1/conversations/${group.id}/members/${x.user.id}`, as(owner))
    const away = await post(api, owner, group.id, 'while x was away')
    await api.post(`/v1/conversations/${group.id}/members`, { userIds: [x.user.id] }, as(owner))
    const xs = await open(x)
    await api.patch(`/v1/conversations/${group.id}/messages/${away.id}`, { body: 'edited while x is back' }, as(owner))
    const marker = await post(api, owner, group.id, 'marker')
    await xs.next((f) => f.seq === marker.seq, WAIT)
    expect(xs.frames.filter((f) => f.data?.id === away.id)).toEqual([])
    expect(JSON.stringify(await replay(api, x, group.id))).not.toContain('edited while x is back')
  })
})

describe('membership changes fan out linearly', () => {
  it('creating a group of many online members pushes each of them two events, not one per member', async () => {
    const n = 60
    const members = await registerMany(n)
    const owner = await register(api)
    const socks = await Promise.all(members.map((m) => open(m)))
    const group = await createGroup(api, owner, members)
    expect(group.lastSeq).toBe(2)
    await Promise.all(socks.map((s) => s.next((f) => f.seq === 2 && f.conversationId === group.id, WAIT)))
    for (const s of socks) expect(seqsOf(s, group.id)).toEqual([1, 2])

    // Adding many at once: one members.added to everyone.
    const more = await registerMany(20)
    const res = await api.post(`/v1/conversations/${group.id}/members`, { userIds: more.map((m) => m.user.id) }, as(owner))
    expect(res.body.lastSeq).toBe(3)
    await Promise.all(socks.map((s) => s.next((f) => f.seq === 3 && f.conversationId === group.id, WAIT)))
    for (const s of socks) expect(seqsOf(s, group.id)).toEqual([1, 2, 3])
  })
})

describe('a burst of pushes keeps the server responsive', () => {
  it('delivers in time slices: other work gets a turn before a large burst is done', async () => {
    const members = await registerMany(40)
    const owner = await register(api)
    const group = await createGroup(api, owner, members)
    const socks = await Promise.all(members.map((m) => open(m)))
    const ids = members.map((m) => m.user.id)
    const { realtime } = server.app
    const total = 1500
    let delivered = 0
    realtime.broker.subscribe({ message: (m) => { if (m.kind === 'frame' && m.type === 'typing') delivered++ }, lost: () => {} })
    // Like a thousand presence changes at once: each a frame to every member's sockets.
    for (let i = 0; i < total; i++) realtime.publishFrame(ids, { type: 'typing', conversationId: group.id, data: { userId: owner.user.id } })
    const atFirstTurn = await new Promise<number>((resolve) => setImmediate(() => resolve(delivered)))
    expect(atFirstTurn).toBeLessThan(total)
    // ...and every socket still gets every frame.
    const typingFrames = (s: TestSocket) => s.frames.filter((f) => f.type === 'typing' && f.conversationId === group.id).length
    const deadline = Date.now() + WAIT
    while (socks.some((s) => typingFrames(s) < total) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(socks.map(typingFrames)).toEqual(socks.map(() => total))
    expect(delivered).toBe(total)
  })
})
