// Threads (issue 17): replies carry threadRootId and are ordinary events of
// the conversation's log; the root's summary stays exact under concurrent
// replies and deletions; replies are paged by thread; they count neither in
// the conversation's unreadCount nor its preview, but in the follower's
// thread unread, lowered by thread/read (told to the reader's other devices);
// /v1/me/threads lists the followed threads; notifications of a reply go to
// the followers and the mentioned only.
import { afterAll, describe, expect, it } from 'vitest'
import { ThreadTracker, type ThreadReadFrame } from '../src/client/index.js'
import { recordingClient } from './helpers/sdk.js'
import { shouldNotify } from '../src/domain/notification-preferences.js'
import { messageRecipients } from '../src/notifications/recipients.js'
import { createThreadsRepository } from '../src/repositories/threads.js'
import { createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []
const WAIT = 20_000

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

const as = (who: Account) => ({ token: who.accessToken })
const at = (who: Account) => `@${who.user.username}`
const reply = (who: Account, conversationId: string, rootId: string, body: string, extra: Record<string, unknown> = {}) =>
  post(api, who, conversationId, body, { threadRootId: rootId, ...extra })
const threadPath = (c: string, root: string) => `/v1/conversations/${c}/messages/${root}/thread`

async function conversation (who: Account, id: string): Promise<any> {
  const res = await api.get(`/v1/conversations/${id}`, as(who))
  expect(res.status).toBe(200)
  return res.body
}
async function rootOf (who: Account, conversationId: string, rootId: string): Promise<any> {
  const res = await api.get(`/v1/conversations/${conversationId}/messages?limit=100`, as(who))
  return res.body.messages.find((m: any) => m.id === rootId)
}
async function myThreads (who: Account, query = ''): Promise<any> {
  const res = await api.get(`/v1/me/threads${query}`, as(who))
  expect(res.status).toBe(200)
  return res.body
}
async function readThread (who: Account, conversationId: string, rootId: string, seq: number): Promise<void> {
  const res = await api.post(`${threadPath(conversationId, rootId)}/read`, { seq }, as(who))
  expect(res.status).toBe(204)
}

describe('thread replies', () => {
  it('are message.created events with threadRootId; the root carries the summary; they stay out of history, preview and unreadCount', async () => {
    const [a, b, c] = await registerMany(api, 3)
    const group = await createGroup(api, a, [b, c])
    const socket = await connectReady(server.url, c.accessToken, sockets)
    const root = await post(api, a, group.id, 'lunch?')
    expect(root).toMatchObject({ threadRootId: null, thread: null })
    const r1 = await reply(b, group.id, root.id, 'pizza')
    expect(r1).toMatchObject({ threadRootId: root.id, thread: null })
    const pushed = await socket.next((f) => f.type === 'message.created' && f.data.id === r1.id, WAIT)
    expect(pushed.data).toEqual(r1)
    const r2 = await reply(c, group.id, root.id, 'sushi')
    const r3 = await reply(b, group.id, root.id, 'or both')

    const summary = (await rootOf(c, group.id, root.id)).thread
    expect(summary).toEqual({ replyCount: 3, lastReplyAt: r3.createdAt, participants: [b.user.id, c.user.id] })
    // The conversation's own timeline: no replies in history, preview or unreadCount.
    const history = await api.get(`/v1/conversations/${group.id}/messages`, as(c))
    expect(history.body.messages.map((m: any) => m.id)).toEqual([root.id])
    const conv = await conversation(c, group.id)
    expect(conv.lastMessage.id).toBe(root.id)
    expect(conv.unreadCount).toBe(1)
    // The log has them all, in seq order.
    const events = await replay(api, c, group.id, root.seq - 1)
    expect(events.map((e) => e.data.id)).toEqual([root.id, r1.id, r2.id, r3.id])
    expect(events[1].data).toEqual(r1)

    // Thread pages: keyset on seq, both ways, as history.
    const newest = await api.get(`${threadPath(group.id, root.id)}?limit=2`, as(c))
    expect(newest.status).toBe(200)
    expect(newest.body.messages.map((m: any) => m.id)).toEqual([r3.id, r2.id])
    expect(newest.body.hasMore).toBe(true)
    const older = await api.get(`${threadPath(group.id, root.id)}?before=${r2.seq}`, as(c))
    expect(older.body).toEqual({ messages: [r1], hasMore: false })
    const after = await api.get(`${threadPath(group.id, root.id)}?after=${r1.seq}`, as(c))
    expect(after.body.messages.map((m: any) => m.id)).toEqual([r2.id, r3.id])
    expectError(await api.get(`${threadPath(group.id, root.id)}?after=1&before=5`, as(c)), 400, 'VALIDATION_FAILED')
  })

  it('carry their reactions in thread pages, per viewer, as history carries a message\'s', async () => {
    const [a, b] = await registerMany(api, 2)
    const group = await createGroup(api, a, [b])
    const root = await post(api, a, group.id, 'vote')
    const r1 = await reply(b, group.id, root.id, 'yes')
    const r2 = await reply(a, group.id, root.id, 'no')
    const react = (who: Account, messageId: string, emoji: string) =>
      api.put(`/v1/conversations/${group.id}/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`, undefined, as(who))
    expect((await react(a, r1.id, '👍')).status).toBe(200)
    expect((await react(b, r1.id, '👍')).status).toBe(200)
    expect((await react(b, r1.id, '🎉')).status).toBe(200)

    // Before, a thread page showed no reactions at all: a client opening the thread never saw them.
    for (const query of ['', `?after=${root.seq}`, `?before=${r2.seq + 1}`]) {
      const page = await api.get(`${threadPath(group.id, root.id)}${query}`, as(a))
      expect(page.status).toBe(200)
      const byId = new Map(page.body.messages.map((m: any) => [m.id, m]))
      expect((byId.get(r1.id) as any).reactions).toEqual([{ emoji: '👍', count: 2, me: true }, { emoji: '🎉', count: 1, me: false }])
      // A reply nobody reacted to has none, as in history.
      expect((byId.get(r2.id) as any).reactions).toBeUndefined()
    }
    const asB = await api.get(threadPath(group.id, root.id), as(b))
    expect(asB.body.messages.find((m: any) => m.id === r1.id).reactions).toEqual([{ emoji: '👍', count: 2, me: true }, { emoji: '🎉', count: 1, me: true }])
  })

  it('refuse a root that is missing, elsewhere, outside the window, deleted or itself a reply, each alone in its group commit', async () => {
    const [a, b, late, outsider] = await registerMany(api, 4)
    const group = await createGroup(api, a, [b])
    const other = await createGroup(api, outsider, [a])
    const root = await post(api, a, group.id, 'root')
    const elsewhere = await post(api, outsider, other.id, 'elsewhere')
    const r1 = await reply(b, group.id, root.id, 'r1')
    const gone = await post(api, a, group.id, 'to delete')
    expect((await api.del(`/v1/conversations/${group.id}/messages/${gone.id}`, as(a))).status).toBe(200)
    // A thread whose root and replies are all from before late joined.
    const quiet = await post(api, a, group.id, 'quiet')
    await reply(b, group.id, quiet.id, 'before late')
    expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [late.user.id] }, as(a))).status).toBe(200)

    const path = `/v1/conversations/${group.id}/messages`
    const cases: Array<[Account, string, number, string]> = [
      [a, '00000000-0000-4000-8000-000000000000', 404, 'NOT_FOUND'],
      [a, elsewhere.id, 404, 'NOT_FOUND'],
      [late, root.id, 404, 'NOT_FOUND'],
      [a, gone.id, 400, 'INVALID_THREAD_ROOT'],
      [a, r1.id, 400, 'INVALID_THREAD_ROOT']
    ]
    for (const [who, rootId, status, code] of cases) {
      const [bad, good] = await Promise.all([
        api.post(path, { body: 'x', threadRootId: rootId }, as(who)),
        api.post(path, { body: 'fine', threadRootId: root.id }, as(b))
      ])
      expectError(bad, status, code)
      expect(good.status).toBe(201)
    }
    expect((await rootOf(a, group.id, root.id)).thread.replyCount).toBe(1 + cases.length)
    // Reading and paging need a top-level root the caller can see, or a thread with replies in their window (see below).
    expectError(await api.get(threadPath(group.id, quiet.id), as(late)), 404, 'NOT_FOUND')
    expectError(await api.get(threadPath(group.id, r1.id), as(a)), 404, 'NOT_FOUND')
    expectError(await api.get(threadPath(group.id, root.id), as(outsider)), 404, 'NOT_FOUND')
    expectError(await api.post(`${threadPath(group.id, quiet.id)}/read`, { seq: 1 }, as(late)), 404, 'NOT_FOUND')
  })

  it('a member who joined after the root pages and reads the replies from their joining on, the root withheld as in history', async () => {
    const [a, b, late, outsider] = await registerMany(api, 4)
    const group = await createGroup(api, a, [b])
    const root = await post(api, a, group.id, 'root before late')
    const early = await reply(b, group.id, root.id, 'before late')
    expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [late.user.id] }, as(a))).status).toBe(200)
    const socket = await connectReady(server.url, late.accessToken, sockets)
    const r2 = await reply(b, group.id, root.id, 'after late joined')
    const r3 = await reply(a, group.id, root.id, 'and another')

    // The replies of late's window are pushed to them...
    const pushed = await socket.next((f) => f.type === 'message.created' && f.data.id === r3.id, WAIT)
    expect(pushed.data.threadRootId).toBe(root.id)
    // ...so the thread's page serves them (and only them), newest first and after a seq alike; the root stays out of history.
    const page = await api.get(threadPath(group.id, root.id), as(late))
    expect(page.status).toBe(200)
    expect(page.body.messages.map((m: any) => m.id)).toEqual([r3.id, r2.id])
    expect(page.body.hasMore).toBe(false)
    const after = await api.get(`${threadPath(group.id, root.id)}?after=0`, as(late))
    expect(after.body.messages.map((m: any) => m.id)).toEqual([r2.id, r3.id])
    expect(page.body.messages.some((m: any) => m.id === early.id)).toBe(false)
    expect(await rootOf(late, group.id, root.id)).toBeUndefined()
    // Reading it moves their position; the thread is not theirs to follow, so no thread unread anywhere.
    expect((await api.post(`${threadPath(group.id, root.id)}/read`, { seq: r3.seq }, as(late))).status).toBe(204)
    expect((await conversation(late, group.id)).threadUnreadCount).toBe(0)
    // The root itself is still not theirs: no reply to it, and strangers see nothing.
    expectError(await api.post(`/v1/conversations/${group.id}/messages`, { body: 'x', threadRootId: root.id }, as(late)), 404, 'NOT_FOUND')
    expectError(await api.get(threadPath(group.id, root.id), as(outsider)), 404, 'NOT_FOUND')
  })

  it('keep the summary exact under concurrent replies by many users, and on deletion of replies', async () => {
    const people = await registerMany(api, 7)
    const a = people[0]!
    const others = people.slice(1)
    const group = await createGroup(api, a, others)
    const root = await post(api, a, group.id, 'go')
    const replies = await Promise.all(others.flatMap((who, i) => [0, 1, 2].map((k) => reply(who, group.id, root.id, `r${i}.${k}`))))
    const bySeq = [...replies].sort((x, y) => x.seq - y.seq)
    const firstFive = [...new Set(bySeq.map((r) => r.senderId))].slice(0, 5)
    expect((await rootOf(a, group.id, root.id)).thread).toEqual({ replyCount: 18, lastReplyAt: bySeq.at(-1).createdAt, participants: firstFive })

    // Deleting replies (by their senders, and by the owner) lowers the count; concurrently too.
    const doomed = bySeq.filter((r) => r.senderId === firstFive[0])
    await Promise.all(doomed.map((r) => api.del(`/v1/conversations/${group.id}/messages/${r.id}`, as(a))))
    const left = bySeq.filter((r) => r.senderId !== firstFive[0])
    expect((await rootOf(a, group.id, root.id)).thread).toEqual({
      replyCount: left.length, lastReplyAt: left.at(-1).createdAt, participants: [...new Set(left.map((r) => r.senderId))].slice(0, 5)
    })
    // An app moderator deletes one (DELETE /v1/admin/messages/:id): the same.
    const [moderator] = await registerMany(api, 1)
    await server.sql("UPDATE users SET app_roles = '{moderator}' WHERE id = $1", [moderator.user.id])
    const byModerator = left.pop()!
    expect((await api.del(`/v1/admin/messages/${byModerator.id}`, as(moderator))).status).toBe(200)
    expect((await rootOf(a, group.id, root.id)).thread).toMatchObject({ replyCount: left.length, lastReplyAt: left.at(-1).createdAt })
    // All gone: no summary.
    await Promise.all(left.map((r) => api.del(`/v1/conversations/${group.id}/messages/${r.id}`, as(a))))
    expect((await rootOf(a, group.id, root.id)).thread).toBeNull()
  })
})

describe('following and thread unread', () => {
  it('the author, repliers and the mentioned follow; unread counts replies by others, never the conversation unreadCount; read is monotonic and told to the reader\'s devices', async () => {
    const [a, b, c, d] = await registerMany(api, 4)
    const group = await createGroup(api, a, [b, c, d])
    const root = await post(api, a, group.id, 'plan')
    await api.post(`/v1/conversations/${group.id}/read`, { seq: root.seq }, as(b))
    for (const who of [a, b, c, d]) expect((await conversation(who, group.id)).threadUnreadCount).toBe(0)
    const phone = await connectReady(server.url, a.accessToken, sockets)
    const laptop = await connectReady(server.url, a.accessToken, sockets)

    const r1 = await reply(b, group.id, root.id, 'first')
    const r2 = await reply(b, group.id, root.id, `asking ${at(c)}`)
    const r3 = await reply(d, group.id, root.id, 'me too')
    // a started it: all three unread; b replied: only d's after; c mentioned in r2: r2 and r3; d replied last: none.
    const expected: Array<[Account, number]> = [[a, 3], [b, 1], [c, 2], [d, 0]]
    for (const [who, n] of expected) {
      const conv = await conversation(who, group.id)
      expect(conv.threadUnreadCount).toBe(n)
      // Replies never count as the conversation's own unread.
      expect(conv.unreadCount).toBe(who === a ? 0 : who === b ? 0 : 1)
      const listed = await myThreads(who)
      expect(listed.threads).toHaveLength(1)
      expect(listed.threads[0]).toMatchObject({ conversationId: group.id, unreadCount: n, root: { id: root.id, thread: { replyCount: 3 } } })
    }

    // a reads up to r2 on the phone: the laptop hears it, with the counts after it.
    await readThread(a, group.id, root.id, r2.seq)
    const frame = await laptop.next((f) => f.type === 'thread.read', WAIT)
    expect(frame).toEqual({ type: 'thread.read', conversationId: group.id, data: { rootId: root.id, seq: r2.seq, unreadCount: 1, threadUnreadCount: 1 } })
    await phone.next((f) => f.type === 'thread.read', WAIT)
    expect((await conversation(a, group.id)).threadUnreadCount).toBe(1)
    // Never back: an older seq changes nothing and tells nobody.
    await readThread(a, group.id, root.id, r1.seq)
    expect((await myThreads(a)).threads[0]).toMatchObject({ unreadCount: 1, lastReadSeq: r2.seq })
    await readThread(a, group.id, root.id, 1_000_000)
    expect(await laptop.next((f) => f.type === 'thread.read', WAIT)).toMatchObject({ data: { seq: r3.seq, unreadCount: 0, threadUnreadCount: 0 } })
    expect((await conversation(a, group.id)).threadUnreadCount).toBe(0)
    expect((await myThreads(a)).threads[0].lastReadSeq).toBe(r3.seq)
    // Nobody else got a thread.read.
    const bSocket = await connectReady(server.url, b.accessToken, sockets)
    await readThread(b, group.id, root.id, r3.seq)
    await bSocket.next((f) => f.type === 'thread.read', WAIT)
    expect(laptop.frames.filter((f) => f.type === 'thread.read')).toHaveLength(2)
    // A deleted reply no longer counts.
    const r4 = await reply(d, group.id, root.id, 'oops')
    expect((await conversation(c, group.id)).threadUnreadCount).toBe(3)
    await api.del(`/v1/conversations/${group.id}/messages/${r4.id}`, as(d))
    expect((await conversation(c, group.id)).threadUnreadCount).toBe(2)
  })

  it('a mention by someone the member blocked does not make them follow: no thread unread, no badge', async () => {
    const [owner, blocker, blocked] = await registerMany(api, 3)
    const group = await createGroup(api, owner, [blocker, blocked])
    expect((await api.put(`/v1/me/blocks/${blocked.user.id}`, undefined, as(blocker))).status).toBe(204)
    const root = await post(api, owner, group.id, 'a root the blocker never touched')
    const r = await reply(blocked, group.id, root.id, `hey ${at(blocker)} look`)
    expect(r.mentions).toEqual([blocker.user.id])
    await reply(owner, group.id, root.id, 'another reply')
    const unread = (await api.get('/v1/me/unread', as(blocker))).body
    // The badge has the root (a message of the conversation) and nothing of the thread.
    expect({ total: unread.total, threads: unread.threads, followed: (await myThreads(blocker)).threads.length }).toEqual({ total: 1, threads: 0, followed: 0 })
    // The same mention by someone not blocked makes its target follow, as before.
    await reply(owner, group.id, root.id, `and ${at(blocker)} too`)
    expect((await myThreads(blocker)).threads).toHaveLength(1)
  })

  it('/v1/me/threads pages newest activity first by keyset, and leaves out conversations the caller left', async () => {
    const [a, b] = await registerMany(api, 2)
    const group = await createGroup(api, a, [b])
    const roots: any[] = []
    for (let i = 0; i < 5; i++) roots.push(await post(api, a, group.id, `root ${i}`))
    // Activity order: 3, 0, 4, 1, 2 (last replied first).
    for (const i of [2, 1, 4, 0, 3]) await reply(b, group.id, roots[i].id, `re ${i}`)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: any = await myThreads(a, `?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`)
      expect(page.threads.length).toBeLessThanOrEqual(2)
      seen.push(...page.threads.map((t: any) => t.root.id))
      cursor = page.nextCursor
    } while (cursor !== null)
    expect(seen).toEqual([3, 0, 4, 1, 2].map((i) => roots[i].id))
    expectError(await api.get('/v1/me/threads?cursor=bm9wZQ', as(a)), 400, 'VALIDATION_FAILED')
    // b leaves: their threads go from the list and counts.
    expect((await api.del(`/v1/conversations/${group.id}/members/${b.user.id}`, as(b))).status).toBe(204)
    expect((await myThreads(b)).threads).toEqual([])
  })

  it('a reply notifies its followers and the mentioned, not the whole group', async () => {
    const [a, b, c, d, e] = await registerMany(api, 5)
    const group = await createGroup(api, a, [b, c, d, e])
    const root = await post(api, a, group.id, 'root')
    const first = await reply(b, group.id, root.id, 'first')
    const second = await reply(c, group.id, root.id, `cc ${at(d)}`)
    const plain = await post(api, e, group.id, 'top level')
    const threads = createThreadsRepository(server.app.db)
    const sources = {
      online: async () => new Set<string>(),
      shouldNotify: (q: Parameters<typeof shouldNotify>[1]) => shouldNotify(server.app.db, q),
      threadFollowers: (roots: string[]) => threads.followers(roots)
    }
    const members = [a, b, c, d, e].map((x) => x.user.id)
    const sorted = (ids: string[]) => [...ids].sort()
    const [toFirst, toSecond, toPlain] = await messageRecipients(sources, [first, second, plain], members)
    // Followers now: a (root), b and c (replied), d (mentioned). e never took part.
    expect(sorted(toFirst!)).toEqual(sorted([a.user.id, c.user.id, d.user.id]))
    expect(sorted(toSecond!)).toEqual(sorted([a.user.id, b.user.id, d.user.id]))
    expect(sorted(toPlain!)).toEqual(sorted([a.user.id, b.user.id, c.user.id, d.user.id]))
  })

  it('a follow from an earlier window counts nowhere: removed, then added back, the member is not told of the old thread\'s new replies', async () => {
    const [a, b, c, author] = await registerMany(api, 4)
    const group = await createGroup(api, a, [b, c, author])
    const root = await post(api, a, group.id, 'root')
    const theirs = await post(api, author, group.id, 'a root of their own')
    await reply(b, group.id, root.id, 'b follows')
    await reply(c, group.id, root.id, 'c replies')
    expect((await myThreads(b)).threads.map((t: any) => t.root.id)).toEqual([root.id])
    for (const who of [b, author]) expect((await api.del(`/v1/conversations/${group.id}/members/${who.user.id}`, as(a))).status).toBe(204)
    const away = await reply(c, group.id, root.id, 'while b is away')
    for (const who of [b, author]) expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [who.user.id] }, as(a))).status).toBe(200)
    // Back in a new window that starts after both roots: neither thread is theirs to follow.
    const socket = await connectReady(server.url, b.accessToken, sockets)
    const later = await reply(c, group.id, root.id, 'after the re-add')
    const toAuthor = await reply(c, group.id, theirs.id, 'first reply, after the re-add')
    // The replies themselves are in the new window: pushed as any message of it.
    await socket.next((f) => f.type === 'message.created' && f.data.id === toAuthor.id, WAIT)
    for (const who of [b, author]) {
      expect((await conversation(who, group.id)).threadUnreadCount).toBe(0)
      expect((await myThreads(who)).threads).toEqual([])
      expect((await api.get('/v1/me/unread', as(who))).body).toMatchObject({ total: 0, threads: 0 })
      // Their pages hold the replies of the new window only (not those of the earlier one, nor of the time away), and reading them counts nowhere.
      for (const [r, inWindow] of [[root, later], [theirs, toAuthor]]) {
        const page = await api.get(threadPath(group.id, r.id), as(who))
        expect(page.status).toBe(200)
        expect(page.body.messages.map((m: any) => m.id)).toEqual([inWindow.id])
        expect((await api.post(`${threadPath(group.id, r.id)}/read`, { seq: later.seq }, as(who))).status).toBe(204)
      }
      expect((await conversation(who, group.id)).threadUnreadCount).toBe(0)
      expect((await myThreads(who)).threads).toEqual([])
    }
    // An edit of the old root is not pushed to them.
    expect((await api.patch(`/v1/conversations/${group.id}/messages/${root.id}`, { body: 'root, edited' }, as(a))).status).toBe(200)
    await socket.none((f) => f.type === 'message.updated', 500)
    // Notifications (device push and the webhook ask the same): nothing as a follower of the old threads.
    const threads = createThreadsRepository(server.app.db)
    const sources = {
      online: async () => new Set<string>(),
      shouldNotify: (q: Parameters<typeof shouldNotify>[1]) => shouldNotify(server.app.db, q),
      threadFollowers: (roots: string[]) => threads.followers(roots)
    }
    const members = [a, b, c, author].map((x) => x.user.id)
    const [toLater, toTheirs] = await messageRecipients(sources, [later, toAuthor], members)
    expect(toLater).toEqual([a.user.id])
    expect(toTheirs).toEqual([])
    // Nor while away: the reply of that time reaches only the members then.
    const [toAway] = await messageRecipients(sources, [away], [a.user.id, c.user.id])
    expect(toAway).toEqual([a.user.id])
  })
})

describe('the SDK', () => {
  it('posts replies, pages a thread, reads it and lists the threads it follows', async () => {
    const [a, b] = await registerMany(api, 2)
    const group = await createGroup(api, a, [b])
    const rec = recordingClient(server.url)
    const sdk = rec.sdk
    await sdk.auth.login({ username: a.user.username, password: a.password })
    const reads: ThreadReadFrame[] = []
    sdk.realtime.on('threadRead', (f) => reads.push(f))
    sdk.realtime.connect()
    await rec.until(() => rec.synced > 0, WAIT, 'the first sync')
    const root = await sdk.messages.send(group.id, 'root')
    await post(api, b, group.id, 'answer', { threadRootId: root.id })
    const mine = await sdk.messages.send(group.id, { body: 'mine', threadRootId: root.id })
    expect(mine.threadRootId).toBe(root.id)
    const page = await sdk.conversations.thread(group.id, root.id, { limit: 10 })
    expect(page.messages.map((m) => m.body)).toEqual(['mine', 'answer'])
    const followed = await sdk.me.threads()
    expect(followed.threads[0]?.root.thread?.replyCount).toBe(2)
    const later = await post(api, b, group.id, 'later', { threadRootId: root.id })
    expect((await sdk.conversations.get(group.id)).threadUnreadCount).toBe(1)
    await sdk.conversations.threadRead(group.id, root.id, later.seq)
    expect((await sdk.conversations.get(group.id)).threadUnreadCount).toBe(0)
    // The realtime connection tells this device too, typed.
    await rec.until(() => reads.length > 0, WAIT, 'threadRead')
    expect(reads[0]!.data).toEqual({ rootId: root.id, seq: later.seq, unreadCount: 0, threadUnreadCount: 0 })
    await rec.until(() => rec.events.some((e) => e.seq === later.seq), WAIT, 'the last reply')
    // The tracker keeps the thread from the events received.
    const tracker = new ThreadTracker()
    for (const e of rec.events) tracker.apply(e)
    expect(tracker.summary(root.id)).toEqual((await sdk.messages.history(group.id)).messages.find((m) => m.id === root.id)?.thread)
    await sdk.logout()
  })
})
