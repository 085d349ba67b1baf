// Mentions (issues 16 and 17): @username parsed on the server against the
// current members, stored with the message and the same in the answer, the
// history, the replay and the push; @all only from a group's owner or admins;
// edits parse again. mentionCount: the unread mentions of the caller, within
// their window, without senders they blocked, reset by reading.
import { afterAll, describe, expect, it } from 'vitest'
import { MAX_MENTIONS, parseMentions } from '../src/domain/mentions.js'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

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

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const at = (who: Account) => `@${who.user.username}`
const AT = (who: Account) => `@${who.user.username.toUpperCase()}`

async function conversation (who: Account, id: string): Promise<any> {
  const res = await api.get(`/v1/conversations/${id}`, as(who))
  expect(res.status).toBe(200)
  return res.body
}
const mentionCount = async (who: Account, id: string): Promise<number> => (await conversation(who, id)).mentionCount
async function edit (who: Account, conversationId: string, messageId: string, body: string): Promise<any> {
  const res = await api.patch(`/v1/conversations/${conversationId}/messages/${messageId}`, { body }, as(who))
  expect(res.status).toBe(200)
  return res.body
}
async function read (who: Account, conversationId: string, seq: number): Promise<void> {
  expect((await api.post(`/v1/conversations/${conversationId}/read`, { seq }, as(who))).status).toBe(204)
}
async function addMember (by: Account, conversationId: string, who: Account): Promise<void> {
  expect((await api.post(`/v1/conversations/${conversationId}/members`, { userIds: [who.user.id] }, as(by))).status).toBe(200)
}
async function removeMember (by: Account, conversationId: string, who: Account): Promise<void> {
  expect((await api.del(`/v1/conversations/${conversationId}/members/${who.user.id}`, as(by))).status).toBe(204)
}

describe('parsing @names', () => {
  it('takes names as usernames are written, case-folded, distinct, bounded, not inside addresses, without trailing dots', () => {
    expect(parseMentions('hi @Alice, @alice and @BOB.smith. mail bob@carol.test or @al (too short) @all')).toEqual({ names: ['alice', 'bob.smith'], all: true })
    expect(parseMentions('@@dave!@erin?(@frank) @' + 'x'.repeat(33))).toEqual({ names: ['dave', 'erin', 'frank'], all: false })
    const many = Array.from({ length: MAX_MENTIONS + 10 }, (_, i) => `@user${i}`).join(' ')
    expect(parseMentions(many).names).toEqual(Array.from({ length: MAX_MENTIONS }, (_, i) => `user${i}`))
  })
})

describe('mentions', () => {
  it('are current members other than the sender, in order of first mention, the same in the answer, history, replay and push', async () => {
    const [owner, b, c, d, stranger] = await users(5)
    const group = await createGroup(api, owner, [b, c, d])
    await removeMember(owner, group.id, d)
    const socket = await connectReady(server.url, owner.accessToken, sockets)
    const body = `${AT(c)} hi ${at(owner)} ${at(c)} ${at(b)} ${at(d)} ${at(stranger)} @nobody_here mail ${c.user.username}@example.test`
    const message = await post(api, b, group.id, body)
    expect(message.mentions).toEqual([c.user.id, owner.user.id])
    expect(message.mentionsAll).toBe(false)

    const pushed = await socket.next((f) => f.type === 'message.created' && f.data.id === message.id, 20_000)
    expect(pushed.data).toEqual(message)
    const history = await api.get(`/v1/conversations/${group.id}/messages?limit=1`, as(c))
    expect(history.body.messages[0]).toEqual(message)
    const [event] = (await replay(api, owner, group.id, message.seq - 1))
    expect(event.data).toEqual(message)
    expect((await conversation(owner, group.id)).lastMessage).toEqual(message)
    // An idempotent retry answers the stored message, mentions included.
    const keyed = await post(api, b, group.id, `${at(c)} once`, { clientMessageId: 'k1' })
    const retried = await api.post(`/v1/conversations/${group.id}/messages`, { body: `${at(c)} once`, clientMessageId: 'k1' }, as(b))
    expect(retried.status).toBe(200)
    expect(retried.body.mentions).toEqual(keyed.mentions)
  })

  it('@all counts from the owner and admins of a group; from a plain member, or in a direct conversation, it is text', async () => {
    const [owner, admin, member] = await users(3)
    const group = await createGroup(api, owner, [admin, member])
    expect((await api.patch(`/v1/conversations/${group.id}/members/${admin.user.id}`, { role: 'admin' }, as(owner))).status).toBe(200)
    expect((await post(api, owner, group.id, 'hello @all')).mentionsAll).toBe(true)
    expect((await post(api, admin, group.id, '@ALL: meeting')).mentionsAll).toBe(true)
    const plain = await post(api, member, group.id, '@all look')
    expect(plain.mentionsAll).toBe(false)
    expect(plain.mentions).toEqual([])
    const direct = await createDirect(api, owner, member)
    expect((await post(api, owner, direct.id, '@all hi')).mentionsAll).toBe(false)
    // In one group commit, each post is judged by its own sender's role.
    const [x, y] = await Promise.all([post(api, member, group.id, '@all x'), post(api, admin, group.id, '@all y')])
    expect([x.mentionsAll, y.mentionsAll]).toEqual([false, true])
    // Posted before: everyone unread at these is mentioned; the owner's own messages do not count for the owner.
    expect(await mentionCount(member, group.id)).toBe(3)
    expect(await mentionCount(owner, group.id)).toBe(2)
  })

  it('are parsed again by an edit, against the members of now who can see the message; a deletion clears them', async () => {
    const [owner, b, c, d] = await users(4)
    const group = await createGroup(api, owner, [b, c])
    const socket = await connectReady(server.url, owner.accessToken, sockets)
    const message = await post(api, b, group.id, `${at(c)} first`)
    expect(await mentionCount(c, group.id)).toBe(1)
    await addMember(owner, group.id, d)

    // d joined after the message: it is outside d's window, so the edit does not mention d (the name stays text).
    const edited = await edit(b, group.id, message.id, `${at(owner)} and ${at(d)} instead`)
    expect(edited.mentions).toEqual([owner.user.id])
    const pushed = await socket.next((f) => f.type === 'message.updated' && f.data.id === message.id, 20_000)
    expect(pushed.data).toEqual(edited)
    expect((await replay(api, owner, group.id, edited.seq - 1)).find((e) => e.type === 'message.updated')?.data).toEqual(edited)
    expect(await mentionCount(c, group.id)).toBe(0)
    expect(await mentionCount(owner, group.id)).toBe(1)
    expect(await mentionCount(d, group.id)).toBe(0)

    // A mention added to a message already read does not count again; d, who sees this one, is mentioned by the edit.
    const later = await post(api, b, group.id, 'plain')
    await read(c, group.id, later.seq)
    expect((await edit(b, group.id, later.id, `plain ${at(c)} ${at(d)}`)).mentions).toEqual([c.user.id, d.user.id])
    expect(await mentionCount(c, group.id)).toBe(0)
    expect(await mentionCount(d, group.id)).toBe(1)

    // Only the sender edits; an admin deletes: the tombstone has no mentions, in the log neither.
    expectError(await api.patch(`/v1/conversations/${group.id}/messages/${message.id}`, { body: `${at(c)}` }, as(owner)), 403, 'FORBIDDEN')
    const deleted = await api.del(`/v1/conversations/${group.id}/messages/${message.id}`, as(owner))
    expect(deleted.status).toBe(200)
    expect(deleted.body).toMatchObject({ mentions: [], mentionsAll: false, body: '' })
    expect(await mentionCount(owner, group.id)).toBe(0)
    const log = await replay(api, owner, group.id)
    for (const e of log.filter((e) => e.data?.id === message.id)) expect(e.data.mentions).toEqual([])
  })
})

describe('mentionCount', () => {
  it('counts unread mentions of the caller, is lowered by reading, and is in the list too', async () => {
    const [owner, b, c] = await users(3)
    const group = await createGroup(api, owner, [b, c])
    const first = await post(api, b, group.id, `${at(c)} one`)
    await post(api, b, group.id, 'no mention')
    const third = await post(api, owner, group.id, `${at(c)} ${at(c)} ${AT(c)} two`)
    expect(third.mentions).toEqual([c.user.id])
    let view = await conversation(c, group.id)
    expect([view.unreadCount, view.mentionCount]).toEqual([3, 2])
    expect(await mentionCount(b, group.id)).toBe(0)
    const listed = (await api.get('/v1/conversations', as(c))).body.conversations.find((x: any) => x.id === group.id)
    expect(listed.mentionCount).toBe(2)

    await read(c, group.id, first.seq)
    view = await conversation(c, group.id)
    expect([view.unreadCount, view.mentionCount]).toEqual([2, 1])
    await read(c, group.id, third.seq)
    expect(await mentionCount(c, group.id)).toBe(0)
  })

  it('never counts messages outside the window: before joining, while away, or of an earlier membership', async () => {
    const [owner, b, c] = await users(3)
    const group = await createGroup(api, owner, [b])
    await post(api, owner, group.id, `@all ${at(c)} before c joined`)
    await addMember(owner, group.id, c)
    expect(await mentionCount(c, group.id)).toBe(0)

    await post(api, b, group.id, `${at(c)} while c is a member, unread`)
    expect(await mentionCount(c, group.id)).toBe(1)
    await removeMember(c, group.id, c) // c leaves with a mention unread
    expectError(await api.get(`/v1/conversations/${group.id}`, as(c)), 404, 'NOT_FOUND')
    const away = await post(api, b, group.id, `${at(c)} while c is away`)
    expect(away.mentions).toEqual([])
    await post(api, owner, group.id, '@all while c is away')
    await addMember(owner, group.id, c)
    expect(await mentionCount(c, group.id)).toBe(0)

    await post(api, b, group.id, `${at(c)} welcome back`)
    expect(await mentionCount(c, group.id)).toBe(1)
  })

  it('leaves out senders the caller has blocked, by name and by @all, for as long as the block lasts', async () => {
    const [owner, b, c] = await users(3)
    const group = await createGroup(api, owner, [b, c])
    expect((await api.put(`/v1/me/blocks/${b.user.id}`, undefined, as(c))).status).toBe(204)
    expect((await api.put(`/v1/me/blocks/${owner.user.id}`, undefined, as(c))).status).toBe(204)
    // The sender is not told of the block: the mention is stored as for anyone.
    const named = await post(api, b, group.id, `${at(c)} hello`)
    expect(named.mentions).toEqual([c.user.id])
    await post(api, owner, group.id, '@all hello')
    let view = await conversation(c, group.id)
    expect([view.unreadCount, view.mentionCount]).toEqual([2, 0])

    expect((await api.del(`/v1/me/blocks/${b.user.id}`, as(c))).status).toBe(204)
    view = await conversation(c, group.id)
    expect([view.unreadCount, view.mentionCount]).toEqual([2, 1])
  })
})
