// The SDK's catch-up through the sync cursor (issue 19), against the real
// server: after a reconnect, one or two GET /v1/sync instead of the
// conversation list and a replay per conversation; every event exactly once,
// in order; the conversations that changed, the one left and the badge
// reported. The per-conversation flow stays for `sync: false`.
import { afterAll, describe, expect, it } from 'vitest'
import type { ChatEvent, Conversation, UnreadTotals } from '../src/client/index.js'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { recordingClient, type RecordingClient } from './helpers/sdk.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

/** Every request the server received: method, URL and the bearer token (to tell one client's requests). */
const requests: Array<{ method: string, url: string, token: string | undefined }> = []

let server: TestServer
let api: Client
const clients: RecordingClient[] = []

test.override('serverOptions', {
  config: { syncRateLimitPerMinute: 100_000 },
  extend: (app) => {
    app.addHook('onRequest', async (request) => {
      requests.push({ method: request.method, url: request.url, token: request.headers.authorization?.replace(/^Bearer /, '') })
    })
  }
})
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  for (const c of clients) c.sdk.realtime.close()
})

const users = (n: number) => registerMany(api, n)
const as = (who: Account) => ({ token: who.accessToken })

interface Watched extends RecordingClient {
  conversations: Conversation[]
  left: string[]
  unread: UnreadTotals[]
  via: string[]
}

function watched (rec: RecordingClient): Watched {
  const w = Object.assign(rec, { conversations: [] as Conversation[], left: [] as string[], unread: [] as UnreadTotals[], via: [] as string[] })
  rec.sdk.realtime.on('conversation', (c) => w.conversations.push(c))
  rec.sdk.realtime.on('left', (id) => w.left.push(id))
  rec.sdk.realtime.on('unread', (u) => w.unread.push(u))
  rec.sdk.realtime.on('synced', (info) => w.via.push(info.via))
  return w
}

async function connected (who: Account, options: Parameters<typeof recordingClient>[1] = {}): Promise<Watched> {
  const rec = watched(recordingClient(server.url, options))
  clients.push(rec)
  // A saved session resumes as it is (logging in would start afresh: positions belong to the session's user).
  if (options.session === undefined) await rec.sdk.auth.login({ username: who.user.username, password: who.password })
  rec.sdk.realtime.connect()
  await rec.until(() => rec.synced >= 1, 20_000, 'first sync')
  return rec
}

/** The GET requests this client made from `from` on (its REST calls carry its session's token). */
function getsOf (rec: RecordingClient, from: number): string[] {
  const token = rec.sdk.session?.accessToken
  return requests.slice(from).filter((r) => r.method === 'GET' && r.token === token).map((r) => r.url)
}

/** Cuts the socket and keeps the client offline until `reconnect` is called. */
async function cut (rec: RecordingClient): Promise<{ reconnect: () => Promise<void> }> {
  const before = rec.synced
  rec.control.offline = true
  rec.control.current().terminate()
  await rec.until(() => rec.sdk.realtime.state === 'reconnecting', 10_000, 'reconnecting')
  return {
    async reconnect () {
      rec.control.offline = false
      await rec.until(() => rec.synced > before, 30_000, 'catch-up after the reconnect')
    }
  }
}

const of = (events: ChatEvent[], conversationId: string) => events.filter((e) => e.conversationId === conversationId)
const brief = (e: { seq: number, type: string, data: unknown }) => ({ seq: e.seq, type: e.type, data: e.data })

/** The app saw exactly the log after `after`: same events, in order, once each. */
async function expectExactlyTheLog (rec: RecordingClient, who: Account, conversationId: string, after: number) {
  const log = await replay(api, who, conversationId, after)
  const seen = of(rec.events, conversationId)
  expect(log.length).toBeGreaterThan(0)
  expect(seen.map(brief)).toEqual(log.map(brief))
}

describe('SDK realtime: catch-up through the sync cursor', () => {
  it('catches up with one or two GET /v1/sync and nothing else: events once and in order, the conversations, the one left, the badge', async () => {
    const [me, a, b] = await users(3)
    // Many conversations; three of them move while the client is away.
    const groups = await Promise.all(Array.from({ length: 12 }, (_, i) => createGroup(api, a, [me, b], `many ${i}`)))
    const direct = await createDirect(api, b, me)
    const leaving = await createGroup(api, a, [me], 'to be removed from')
    const joining = await createGroup(api, a, [b], 'to be added to')
    const rec = await connected(me)
    expect(rec.via).toEqual(['conversations'])
    expect(rec.sdk.realtime.cursor).toEqual(expect.any(String))

    // Live first: a push makes this conversation known (its position goes out as `known`).
    const live = await post(api, a, groups[0].id, 'live before the cut')
    await rec.until(() => of(rec.events, groups[0].id).some((e) => e.seq === live.seq), 10_000, 'live message')
    const baselines = new Map([...groups, direct, leaving].map((c) => [c.id, c.lastSeq as number]))

    const away = await cut(rec)
    const from = requests.length
    const moved = [groups[0], groups[5], direct]
    for (let i = 0; i < 3; i++) {
      for (const c of moved) await post(api, c === direct ? b : a, c.id, `away ${i}`)
    }
    const edited = await post(api, a, groups[5].id, 'to be edited')
    expect((await api.patch(`/v1/conversations/${groups[5].id}/messages/${edited.id}`, { body: 'edited while away' }, as(a))).status).toBe(200)
    const deleted = await post(api, b, groups[0].id, 'to be deleted')
    expect((await api.del(`/v1/conversations/${groups[0].id}/messages/${deleted.id}`, as(b))).status).toBe(200)
    await post(api, a, leaving.id, 'last one before the removal')
    expect((await api.del(`/v1/conversations/${leaving.id}/members/${me.user.id}`, as(a))).status).toBe(204)
    await post(api, a, leaving.id, 'after the removal')
    expect((await api.post(`/v1/conversations/${joining.id}/members`, { userIds: [me.user.id] }, as(a))).status).toBe(200)
    await post(api, b, joining.id, 'welcome')
    const cursorBefore = rec.sdk.realtime.cursor
    await away.reconnect()

    const gets = getsOf(rec, from)
    const syncs = gets.filter((url) => url.startsWith('/v1/sync?'))
    expect(syncs.length, gets.join('\n')).toBeGreaterThanOrEqual(1)
    expect(syncs.length, gets.join('\n')).toBeLessThanOrEqual(2)
    expect(syncs[0]).toContain(`known=${encodeURIComponent(`${groups[0].id}:${live.seq}`)}`)
    // Up to the ready frame's cursor: what the socket pushes meanwhile is not asked for too.
    expect(syncs[0]).toContain('until=')
    expect(gets.filter((url) => url.startsWith('/v1/conversations')), gets.join('\n')).toEqual([])
    expect(rec.via).toEqual(['conversations', 'sync'])
    expect(rec.sdk.realtime.cursor).not.toBe(cursorBefore)

    // Every event exactly once, in seq order, as the log has it.
    for (const c of moved) await expectExactlyTheLog(rec, me, c.id, baselines.get(c.id)!)
    await expectExactlyTheLog(rec, me, joining.id, 0)
    expect(of(rec.events, joining.id)[0]).toMatchObject({ type: 'member.added', data: { userId: me.user.id } })
    for (const g of groups.slice(1)) if (g.id !== groups[5].id) expect(of(rec.events, g.id)).toEqual([])
    // The left conversation: its events up to my removal, then `left`.
    const gone = of(rec.events, leaving.id)
    expect(gone.map((e) => e.type)).toEqual(['message.created', 'member.removed'])
    expect(gone[0]!.data).toMatchObject({ body: 'last one before the removal' })
    expect(rec.left).toEqual([leaving.id])
    expect(rec.sdk.realtime.positions()[leaving.id]).toBeUndefined()

    // The conversations that changed, as they are now, and the badge.
    const reported = new Map(rec.conversations.map((c) => [c.id, c]))
    expect(new Set(reported.keys())).toEqual(new Set([...moved, joining].map((c) => c.id)))
    for (const c of [...moved, joining]) {
      const now = await api.get(`/v1/conversations/${c.id}`, as(me))
      expect(reported.get(c.id)).toMatchObject({ lastSeq: now.body.lastSeq, unreadCount: now.body.unreadCount })
    }
    const badge = await api.get('/v1/me/unread', as(me))
    expect(rec.unread.at(-1)).toEqual(badge.body)

    // Live again, and the next catch-up starts from the new cursor.
    const after = await post(api, a, groups[5].id, 'after the reconnect')
    await rec.until(() => of(rec.events, groups[5].id).some((e) => e.seq === after.seq), 10_000, 'message after the reconnect')
    const again = await cut(rec)
    const from2 = requests.length
    await post(api, b, direct.id, 'second time away')
    await again.reconnect()
    // (Failed reconnects check the session with GET /v1/me.)
    const gets2 = getsOf(rec, from2)
    expect(gets2.filter((url) => url.startsWith('/v1/conversations')), gets2.join('\n')).toEqual([])
    expect(gets2.filter((url) => url.startsWith('/v1/sync?')).length).toBeGreaterThanOrEqual(1)
    await expectExactlyTheLog(rec, me, direct.id, baselines.get(direct.id)!)
    await expectExactlyTheLog(rec, me, groups[5].id, baselines.get(groups[5].id)!)
  }, 120_000)

  it('resumes in a new client from a saved cursor and positions (an app restart) through the sync', async () => {
    const [me, a] = await users(2)
    const groups = await Promise.all([0, 1, 2].map((i) => createGroup(api, a, [me], `restart ${i}`)))
    const first = await connected(me)
    const seen = await post(api, a, groups[1].id, 'seen before the restart')
    await first.until(() => of(first.events, groups[1].id).some((e) => e.seq === seen.seq), 10_000, 'live message')
    const saved = { cursor: first.sdk.realtime.cursor!, positions: first.sdk.realtime.positions(), session: first.sdk.session }
    first.sdk.realtime.close()
    expect(saved.positions[groups[1].id]).toBe(seen.seq)

    await post(api, a, groups[1].id, 'while closed 1')
    await post(api, a, groups[2].id, 'while closed 2')
    const from = requests.length
    const second = await connected(me, saved)
    const gets = getsOf(second, from)
    expect(gets.filter((url) => !url.startsWith('/v1/sync?')), gets.join('\n')).toEqual([])
    expect(gets.length).toBeGreaterThanOrEqual(1)
    expect(second.via).toEqual(['sync'])
    await expectExactlyTheLog(second, me, groups[1].id, seen.seq)
    await expectExactlyTheLog(second, me, groups[2].id, groups[2].lastSeq)
    expect(of(second.events, groups[0].id)).toEqual([])

    // A cursor the server refuses (400) is dropped: that catch-up lists and replays, then the ready frame's cursor is kept.
    second.sdk.realtime.close()
    const refused = await connected(me, { ...saved, cursor: 'not-a-cursor-of-this-api' })
    expect(refused.via).toEqual(['conversations'])
    expect(refused.sdk.realtime.cursor).toEqual(expect.any(String))
    await expectExactlyTheLog(refused, me, groups[1].id, seen.seq)
  }, 60_000)

  it('with sync: false, catches up through the conversation list and a replay per moved conversation, as before', async () => {
    const [me, a] = await users(2)
    const groups = await Promise.all([0, 1, 2, 3].map((i) => createGroup(api, a, [me], `no sync ${i}`)))
    const rec = await connected(me, { sync: false })
    expect(rec.sdk.realtime.cursor).toBeUndefined()
    const away = await cut(rec)
    const from = requests.length
    await post(api, a, groups[0].id, 'away 0')
    await post(api, a, groups[2].id, 'away 2')
    await post(api, a, groups[3].id, 'before the removal')
    expect((await api.del(`/v1/conversations/${groups[3].id}/members/${me.user.id}`, as(a))).status).toBe(204)
    await away.reconnect()
    const gets = getsOf(rec, from)
    expect(gets.filter((url) => url.startsWith('/v1/sync')), gets.join('\n')).toEqual([])
    expect(gets.filter((url) => url.startsWith('/v1/conversations?')).length).toBeGreaterThanOrEqual(1)
    expect(gets.filter((url) => url.includes('/events?')).length).toBeGreaterThanOrEqual(2)
    expect(rec.via).toEqual(['conversations', 'conversations'])
    expect(rec.left).toEqual([groups[3].id])
    expect(rec.sdk.realtime.cursor).toBeUndefined()
    await expectExactlyTheLog(rec, me, groups[0].id, groups[0].lastSeq)
    await expectExactlyTheLog(rec, me, groups[2].id, groups[2].lastSeq)
    expect(of(rec.events, groups[1].id)).toEqual([])
  }, 60_000)

  it('re-bases its cursor with a sync while live once more than 100 conversations got events, without repeating any', async () => {
    const [me, a] = await users(2)
    const groups: any[] = []
    for (let i = 0; i < 11; i++) groups.push(...await Promise.all(Array.from({ length: 10 }, (_, j) => createGroup(api, a, [me], `busy ${i}-${j}`))))
    const rec = await connected(me)
    const cursor = rec.sdk.realtime.cursor
    const from = requests.length
    const cursors: string[] = []
    rec.sdk.realtime.on('cursor', (c) => cursors.push(c))
    const posted: any[] = []
    for (let i = 0; i < groups.length; i += 10) {
      posted.push(...await Promise.all(groups.slice(i, i + 10).map((g) => post(api, a, g.id, 'one each'))))
    }
    await rec.until(() => posted.every((m) => of(rec.events, m.conversationId).some((e) => e.seq === m.seq)), 60_000, 'all pushes')
    await rec.until(() => cursors.length >= 1, 30_000, 're-base')
    expect(rec.sdk.realtime.cursor).not.toBe(cursor)
    expect(rec.sdk.realtime.state).toBe('live')
    const syncs = getsOf(rec, from).filter((url) => url.startsWith('/v1/sync?'))
    expect(syncs.length).toBeGreaterThanOrEqual(1)
    // Past 150 conversations `known` would be left out; here it is sent.
    expect(syncs[0]).toContain('known=')
    for (const m of posted) expect(of(rec.events, m.conversationId).map((e) => e.seq)).toEqual([m.seq])
  }, 180_000)
})
