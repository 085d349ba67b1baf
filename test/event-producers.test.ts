// One producer per event object (issue 13, item 3): what the log stores
// (events.data, read back by GET /v1/conversations/:id/events) and what the
// WebSocket pushes must be the same object, field by field, for every event
// type the service emits. Each type is produced here through the real API and
// its stored and pushed forms compared.
//
// Who builds each event today:
// - message.created: two producers. The post_messages SQL function
//   (prisma/migrations/20261122040000_post_messages_function) builds the stored
//   data with jsonb_build_object; the pushed frame is toMessage (src/domain/
//   views.ts) of the row the same call returns (src/domain/post-batcher.ts).
//   This test is what holds them equal, the timestamp format included.
// - message.updated, message.deleted: one producer (writeChange in
//   src/domain/messages.ts: toMessage of the updated row, stored and pushed as
//   is); message.deleted also redacts the message's earlier events to that
//   same tombstone.
// - member.added, members.added, member.removed, member.updated,
//   conversation.updated: one producer (the drafts of src/domain/event-log.ts,
//   conversations.ts and members.ts, stored and pushed as the same value).
//   Here the test checks that the trip through jsonb changes nothing.
// - member.banned, member.unbanned, member.muted, member.unmuted,
//   conversation.slow_mode, conversation.frozen, conversation.unfrozen: one
//   producer (the drafts of src/domain/safety-moderation.ts), as above.
// - reaction.added, reaction.removed, message.pinned, message.unpinned: one
//   producer (the drafts of src/domain/reactions.ts and src/domain/pins.ts).
// - read, delivered: pushed frames only (src/domain/conversations.ts markRead,
//   src/domain/delivery.ts): positions are not in the event log, so there is
//   nothing stored to compare; the test checks that they add no event.
import { afterAll, expect, it } from 'vitest'
import { EventType } from '../src/schemas/messages.js'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users } from './helpers/users.js'
import { connectReady, type Frame, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

const as = (a: Account) => ({ token: a.accessToken })
const ALL_TYPES = EventType.anyOf.map((t) => t.const)

/** Compares one stored event with its pushed frame, key by key (data too), so a failure names the field. */
function expectSame (stored: Frame, pushed: Frame): void {
  const where = `${String(stored.type)} seq ${String(stored.seq)}`
  const { type, ...envelope } = pushed
  expect(type, `${where}: type`).toBe(stored.type)
  expect(Object.keys(envelope).sort(), `${where}: fields of the event`).toEqual(Object.keys(stored).filter((k) => k !== 'type').sort())
  for (const key of Object.keys(envelope)) {
    if (key === 'data') continue
    expect(envelope[key], `${where}: ${key}`).toStrictEqual(stored[key])
  }
  const [s, p] = [stored.data as Record<string, unknown>, envelope.data as Record<string, unknown>]
  expect(Object.keys(p).sort(), `${where}: fields of data`).toEqual(Object.keys(s).sort())
  for (const key of Object.keys(s)) expect(p[key], `${where}: data.${key}`).toStrictEqual(s[key])
}

it('stores and pushes the same object for every event type', async () => {
  const [owner, a, b, c] = await users(api, 4)
  // The owner is a member of both conversations from their first event to the last.
  const socket = await connectReady(server.url, owner.accessToken, sockets)
  const compared = new Set<string>()
  const lastSeq = new Map<string, number>()

  /** Runs a step, then compares every event it stored in the conversation with the frame pushed for it. */
  async function step (conversationId: string, action: () => Promise<unknown>, expectTypes: string[]): Promise<Frame[]> {
    await action()
    const after = lastSeq.get(conversationId) ?? 0
    const stored = await replay(api, owner, conversationId, after)
    expect(stored.map((e) => e.type)).toEqual(expectTypes)
    for (const event of stored) {
      const frame = await socket.next((f) => f.conversationId === event.conversationId && f.seq === event.seq, 20_000)
      expectSame(event, frame)
      compared.add(event.type)
    }
    lastSeq.set(conversationId, stored[stored.length - 1]?.seq ?? after)
    return stored
  }

  // Creation: the creator's member.added (seq 1) and the others' members.added (seq 2).
  const group = await createGroup(api, owner, [a, b], 'before')
  await step(group.id, async () => {}, ['member.added', 'members.added'])
  const direct = await createDirect(api, owner, c)
  await step(direct.id, async () => {}, ['member.added', 'member.added'])

  // message.created, with every nullable field set in one of them and text that
  // JSON and jsonb escape differently (quotes, backslash, U+2028, a non-BMP emoji).
  let first: any
  await step(group.id, async () => { first = await post(api, a, group.id, 'first "quoted" \\ back\u2028slash 👋🏽') }, ['message.created'])
  const [second] = await step(group.id, () => post(api, owner, group.id, '  second, a reply  ', { clientMessageId: 'k-1', replyToId: first.id }), ['message.created'])
  expect(second!.data.replyToId).toBe(first.id)
  expect(second!.data.clientMessageId).toBe('k-1')
  // Several posts in one group commit (one post_messages call may number them all).
  await step(group.id, () => Promise.all([1, 2, 3].map((i) => post(api, b, group.id, `batch ${i}`))), ['message.created', 'message.created', 'message.created'])
  await step(direct.id, () => post(api, c, direct.id, 'direct'), ['message.created'])

  await step(group.id, async () => {
    expect((await api.patch(`/v1/conversations/${group.id}/messages/${second!.data.id}`, { body: 'second, edited' }, as(owner))).status).toBe(200)
  }, ['message.updated'])
  await step(group.id, async () => {
    expect((await api.patch(`/v1/conversations/${group.id}`, { title: 'after' }, as(owner))).status).toBe(200)
  }, ['conversation.updated'])
  await step(group.id, async () => {
    expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [c.user.id] }, as(owner))).status).toBe(200)
  }, ['member.added'])
  await step(group.id, async () => {
    expect((await api.patch(`/v1/conversations/${group.id}/members/${a.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
  }, ['member.updated'])
  await step(group.id, async () => {
    expect((await api.del(`/v1/conversations/${group.id}/members/${b.user.id}`, as(a))).status).toBe(204)
  }, ['member.removed'])
  await step(group.id, async () => {
    expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [b.user.id, (await users(api, 1))[0].user.id] }, as(a))).status).toBe(200)
  }, ['members.added'])
  await step(group.id, async () => {
    expect((await api.del(`/v1/conversations/${group.id}/messages/${first.id}`, as(a))).status).toBe(200)
  }, ['message.deleted'])

  // The deletion redacted the message's earlier event to the tombstone it pushed.
  const log = await replay(api, owner, group.id)
  const deleted = log.find((e) => e.type === 'message.deleted')
  expect(log.find((e) => e.type === 'message.created' && e.data.id === first.id).data).toStrictEqual(deleted.data)

  // Group moderation (issue 14): each change is an event, a ban also a member.removed.
  const moderate = (method: 'PUT' | 'DELETE', path: string, body?: unknown) => async () => {
    expect((await api.request(method, `/v1/conversations/${group.id}/${path}`, { ...(body === undefined ? {} : { body }), ...as(owner) })).status).toBe(204)
  }
  await step(group.id, moderate('PUT', `bans/${b.user.id}`), ['member.banned', 'member.removed'])
  await step(group.id, moderate('DELETE', `bans/${b.user.id}`), ['member.unbanned'])
  await step(group.id, moderate('PUT', `mutes/${c.user.id}`), ['member.muted'])
  await step(group.id, moderate('DELETE', `mutes/${c.user.id}`), ['member.unmuted'])
  await step(group.id, moderate('PUT', 'slow-mode', { seconds: 10 }), ['conversation.slow_mode'])
  await step(group.id, moderate('PUT', 'freeze'), ['conversation.frozen'])
  await step(group.id, moderate('DELETE', 'freeze'), ['conversation.unfrozen'])

  // Reactions and pins (issue 17): one producer each (src/domain/reactions.ts, src/domain/pins.ts), as above.
  const reaction = `/v1/conversations/${group.id}/messages/${second!.data.id}/reactions/${encodeURIComponent('👍')}`
  const pin = `/v1/conversations/${group.id}/pins/${second!.data.id}`
  await step(group.id, async () => { expect((await api.put(reaction, undefined, as(owner))).status).toBe(200) }, ['reaction.added'])
  await step(group.id, async () => { expect((await api.del(reaction, as(owner))).status).toBe(200) }, ['reaction.removed'])
  await step(group.id, async () => { expect((await api.put(pin, undefined, as(owner))).status).toBe(200) }, ['message.pinned'])
  await step(group.id, async () => { expect((await api.del(pin, as(owner))).status).toBe(204) }, ['message.unpinned'])

  // A read receipt is pushed, never stored.
  const before = lastSeq.get(group.id)
  await step(group.id, async () => {
    expect((await api.post(`/v1/conversations/${group.id}/read`, { seq: before }, as(c))).status).toBe(204)
  }, [])
  expect(await socket.next((f) => f.type === 'read' && f.conversationId === group.id)).toEqual(
    { type: 'read', conversationId: group.id, data: { userId: c.user.id, seq: before } })

  // So is a delivery receipt (src/domain/delivery.ts).
  await step(group.id, async () => {
    expect((await api.post(`/v1/conversations/${group.id}/delivered`, { seq: before }, as(a))).status).toBe(204)
  }, [])
  expect(await socket.next((f) => f.type === 'delivered' && f.conversationId === group.id)).toEqual(
    { type: 'delivered', conversationId: group.id, data: { userId: a.user.id, seq: before } })

  expect([...compared].sort()).toEqual([...ALL_TYPES].sort())
})
