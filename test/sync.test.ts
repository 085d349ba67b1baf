// GET /v1/sync (issue 19): one cursor per account. A client that kept the
// cursor of its last sync gets, in keyset pages, every conversation that
// changed for it (joined, left, new events, its own read position moved
// elsewhere) and the badge, and nothing twice: a change committed while it
// pages is in that sync or the next. The ready frame carries a cursor too.
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connect } from './helpers/ws.js'

let server: TestServer
let api: Client

test.override('serverOptions', { config: { syncRateLimitPerMinute: 100_000 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const users = (n: number) => registerMany(api, n)
const as = (who: Account) => ({ token: who.accessToken })

async function syncPage (who: Account, query: Record<string, string | number>): Promise<any> {
  const res = await api.get(`/v1/sync?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString()}`, as(who))
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body
}

/** A cursor that starts now. */
async function start (who: Account): Promise<string> {
  const body = await syncPage(who, {})
  expect(body).toMatchObject({ changes: [], unread: null, hasMore: false })
  return body.cursor
}

/** Follows the pages of one sync: every change of every page, and the cursor to keep. */
async function syncAll (who: Account, since: string, extra: Record<string, string | number> = {}): Promise<{ pages: any[], changes: any[], cursor: string }> {
  const pages: any[] = []
  let cursor = since
  for (;;) {
    const page = await syncPage(who, { since: cursor, ...extra })
    pages.push(page)
    cursor = page.cursor
    if (!page.hasMore) break
    expect(pages.length).toBeLessThan(1_000)
  }
  return { pages, changes: pages.flatMap((p) => p.changes), cursor }
}

const eventsOf = (changes: any[], conversationId: string) =>
  changes.filter((c) => c.conversationId === conversationId).flatMap((c) => c.events ?? [])

describe('GET /v1/sync', () => {
  it('returns the conversations that changed with their new events and the badge, then nothing until something changes', async () => {
    const [me, a, b] = await users(3)
    const group = await createGroup(api, a, [me, b], 'sync group')
    const direct = await createDirect(api, b, me)
    const cursor = await start(me)

    await post(api, a, group.id, 'one')
    await post(api, b, direct.id, 'two')
    await post(api, a, group.id, 'three')
    const first = await syncAll(me, cursor)
    expect(first.pages).toHaveLength(1)
    const ids = first.changes.map((c) => c.conversationId)
    expect(new Set(ids)).toEqual(new Set([group.id, direct.id]))
    expect(ids).toEqual([...ids].sort())
    expect(eventsOf(first.changes, group.id).map((e) => e.data.body)).toEqual(['one', 'three'])
    expect(eventsOf(first.changes, direct.id).map((e) => e.data.body)).toEqual(['two'])
    const g = first.changes.find((c) => c.conversationId === group.id)
    expect(g).toMatchObject({ membership: 'member', lastReadSeq: group.lastSeq, conversation: { id: group.id, unreadCount: 2 } })
    expect(g.conversation.lastMessage.body).toBe('three')
    expect(first.pages[0].unread.total).toBe(3)

    const idle = await syncPage(me, { since: first.cursor })
    expect(idle).toMatchObject({ changes: [], unread: null, hasMore: false })
    expect(idle.cursor).toBeTypeOf('string')
    // A conversation of others moves nothing of mine.
    const [x, y] = await users(2)
    await post(api, x, (await createDirect(api, x, y)).id, 'not mine')
    expect((await syncPage(me, { since: idle.cursor })).changes).toEqual([])
  })

  it('reports joining with the events from the join, leaving up to the removal, and nothing of the conversation after it', async () => {
    const [me, owner] = await users(2)
    const group = await createGroup(api, owner, [], 'later')
    await post(api, owner, group.id, 'before me')
    const cursor = await start(me)

    expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [me.user.id] }, as(owner))).status).toBe(200)
    await post(api, owner, group.id, 'welcome')
    const joined = await syncAll(me, cursor)
    expect(joined.changes).toHaveLength(1)
    expect(joined.changes[0]).toMatchObject({ conversationId: group.id, membership: 'member', conversation: { id: group.id } })
    expect(eventsOf(joined.changes, group.id).map((e) => e.type)).toEqual(['member.added', 'message.created'])

    await post(api, owner, group.id, 'last one I see')
    expect((await api.del(`/v1/conversations/${group.id}/members/${me.user.id}`, as(owner))).status).toBe(204)
    await post(api, owner, group.id, 'after I left')
    const left = await syncAll(me, joined.cursor)
    expect(left.changes).toHaveLength(1)
    expect(left.changes[0]).toMatchObject({ conversationId: group.id, membership: 'left', conversation: null })
    const events = eventsOf(left.changes, group.id)
    expect(events.map((e) => e.type)).toEqual(['message.created', 'member.removed'])
    expect(events[0].data.body).toBe('last one I see')

    await post(api, owner, group.id, 'still later')
    expect((await syncPage(me, { since: left.cursor })).changes).toEqual([])
  })

  it('carries the read position moved by another device, without events', async () => {
    const [me, a] = await users(2)
    const direct = await createDirect(api, a, me)
    const m = await post(api, a, direct.id, 'read me')
    const cursor = await start(me)
    expect((await api.post(`/v1/conversations/${direct.id}/read`, { seq: m.seq }, as(me))).status).toBe(204)
    const { changes, pages } = await syncAll(me, cursor)
    expect(changes).toEqual([expect.objectContaining({ conversationId: direct.id, lastReadSeq: m.seq, events: [] })])
    expect(changes[0].conversation.unreadCount).toBe(0)
    expect(pages[0].unread.total).toBe(0)
  })

  it('pages by events and by conversations; the pages put together are the log, in order, each event once', async () => {
    const [me, a] = await users(2)
    const groups = [await createGroup(api, a, [me], 'g1'), await createGroup(api, a, [me], 'g2'), await createGroup(api, a, [me], 'g3')]
    const cursor = await start(me)
    for (let i = 0; i < 7; i++) for (const g of groups) await post(api, a, g.id, `m${i}`)
    const paged = await syncAll(me, cursor, { limit: 4 })
    expect(paged.pages.length).toBeGreaterThanOrEqual(6)
    for (const page of paged.pages) expect(page.changes.flatMap((c: any) => c.events).length).toBeLessThanOrEqual(4)
    expect(paged.pages.some((p) => p.changes.some((c: any) => c.eventsContinue === true))).toBe(true)
    for (const g of groups) {
      const log = (await replay(api, me, g.id, 0)).filter((e) => e.type === 'message.created')
      expect(eventsOf(paged.changes, g.id).map((e) => e.seq)).toEqual(log.map((e) => e.seq))
    }
    // The same sync in one page has the same events.
    const whole = await syncAll(me, cursor, { limit: 500 })
    expect(whole.pages).toHaveLength(1)
    expect(whole.changes.flatMap((c) => c.events)).toEqual(paged.changes.flatMap((c) => c.events))
  })

  it('summary mode: the changed conversations without events, but for those asked for; known seqs are not sent again', async () => {
    const [me, a] = await users(2)
    const g1 = await createGroup(api, a, [me], 's1')
    const g2 = await createGroup(api, a, [me], 's2')
    const cursor = await start(me)
    const posted = [await post(api, a, g1.id, 'x1'), await post(api, a, g1.id, 'x2'), await post(api, a, g2.id, 'y1')]
    const summary = await syncAll(me, cursor, { mode: 'summary', eventsFor: g2.id })
    const s1 = summary.changes.find((c) => c.conversationId === g1.id)
    const s2 = summary.changes.find((c) => c.conversationId === g2.id)
    expect(s1.events).toBeUndefined()
    expect(s1.conversation).toMatchObject({ lastSeq: posted[1].seq, unreadCount: 2, lastMessage: { body: 'x2' } })
    expect(s2.events.map((e: any) => e.data.body)).toEqual(['y1'])

    const knowing = await syncAll(me, cursor, { known: `${g1.id}:${posted[0].seq}` })
    expect(eventsOf(knowing.changes, g1.id).map((e) => e.data.body)).toEqual(['x2'])
    expect(eventsOf(knowing.changes, g2.id).map((e) => e.data.body)).toEqual(['y1'])
  })

  it('each changed conversation shows the counts its own GET shows (unread, mentions, followed thread replies), on every page', async () => {
    const [me, a] = await users(2)
    const g1 = await createGroup(api, a, [me], 'c1')
    const g2 = await createGroup(api, a, [me], 'c2')
    const root = await post(api, me, g1.id, 'my thread')
    const cursor = await start(me)
    await post(api, a, g1.id, `hey @${me.user.username}`)
    await post(api, a, g1.id, 'in the thread', { threadRootId: root.id })
    await post(api, a, g2.id, 'plain')
    // One conversation per page: the first page's view gets its counts as the last one does.
    const { pages, changes } = await syncAll(me, cursor, { limit: 1 })
    expect(pages.length).toBeGreaterThan(1)
    for (const id of [g1.id, g2.id]) {
      const own = (await api.get(`/v1/conversations/${id}`, as(me))).body
      const view = changes.find((c) => c.conversationId === id).conversation
      expect({ unreadCount: view.unreadCount, mentionCount: view.mentionCount, threadUnreadCount: view.threadUnreadCount })
        .toEqual({ unreadCount: own.unreadCount, mentionCount: own.mentionCount, threadUnreadCount: own.threadUnreadCount })
    }
    const g1View = changes.find((c) => c.conversationId === g1.id).conversation
    expect(g1View).toMatchObject({ unreadCount: 1, mentionCount: 1, threadUnreadCount: 1 })
  })

  // The badge of the last page counts every conversation of the caller, the unchanged and the muted ones too, and
  // followed threads' replies where the conversation itself is read, exactly as GET /v1/me/unread does.
  it('the last page carries the badge of GET /v1/me/unread: conversations unchanged since the cursor, muted ones and levels included', async () => {
    const [me, a] = await users(2)
    const before = await createGroup(api, a, [me], 'unread before the cursor')
    const muted = await createGroup(api, a, [me], 'muted')
    const mentions = await createGroup(api, a, [me], 'mentions only')
    expect((await api.put(`/v1/conversations/${muted.id}/notifications`, { level: 'default', muteUntil: new Date(Date.now() + 86_400_000).toISOString() }, as(me))).status).toBe(200)
    expect((await api.put(`/v1/conversations/${mentions.id}/notifications`, { level: 'mentions' }, as(me))).status).toBe(200)
    await post(api, a, before.id, 'from before')
    // Read up to its end, but for a reply in a thread I follow: only the thread's count is unread there.
    const threaded = await createGroup(api, a, [me], 'thread unread, conversation read')
    const root = await post(api, me, threaded.id, 'my thread')
    const reply = await post(api, a, threaded.id, 'a reply', { threadRootId: root.id })
    expect((await api.post(`/v1/conversations/${threaded.id}/read`, { seq: reply.seq }, as(me))).status).toBe(204)
    const cursor = await start(me)
    await post(api, a, muted.id, `muted @${me.user.username}`)
    await post(api, a, mentions.id, 'no mention')
    await post(api, a, mentions.id, `hey @${me.user.username}`)
    for (const limit of [1, 50]) {
      const { pages } = await syncAll(me, cursor, { limit })
      expect(pages.slice(0, -1).every((p) => p.unread === null)).toBe(true)
      const badge = pages[pages.length - 1].unread
      expect(badge).toEqual((await api.get('/v1/me/unread', as(me))).body)
      expect(badge).toMatchObject({ total: 3, mentions: 1, threads: 1 })
      expect(badge.conversations.map((c: any) => c.id).sort()).toEqual([before.id, muted.id, mentions.id, threaded.id].sort())
      expect(badge.conversations.find((c: any) => c.id === threaded.id)).toMatchObject({ unreadCount: 0, threadUnreadCount: 1, badge: 1 })
    }
  })

  it('the ready frame carries a cursor from before the socket: a sync from it has what was posted since', async () => {
    const [me, a] = await users(2)
    const direct = await createDirect(api, a, me)
    await post(api, a, direct.id, 'before the socket')
    // The cursor is at most a second old: wait for the clock to pass the post.
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    const socket = await connect(server.url, me.accessToken)
    try {
      const ready = await socket.next((f) => f.type === 'ready')
      expect(ready.cursor).toBeTypeOf('string')
      const m = await post(api, a, direct.id, 'after the socket')
      expect((await socket.next((f) => f.type === 'message.created')).data.id).toBe(m.id)
      const synced = await syncAll(me, ready.cursor)
      const bodies = eventsOf(synced.changes, direct.id).map((e) => e.data.body)
      expect(bodies).toContain('after the socket')
      expect(bodies).not.toContain('before the socket')
    } finally {
      socket.close()
    }
  })

  it('a change committed while a client pages is in that sync or the next, never in both and never in neither', async () => {
    const [me, a, b] = await users(3)
    const groups = await Promise.all([0, 1, 2, 3].map((i) => createGroup(api, a, [me, b], `busy ${i}`)))
    const cursor0 = await start(me)
    const [joiner] = await users(1)
    let stop = false
    const writers = [a, b].map(async (who, w) => {
      let i = 0
      while (!stop) {
        const g = groups[(i + w) % groups.length]!
        await post(api, who, g.id, `w${w}-${i++}`)
      }
    })
    // Membership moves too: a user added to and removed from a group, by the owner.
    const churn = (async () => {
      while (!stop) {
        await api.post(`/v1/conversations/${groups[0]!.id}/members`, { userIds: [joiner!.user.id] }, as(a))
        await api.del(`/v1/conversations/${groups[0]!.id}/members/${joiner!.user.id}`, as(a))
      }
    })()
    const seen = new Map<string, number[]>()
    let cursor = cursor0
    const deadline = Date.now() + 4_000
    let syncs = 0
    while (Date.now() < deadline) {
      const got = await syncAll(me, cursor, { limit: 7 })
      syncs++
      for (const c of got.changes) {
        const list = seen.get(c.conversationId) ?? []
        list.push(...(c.events ?? []).map((e: any) => e.seq))
        seen.set(c.conversationId, list)
      }
      cursor = got.cursor
    }
    stop = true
    await Promise.all([...writers, churn])
    const last = await syncAll(me, cursor, { limit: 7 })
    for (const c of last.changes) seen.get(c.conversationId)?.push(...(c.events ?? []).map((e: any) => e.seq))
    expect(syncs).toBeGreaterThan(2)
    for (const g of groups) {
      // Everything of the log after what the first cursor saw (the group as created), each once, in order.
      const log = (await replay(api, me, g.id, 0)).map((e) => e.seq).filter((seq) => seq > g.lastSeq)
      expect(log.length).toBeGreaterThan(0)
      expect(seen.get(g.id) ?? []).toEqual(log)
    }
  }, 60_000)

  it('takes a cursor and 150 known pairs in one request line; a snapshot with many writers in progress stays small', async () => {
    const [me, a] = await users(2)
    const direct = await createDirect(api, a, me)
    // Twenty transactions hold xids while the cursor is taken: it names them all, compactly.
    const held = await Promise.all(Array.from({ length: 20 }, async () => {
      const c = new pg.Client({ connectionString: server.databaseUrl })
      await c.connect()
      await c.query('BEGIN')
      await c.query('SELECT pg_current_xact_id()')
      return c
    }))
    let cursor: string
    try {
      cursor = await start(me)
    } finally {
      await Promise.all(held.map((c) => c.end()))
    }
    expect(cursor.length).toBeLessThan(120)
    const m = await post(api, a, direct.id, 'after the writers')
    const known = [`${direct.id}:0`, ...Array.from({ length: 149 }, () => `${randomUUID()}:2147483647`)].join(',')
    const page = await syncPage(me, { since: cursor, known, limit: 500 })
    expect(eventsOf(page.changes, direct.id).map((e) => e.seq)).toEqual([m.seq])
    const tooMany = await api.get(`/v1/sync?since=${cursor}&known=${known},${randomUUID()}:1`, as(me))
    expect(tooMany.status).toBe(400)
    expect(tooMany.body.code).toBe('VALIDATION_FAILED')
  })

  it('answers 400 VALIDATION_FAILED to a cursor it did not write and to bad parameters', async () => {
    const [me] = await users(1)
    const bad = async (query: string) => {
      const res = await api.get(`/v1/sync?${query}`, as(me))
      expect(res.status, query).toBe(400)
      expect(res.body.code).toBe('VALIDATION_FAILED')
    }
    const encode = (c: unknown) => Buffer.from(JSON.stringify(c)).toString('base64url')
    const raw = (bytes: number[]) => Buffer.from(bytes).toString('base64url')
    await bad('since=garbage')
    await bad(`since=${raw([2, 0, 5, 5, 0])}`)
    await bad(`since=${raw([1, 0, 0, 5, 0])}`)
    await bad(`since=${raw([1, 0, 5, 5, 2, 1, 0])}`)
    await bad(`since=${raw([1, 0, 5, 2, 1, 9])}`)
    await bad(`since=${raw([1, 0, 5, 5, 0, 7])}`)
    await bad(`since=${raw([1, 1, 5, 5, 0, 5, 5, 0, 1, 2])}`)
    await bad(`since=${raw([1, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1, 0, 0])}`)
    await bad(`since=${'A'.repeat(5_000)}`)
    await bad(`since=${encode({ s: '10:5:' })}`)
    await bad(`since=${encode({ s: '5:10:12' })}`)
    await bad(`since=${encode({ s: '5:10:7,6' })}`)
    await bad(`since=${encode({ s: '0:10:' })}`)
    await bad(`since=${encode({ s: '5:10:', t: '5:10:', c: 'nope', q: 1 })}`)
    await bad(`since=${encode({ s: "5:10:'); DROP TABLE events; --" })}`)
    await bad(`since=${encode({ s: '99999999999999999999:99999999999999999999:' })}`)
    await bad('limit=0')
    await bad('limit=501')
    await bad('mode=everything')
    await bad('known=abc:1')
    await bad('eventsFor=123')
    expect((await api.get('/v1/sync')).status).toBe(401)
  })
})
