// Pins (issue 17): a group's owner and admins (either member of a direct
// conversation) pin and unpin; GET .../pins lists the pinned messages the
// caller can see, newest pin first; a limit per conversation; message.pinned
// and message.unpinned events, live and on replay, to the members who see the
// message; deleting a message (any way) unpins it with the event.
import { afterAll, describe, expect, it } from 'vitest'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { recordingClient, type RecordingClient } from './helpers/sdk.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []
const sdks: RecordingClient[] = []

test.override('serverOptions', { config: { pinsPerConversation: 3 } })
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
const pin = (who: Account, c: string, m: string) => api.put(`/v1/conversations/${c}/pins/${m}`, undefined, as(who))
const unpin = (who: Account, c: string, m: string) => api.del(`/v1/conversations/${c}/pins/${m}`, as(who))
async function pins (who: Account, c: string): Promise<any[]> {
  const res = await api.get(`/v1/conversations/${c}/pins`, as(who))
  expect(res.status).toBe(200)
  return res.body.pins
}
const lastSeq = async (who: Account, c: string) => (await api.get(`/v1/conversations/${c}`, as(who))).body.lastSeq as number

describe('pins', () => {
  it('owner and admins pin and unpin in a group, idempotently; the list is newest pin first, with who and when; events carry the message seq', async () => {
    const [owner, admin, member] = await users(3)
    const group = await createGroup(api, owner, [admin, member])
    expect((await api.patch(`/v1/conversations/${group.id}/members/${admin.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
    const first = await post(api, member, group.id, 'first')
    const second = await post(api, member, group.id, 'second')
    const watcher = await connectReady(server.url, member.accessToken, sockets)

    const pinned = await pin(owner, group.id, first.id)
    expect(pinned.status).toBe(200)
    expect(pinned.body).toEqual({ message: first, pinnedBy: owner.user.id, pinnedAt: expect.any(String) })
    const event = await watcher.next((f) => f.type === 'message.pinned', 20_000)
    expect(event.data).toEqual({ messageId: first.id, messageSeq: first.seq, by: owner.user.id })
    expect(event.createdAt).toBe(pinned.body.pinnedAt)

    // Again: the pin as it is, nothing written.
    const seq = await lastSeq(owner, group.id)
    expect((await pin(admin, group.id, first.id)).body).toEqual(pinned.body)
    expect(await lastSeq(owner, group.id)).toBe(seq)

    expect((await api.put(`/v1/conversations/${group.id}/messages/${second.id}/reactions/${encodeURIComponent('👍')}`, undefined, as(member))).status).toBe(200)
    const byAdmin = await pin(admin, group.id, second.id)
    expect(byAdmin.status).toBe(200)
    const listed = await pins(member, group.id)
    expect(listed).toEqual([
      { message: { ...second, reactions: [{ emoji: '👍', count: 1, me: true }] }, pinnedBy: admin.user.id, pinnedAt: byAdmin.body.pinnedAt },
      pinned.body
    ])

    // A plain member may not.
    expectError(await pin(member, group.id, second.id), 403, 'FORBIDDEN')
    expectError(await unpin(member, group.id, first.id), 403, 'FORBIDDEN')

    expect((await unpin(admin, group.id, first.id)).status).toBe(204)
    const gone = await watcher.next((f) => f.type === 'message.unpinned', 20_000)
    expect(gone.data).toEqual({ messageId: first.id, messageSeq: first.seq, by: admin.user.id })
    const seq2 = await lastSeq(owner, group.id)
    expect((await unpin(admin, group.id, first.id)).status).toBe(204)
    expect(await lastSeq(owner, group.id)).toBe(seq2)
    expect((await pins(owner, group.id)).map((p) => p.message.id)).toEqual([second.id])

    const log = (await replay(api, member, group.id)).filter((e) => e.type.startsWith('message.') && e.type.endsWith('pinned'))
    expect(log.map((e) => [e.type, e.data.messageId, e.data.by])).toEqual([
      ['message.pinned', first.id, owner.user.id], ['message.pinned', second.id, admin.user.id], ['message.unpinned', first.id, admin.user.id]
    ])
  })

  it('in a direct conversation either member pins; at most PINS_PER_CONVERSATION: 409 TOO_MANY_PINS; a deleted message: 409 CONFLICT', async () => {
    const [a, b] = await users(2)
    const direct = await createDirect(api, a, b)
    const messages = []
    for (let i = 0; i < 4; i++) messages.push(await post(api, i % 2 === 0 ? a : b, direct.id, `m${i}`))
    expect((await pin(a, direct.id, messages[0].id)).status).toBe(200)
    expect((await pin(b, direct.id, messages[1].id)).status).toBe(200)
    expect((await pin(b, direct.id, messages[2].id)).status).toBe(200)
    expectError(await pin(a, direct.id, messages[3].id), 409, 'TOO_MANY_PINS')
    expect((await unpin(a, direct.id, messages[2].id)).status).toBe(204)
    expect((await api.del(`/v1/conversations/${direct.id}/messages/${messages[3].id}`, as(b))).status).toBe(200)
    expectError(await pin(a, direct.id, messages[3].id), 409, 'CONFLICT')
    // Blocked by the other member: as posting, 403 BLOCKED.
    expect((await api.put(`/v1/me/blocks/${b.user.id}`, undefined, as(a))).status).toBe(204)
    expectError(await pin(b, direct.id, messages[2].id), 403, 'BLOCKED')
  })

  it('deleting a pinned message unpins it with message.unpinned after message.deleted (by its sender, a manager or an operator)', async () => {
    const [owner, member] = await users(2)
    const group = await createGroup(api, owner, [member])
    const bySender = await post(api, member, group.id, 'deleted by its sender')
    const byOwner = await post(api, member, group.id, 'deleted by the owner')
    const byOperator = await post(api, member, group.id, 'deleted by an operator')
    for (const m of [bySender, byOwner, byOperator]) expect((await pin(owner, group.id, m.id)).status).toBe(200)
    const watcher = await connectReady(server.url, owner.accessToken, sockets)

    expect((await api.del(`/v1/conversations/${group.id}/messages/${bySender.id}`, as(member))).status).toBe(200)
    expect((await api.del(`/v1/conversations/${group.id}/messages/${byOwner.id}`, as(owner))).status).toBe(200)
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [owner.user.id])
    expect((await api.del(`/v1/admin/messages/${byOperator.id}`, as(owner))).status).toBe(200)

    for (const [m, by] of [[bySender, member], [byOwner, owner], [byOperator, owner]] as const) {
      const deleted = await watcher.next((f) => f.type === 'message.deleted' && f.data.id === m.id, 20_000)
      const unpinned = await watcher.next((f) => f.type === 'message.unpinned' && f.data.messageId === m.id, 20_000)
      expect(unpinned.seq).toBe(deleted.seq + 1)
      expect(unpinned.data).toEqual({ messageId: m.id, messageSeq: m.seq, by: by.user.id })
    }
    expect(await pins(owner, group.id)).toEqual([])
  })

  it('an erased account unpins its pinned messages; a member who joined later sees neither the pin nor its events', async () => {
    const [owner, leaving, late] = await users(3)
    const group = await createGroup(api, owner, [leaving])
    const message = await post(api, leaving, group.id, 'mine')
    expect((await pin(owner, group.id, message.id)).status).toBe(200)
    expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [late.user.id] }, as(owner))).status).toBe(200)
    const after = await post(api, owner, group.id, 'after late joined')
    expect((await pin(owner, group.id, after.id)).status).toBe(200)
    expect((await pins(late, group.id)).map((p) => p.message.id)).toEqual([after.id])
    expectError(await pin(late, group.id, message.id), 404, 'NOT_FOUND')

    const lateSocket = await connectReady(server.url, late.accessToken, sockets)
    expect((await api.request('DELETE', '/v1/me', { ...as(leaving), body: { password: leaving.password } })).status).toBe(204)
    await lateSocket.next((f) => f.type === 'member.removed' && f.data.userId === leaving.user.id, 20_000)
    expect(lateSocket.frames.filter((f) => f.type === 'message.unpinned')).toEqual([])
    const ownerLog = await replay(api, owner, group.id)
    const unpinned = ownerLog.find((e) => e.type === 'message.unpinned')
    expect(unpinned.data).toEqual({ messageId: message.id, messageSeq: message.seq, by: leaving.user.id })
    expect((await replay(api, late, group.id)).filter((e) => e.type === 'message.unpinned' || e.data?.messageId === message.id)).toEqual([])
    expect((await pins(owner, group.id)).map((p) => p.message.id)).toEqual([after.id])
  })

  it('SDK: conversations.pin / unpin / pins, and typed pin events on the realtime client', async () => {
    const [owner, member] = await users(2)
    const group = await createGroup(api, owner, [member])
    const message = await post(api, member, group.id, 'pin me')
    const rec = recordingClient(server.url)
    sdks.push(rec)
    await rec.sdk.auth.login({ username: owner.user.username, password: owner.password })
    rec.sdk.realtime.connect()
    await rec.until(() => rec.synced >= 1, 10_000, 'first sync')
    const made = await rec.sdk.conversations.pin(group.id, message.id)
    expect(made.message.id).toBe(message.id)
    expect((await rec.sdk.conversations.pins(group.id)).pins).toEqual([made])
    await rec.until(() => rec.events.some((e) => e.type === 'message.pinned'), 20_000, 'message.pinned')
    const event = rec.events.find((e) => e.type === 'message.pinned')
    if (event?.type !== 'message.pinned') throw new Error('no message.pinned')
    expect(event.data.by).toBe(owner.user.id)
    await rec.sdk.conversations.unpin(group.id, message.id)
    expect((await rec.sdk.conversations.pins(group.id)).pins).toEqual([])
  })
})
