// Catch-up paths keep to the membership windows: a member removed, or removed
// and added back, sees nothing of what happened while they were out, through
// sync (events and summary modes, known), the list, the conversation, history,
// replay, search, pins, threads and the export; redacted events keep the thread
// summary they had when written.
import { describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client

test.override('serverOptions', { config: { syncRateLimitPerMinute: 100_000 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const users = (n: number) => registerMany(api, n)
const as = (who: Account) => ({ token: who.accessToken })

async function syncAll (who: Account, since: string, extra: Record<string, string> = {}): Promise<any[]> {
  const changes: any[] = []
  let cursor = since
  for (;;) {
    const res = await api.get(`/v1/sync?${new URLSearchParams({ since: cursor, ...extra }).toString()}`, as(who))
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    changes.push(...res.body.changes)
    cursor = res.body.cursor
    if (!res.body.hasMore) return changes
  }
}
async function start (who: Account): Promise<string> {
  const res = await api.get('/v1/sync', as(who))
  expect(res.status).toBe(200)
  return res.body.cursor
}
const remove = async (by: Account, c: string, who: Account) =>
  expect((await api.del(`/v1/conversations/${c}/members/${who.user.id}`, as(by))).status).toBe(204)
const add = async (by: Account, c: string, who: Account) =>
  expect((await api.post(`/v1/conversations/${c}/members`, { userIds: [who.user.id] }, as(by))).status).toBe(200)

describe('catch-up within membership windows', () => {
  it('sync of a left member: a root deleted after they left comes back redacted, without the thread summary of replies posted after they left', async () => {
    const [owner, leaver, other] = await users(3)
    const group = await createGroup(api, owner, [leaver, other], 'tomb')
    const cursor = await start(leaver)
    const root = await post(api, owner, group.id, 'root they saw')
    await remove(owner, group.id, leaver)
    // A member replies in the thread after the leaver left.
    await post(api, other, group.id, 'reply after they left', { threadRootId: root.id })
    // The root is deleted: its earlier message.created (in the leaver's window) is redacted to the tombstone.
    expect((await api.del(`/v1/conversations/${group.id}/messages/${root.id}`, as(owner))).status).toBe(200)

    const changes = await syncAll(leaver, cursor)
    const change = changes.find((c) => c.conversationId === group.id)
    expect(change).toMatchObject({ membership: 'left', conversation: null })
    expect(change.events.map((e: any) => e.type)).toEqual(['message.created', 'member.removed'])
    const created = change.events[0]
    expect(created.data.id).toBe(root.id)
    // The leaver saw no reply: the event must not tell of the later one (its count, time, author).
    expect(created.data.thread).toBeNull()
  })

  it('export of a re-added member: their root from before the removal counts no reply posted while they were out', async () => {
    const [owner, member, other] = await users(3)
    const group = await createGroup(api, owner, [member, other], 'export gap')
    const root = await post(api, member, group.id, 'my root')
    await remove(owner, group.id, member)
    await post(api, other, group.id, 'SECRET reply in the gap', { threadRootId: root.id })
    await add(owner, group.id, member)

    const doc = (await api.get('/v1/me/export', as(member))).body
    const mine = doc.messages.find((m: any) => m.id === root.id)
    expect(mine).toBeDefined()
    // They never saw the gap's reply: it must not be in their root's summary.
    expect(mine.thread).toBeNull()
  })

  it('re-added member: nothing of the gap in sync, list, conversation, history, replay, search, pins, threads', async () => {
    const [owner, member, other] = await users(3)
    const group = await createGroup(api, owner, [member, other], 'gap sweep')
    const cursor = await start(member)
    const old = await post(api, other, group.id, 'before removal')
    const oldRoot = await post(api, other, group.id, 'old root')
    await remove(owner, group.id, member)
    const gap = await post(api, other, group.id, 'SECRET gap message')
    const gapRoot = await post(api, other, group.id, 'SECRET gap root')
    await post(api, owner, group.id, 'SECRET gap reply', { threadRootId: gapRoot.id })
    await post(api, owner, group.id, 'SECRET reply to old root', { threadRootId: oldRoot.id })
    expect((await api.patch(`/v1/conversations/${group.id}/messages/${old.id}`, { body: 'SECRET edited in gap' }, as(other))).status).toBe(200)
    expect((await api.put(`/v1/conversations/${group.id}/pins/${gap.id}`, {}, as(owner))).status).toBe(200)
    expect((await api.put(`/v1/conversations/${group.id}/messages/${old.id}/reactions/${encodeURIComponent('👍')}`, {}, as(owner))).status).toBe(200)
    const gapLast = await post(api, other, group.id, 'SECRET last in gap')
    await add(owner, group.id, member)
    const list0 = (await api.get('/v1/conversations', as(member))).body
    const conv0 = list0.conversations.find((c: any) => c.id === group.id)
    // Right after the re-add: no message of the gap as lastMessage, nothing unread.
    expect(JSON.stringify(conv0)).not.toContain('SECRET')
    expect(conv0.unreadCount).toBe(0)
    expect(conv0.threadUnreadCount).toBe(0)
    await post(api, other, group.id, 'after re-add')

    const seen: Record<string, unknown> = {}
    seen.sync = await syncAll(member, cursor)
    seen.summary = await syncAll(member, cursor, { mode: 'summary', eventsFor: group.id })
    seen.known = await syncAll(member, cursor, { known: `${group.id}:1` })
    seen.list = (await api.get('/v1/conversations', as(member))).body
    seen.conv = (await api.get(`/v1/conversations/${group.id}`, as(member))).body
    seen.history = (await api.get(`/v1/conversations/${group.id}/messages?limit=100`, as(member))).body
    seen.before = (await api.get(`/v1/conversations/${group.id}/messages?before=${gapLast.seq + 1}&limit=100`, as(member))).body
    seen.after = (await api.get(`/v1/conversations/${group.id}/messages?after=0&limit=100`, as(member))).body
    seen.events = (await api.get(`/v1/conversations/${group.id}/events?after=0&limit=100`, as(member))).body
    seen.search = (await api.get('/v1/search/messages?q=SECRET', as(member))).body
    seen.search2 = (await api.get(`/v1/search/messages?q=SECRET&conversationId=${group.id}`, as(member))).body
    seen.pins = (await api.get(`/v1/conversations/${group.id}/pins`, as(member))).body
    seen.threads = (await api.get('/v1/me/threads', as(member))).body
    seen.unread = (await api.get('/v1/me/unread', as(member))).body
    const t1 = await api.get(`/v1/conversations/${group.id}/messages/${gapRoot.id}/thread`, as(member))
    const t2 = await api.get(`/v1/conversations/${group.id}/messages/${oldRoot.id}/thread`, as(member))
    seen.t1 = t1.status === 200 ? t1.body : t1.status
    seen.t2 = t2.status === 200 ? t2.body : t2.status
    for (const [k, v] of Object.entries(seen)) expect(JSON.stringify(v), k).not.toContain('SECRET')
    for (const [k, v] of Object.entries(seen)) expect(JSON.stringify(v), k).not.toContain(gap.id)
    for (const [k, v] of Object.entries(seen)) expect(JSON.stringify(v), k).not.toContain(old.id)
  })

  it('left member: nothing after their removal anywhere, while the group goes on', async () => {
    const [owner, member, other] = await users(3)
    const group = await createGroup(api, owner, [member, other], 'left sweep')
    const cursor = await start(member)
    const root = await post(api, other, group.id, 'a root they saw')
    await post(api, member, group.id, 'my own')
    expect((await api.del(`/v1/conversations/${group.id}/members/${member.user.id}`, as(member))).status).toBe(204)
    await post(api, other, group.id, 'SECRET after leave', { threadRootId: root.id })
    await post(api, other, group.id, 'SECRET after leave 2')
    expect((await api.patch(`/v1/conversations/${group.id}`, { title: 'SECRET title' }, as(owner))).status).toBe(200)
    expect((await api.patch(`/v1/conversations/${group.id}/messages/${root.id}`, { body: 'SECRET edit' }, as(other))).status).toBe(200)
    const seen: Record<string, unknown> = {}
    seen.sync = await syncAll(member, cursor)
    seen.summary = await syncAll(member, cursor, { mode: 'summary', eventsFor: group.id })
    seen.list = (await api.get('/v1/conversations', as(member))).body
    seen.unread = (await api.get('/v1/me/unread', as(member))).body
    seen.threads = (await api.get('/v1/me/threads', as(member))).body
    seen.search = (await api.get('/v1/search/messages?q=SECRET', as(member))).body
    for (const [k, v] of Object.entries(seen)) expect(JSON.stringify(v), k).not.toContain('SECRET')
    for (const p of ['', '/messages', '/events?after=0', '/pins', '/members', `/messages/${root.id}/thread`]) {
      expect((await api.get(`/v1/conversations/${group.id}${p}`, as(member))).status, p).toBe(404)
    }
  })

  it('blocked user: the blocker shows lastReadSeq 0 to them in sync and list', async () => {
    const [blocker, blocked, owner] = await users(3)
    const group = await createGroup(api, owner, [blocker, blocked], 'blocks')
    const cursor = await start(blocked)
    expect((await api.put(`/v1/me/blocks/${blocked.user.id}`, {}, as(blocker))).status).toBeLessThan(300)
    const m = await post(api, owner, group.id, 'hello')
    expect((await api.post(`/v1/conversations/${group.id}/read`, { seq: m.seq }, as(blocker))).status).toBe(204)
    const changes = await syncAll(blocked, cursor)
    const view = changes.find((c) => c.conversationId === group.id).conversation
    const mem = view.members.find((x: any) => x.user.id === blocker.user.id)
    expect(mem.lastReadSeq).toBe(0)
    expect(mem.lastDeliveredSeq).toBe(0)
  })
})
