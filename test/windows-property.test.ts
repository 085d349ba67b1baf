// Property test: whoever receives anything about a conversation is decided by
// membership windows, whatever happens to the publishes. Random joins, leaves,
// re-adds, posts, edits, deletions, reads and typing run against one real
// server; each write is made over REST, or by the server's own domain code
// with its publish lost (the process died after commit) or late (it paused
// between commit and publish). A model keeps every user's windows. At the end
// every socket's event stream must hold nothing outside the user's windows
// (edits and deletions judged by the message's seq), everything of their last
// window, in order and once; the replay must equal it; read receipts and
// typing must have reached exactly the members of the moment.
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { createMemberService } from '../src/domain/members.js'
import { createMessageService } from '../src/domain/messages.js'
import type { RealtimePublisher } from '../src/domain/events.js'
import { createGroup, replay } from './helpers/chat.js'
import { client, register, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { connect, type Frame, type TestSocket } from './helpers/ws.js'

const WAIT = 20_000
const USERS = 4

let server: TestServer
let api: Client
let owner: Account
let others: Account[]
let outsider: Account
const sockets = new Map<string, TestSocket>()
type Mode = 'rest' | 'lost' | 'late'
let domains: Record<Exclude<Mode, 'rest'>, { members: ReturnType<typeof createMemberService>, messages: ReturnType<typeof createMessageService> }>

const as = (a: Account) => ({ token: a.accessToken })

/** Waits until the condition holds (polling: these frames are counted, not consumed). */
async function until (what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
const hasSeq = (s: TestSocket, conversationId: string, seq: number) => s.frames.some((f) => f.conversationId === conversationId && f.seq === seq)

// Every typing frame is relayed (TYPING_RELAY_MS 0): the property counts them.
test.override('serverOptions', { config: { typingPerSecond: 10_000, typingRelayMs: 0 } })
test.beforeAll(async ({ server: started }) => {
  server = started
  api = client(server.url)
  owner = await register(api)
  others = []
  for (let i = 0; i < USERS; i++) others.push(await register(api))
  outsider = await register(api)
  for (const a of [owner, ...others, outsider]) {
    const s = await connect(server.url, a.accessToken)
    await s.next((f) => f.type === 'ready')
    sockets.set(a.user.id, s)
  }
  const { prisma, pool } = server.app.db
  const lost: RealtimePublisher = { publishEvents () {}, publishRead () {}, publishThreadRead () {} }
  const late: RealtimePublisher = {
    publishEvents: (events, userIds) => { setTimeout(() => server.app.realtime.publishEvents(events, userIds), 250) },
    publishRead: (receipt, userIds) => { setTimeout(() => server.app.realtime.publishRead(receipt, userIds), 250) },
    publishThreadRead: (receipt) => { setTimeout(() => server.app.realtime.publishThreadRead(receipt), 250) }
  }
  const domain = (publisher: RealtimePublisher) => {
    const deps = { prisma, pool, publisher, groupMaxMembers: 1000, membersPreview: 10 }
    return { members: createMemberService(deps), messages: createMessageService(deps) }
  }
  domains = { lost: domain(lost), late: domain(late) }
})
afterAll(async () => {
  await Promise.all([...sockets.values()].map((s) => s.close()))
})

type Op =
  | { kind: 'add' | 'remove', who: number, mode: Mode }
  | { kind: 'post', who: number, mode: Mode }
  | { kind: 'edit' | 'delete', pick: number, mode: Mode }
  | { kind: 'read', who: number }
  | { kind: 'typing', who: number }

const mode = fc.constantFrom<Mode>('rest', 'rest', 'lost', 'late')
const who = fc.integer({ min: 0, max: USERS - 1 })
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constantFrom('add' as const, 'remove' as const), who, mode }),
  fc.record({ kind: fc.constant('post' as const), who, mode }),
  fc.record({ kind: fc.constantFrom('edit' as const, 'delete' as const), pick: fc.nat(), mode }),
  fc.record({ kind: fc.constant('read' as const), who }),
  fc.record({ kind: fc.constant('typing' as const), who })
)

interface Window { from: number, to: number | null }

async function lastSeq (conversationId: string): Promise<number> {
  return (await server.sql<{ last_seq: number }>('SELECT last_seq FROM conversations WHERE id = $1', [conversationId]))[0]!.last_seq
}

async function run (ops: Op[]): Promise<void> {
  const group = await createGroup(api, owner, [])
  const conv = group.id as string
  // The model: windows per user, messages, read positions, frames expected.
  const windows = new Map<string, Window[]>([[owner.user.id, [{ from: 1, to: null }]]])
  const isMember = (id: string) => windows.get(id)?.at(-1)?.to === null
  const members = () => [...windows.keys()].filter(isMember)
  const messages: Array<{ id: string, seq: number, senderId: string, deleted: boolean }> = []
  const readPos = new Map<string, number>([[owner.user.id, await lastSeq(conv)]])
  const expectedReads = new Map<string, number>()
  const expectedTyping = new Map<string, number>()
  const bump = (m: Map<string, number>, id: string) => m.set(id, (m.get(id) ?? 0) + 1)
  const countOf = (s: TestSocket, type: string) => s.frames.filter((f) => f.type === type && f.conversationId === conv).length

  for (const o of ops) {
    switch (o.kind) {
      case 'add': case 'remove': {
        const target = others[o.who]!.user.id
        if ((o.kind === 'add') === isMember(target)) break
        if (o.mode === 'rest') {
          const res = o.kind === 'add'
            ? await api.post(`/v1/conversations/${conv}/members`, { userIds: [target] }, as(owner))
            : await api.del(`/v1/conversations/${conv}/members/${target}`, as(owner))
          expect(res.status).toBeLessThan(300)
        } else if (o.kind === 'add') {
          await domains[o.mode].members.add(owner.user.id, conv, [target])
        } else {
          await domains[o.mode].members.remove(owner.user.id, conv, target)
        }
        const seq = await lastSeq(conv)
        if (o.kind === 'add') {
          windows.set(target, [...(windows.get(target) ?? []), { from: seq, to: null }])
          readPos.set(target, seq)
        } else {
          windows.get(target)!.at(-1)!.to = seq
        }
        break
      }
      case 'post': {
        const sender = [owner, ...others].find((a) => a.user.id === members()[o.who % members().length])!
        const body = `p${messages.length}`
        const message = o.mode === 'rest'
          ? (await api.post(`/v1/conversations/${conv}/messages`, { body }, as(sender))).body
          : (await domains[o.mode].messages.post(sender.user.id, conv, { body })).message
        messages.push({ id: message.id, seq: message.seq, senderId: sender.user.id, deleted: false })
        break
      }
      case 'edit': case 'delete': {
        // A sender edits what they can still see (posted in their current window).
        const live = messages.filter((m) => !m.deleted && (o.kind === 'delete' || (isMember(m.senderId) && m.seq >= windows.get(m.senderId)!.at(-1)!.from)))
        if (live.length === 0) break
        const m = live[o.pick % live.length]!
        // The sender edits; the owner deletes (any message of the group).
        const actor = o.kind === 'edit' ? m.senderId : owner.user.id
        const account = [owner, ...others].find((a) => a.user.id === actor)!
        if (o.mode === 'rest') {
          const path = `/v1/conversations/${conv}/messages/${m.id}`
          const res = o.kind === 'edit' ? await api.patch(path, { body: `e${Math.random()}` }, as(account)) : await api.del(path, as(account))
          expect(res.status).toBe(200)
        } else if (o.kind === 'edit') {
          await domains[o.mode].messages.edit(actor, conv, m.id, { body: `e${Math.random()}` })
        } else {
          await domains[o.mode].messages.remove(actor, conv, m.id)
        }
        if (o.kind === 'delete') m.deleted = true
        break
      }
      case 'read': {
        const reader = [owner, ...others].find((a) => a.user.id === members()[o.who % members().length])!
        const seq = await lastSeq(conv)
        if (seq <= readPos.get(reader.user.id)!) break
        expect((await api.post(`/v1/conversations/${conv}/read`, { seq }, as(reader))).status).toBe(204)
        readPos.set(reader.user.id, seq)
        for (const id of members()) bump(expectedReads, id)
        // Received where it must be before membership changes again.
        const readerSocket = sockets.get(reader.user.id)!
        await until('the read receipt', () => readerSocket.frames.some((f) => f.type === 'read' && f.conversationId === conv && f.data.seq === seq))
        break
      }
      case 'typing': {
        const typer = members().find((id) => id !== owner.user.id && others[o.who]!.user.id === id)
        if (typer === undefined) break
        const before = countOf(sockets.get(owner.user.id)!, 'typing')
        sockets.get(typer)!.send({ type: 'typing', conversationId: conv })
        for (const id of members()) if (id !== typer) bump(expectedTyping, id)
        await until('the typing frame', () => countOf(sockets.get(owner.user.id)!, 'typing') > before)
        break
      }
    }
  }

  // A last event over REST: any gap left by a lost publish is filled now.
  const final = (await api.post(`/v1/conversations/${conv}/messages`, { body: 'final' }, as(owner))).body
  for (const id of members()) await until(`the final event at ${id}`, () => hasSeq(sockets.get(id)!, conv, final.seq))
  // Removed users' own last events come in the same fill (or were on time).
  const log = await server.sql<{ seq: number, type: string, message_seq: number | null }>(
    "SELECT seq, type, (data->>'seq')::int AS message_seq FROM events WHERE conversation_id = $1 ORDER BY seq", [conv])
  const visible = (w: Window, e: { seq: number, type: string, message_seq: number | null }) =>
    e.seq >= w.from && (w.to === null || e.seq <= w.to) &&
    (!(e.type === 'message.updated' || e.type === 'message.deleted') || e.message_seq! >= w.from)

  for (const [id, ws] of windows) {
    const s = sockets.get(id)!
    const last = ws.at(-1)!
    const due = log.filter((e) => visible(last, e)).map((e) => e.seq)
    await until(`the last event of the window of ${id}`, () => hasSeq(s, conv, due.at(-1)!))
    const got = s.frames.filter((f: Frame) => f.conversationId === conv && typeof f.seq === 'number')
    const seqs = got.map((f) => f.seq as number)
    // In order, once each.
    expect(seqs, `user ${id}`).toEqual([...seqs].sort((a, b) => a - b).filter((v, i, a) => a.indexOf(v) === i))
    // Nothing outside a window of theirs, judged as replay judges it.
    for (const f of got) {
      const e = log.find((x) => x.seq === f.seq)!
      expect(f.type).toBe(e.type)
      expect(ws.some((w) => visible(w, e)), `user ${id} got seq ${f.seq} (${f.type}); windows ${JSON.stringify(ws)}`).toBe(true)
    }
    // Everything of their last window.
    expect(due.filter((seq) => !seqs.includes(seq)), `user ${id} missed; windows ${JSON.stringify(ws)}`).toEqual([])
    // The replay of a current member is exactly their last window.
    if (last.to === null) expect((await replay(api, others.find((a) => a.user.id === id) ?? owner, conv)).map((e) => e.seq)).toEqual(due)
    expect(countOf(s, 'read'), `read receipts to ${id}`).toBe(expectedReads.get(id) ?? 0)
    expect(countOf(s, 'typing'), `typing to ${id}`).toBe(expectedTyping.get(id) ?? 0)
  }
  // Someone who never shared the conversation got nothing of it.
  expect(sockets.get(outsider.user.id)!.frames.filter((f) => f.conversationId === conv)).toEqual([])
  for (const other of others) if (!windows.has(other.user.id)) expect(sockets.get(other.user.id)!.frames.filter((f) => f.conversationId === conv)).toEqual([])
}

describe('recipients follow membership windows', () => {
  it('for pushes, gap fills, replays, edits, deletions, read receipts and typing, with lost and late publishes', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 8, maxLength: 24 }), run), { numRuns: 12, endOnFailure: true })
  }, 300_000)
})
