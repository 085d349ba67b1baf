// GET /v1/sync (README "Sync: one cursor per account"), found by an audit:
// what changes the badge without changing a conversation's log (a thread read
// on another device, the account-wide notification level, a block) reaches a
// device that syncs; a page cut right after a conversation's last event does
// not announce more of it; conversations the caller left long ago make no
// pages; a cursor past the database's own snapshot is refused (the SDK then
// lists afresh) instead of silently skipping what it missed.
import { describe, expect, it } from 'vitest'
import { encodeSyncCursor } from '../src/domain/sync.js'
import { createGroup, post } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client
test.override('serverOptions', { config: { syncRateLimitPerMinute: 100_000 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const as = (who: Account) => ({ token: who.accessToken })
const start = async (who: Account) => (await api.get('/v1/sync', as(who))).body.cursor as string

interface Page { changes: any[], unread: any, cursor: string, hasMore: boolean }

/** Every page of one sync from `since`. */
async function syncPages (who: Account, since: string, limit = 200): Promise<Page[]> {
  const pages: Page[] = []
  let cursor = since
  for (let i = 0; i < 100; i++) {
    const res = await api.get(`/v1/sync?${new URLSearchParams({ since: cursor, limit: String(limit) }).toString()}`, as(who))
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    pages.push(res.body)
    cursor = res.body.cursor
    if (!res.body.hasMore) break
  }
  return pages
}
const badgeOf = (pages: Page[]) => pages.at(-1)!.unread
const badge = async (who: Account) => (await api.get('/v1/me/unread', as(who))).body

describe('what changes the badge outside a conversation\'s log reaches a device that syncs', () => {
  it('a thread read on another device: the conversation\'s thread count and the badge', async () => {
    const [me, a] = await registerMany(api, 2)
    const g = await createGroup(api, a, [me], 'threads')
    const root = await post(api, me, g.id, 'my root')
    const reply = await post(api, a, g.id, 'a reply', { threadRootId: root.id })
    const cursor = (await syncPages(me, await start(me))).at(-1)!.cursor
    expect((await badge(me)).threads).toBe(1)
    expect((await api.post(`/v1/conversations/${g.id}/messages/${root.id}/thread/read`, { seq: reply.seq }, as(me))).status).toBe(204)
    const pages = await syncPages(me, cursor)
    expect(badgeOf(pages)).toEqual(await badge(me))
    expect(badgeOf(pages).threads).toBe(0)
    const change = pages.flatMap((p) => p.changes).find((c) => c.conversationId === g.id)
    expect(change?.conversation?.threadUnreadCount).toBe(0)
    // Nothing changed since: the next sync answers nothing, and no badge.
    expect(await syncPages(me, pages.at(-1)!.cursor)).toEqual([expect.objectContaining({ changes: [], unread: null, hasMore: false })])
  })

  it('the account-wide notification level, and a block and an unblock', async () => {
    const [me, a] = await registerMany(api, 2)
    const g = await createGroup(api, a, [me], 'level')
    await post(api, a, g.id, `hello @${me.user.username}`)
    let cursor = (await syncPages(me, await start(me))).at(-1)!.cursor
    for (const change of [
      () => api.put('/v1/me/notifications', { level: 'none' }, as(me)),
      () => api.put(`/v1/me/blocks/${a.user.id}`, undefined, as(me)),
      () => api.del(`/v1/me/blocks/${a.user.id}`, as(me))
    ]) {
      expect((await change()).status).toBeLessThan(300)
      const pages = await syncPages(me, cursor)
      expect(badgeOf(pages)).toEqual(await badge(me))
      cursor = pages.at(-1)!.cursor
    }
  })
})

describe('pages', () => {
  it('a page cut right after the last event of a conversation neither says it continues nor shows it again', async () => {
    const [me, a] = await registerMany(api, 2)
    const cursor = await start(me)
    const [x, y] = [await createGroup(api, a, [me], 'x'), await createGroup(api, a, [me], 'y')].sort((p, q) => p.id < q.id ? -1 : 1)
    const xEvents = (await api.get(`/v1/conversations/${x!.id}/events?after=0`, as(me))).body.events.length
    const pages = await syncPages(me, cursor, xEvents)
    const seen = pages.map((p) => p.changes.map((c) => ({ id: c.conversationId, events: c.events.length, continues: c.eventsContinue ?? false })))
    expect(seen).toEqual([
      [{ id: x!.id, events: xEvents, continues: false }],
      [{ id: y!.id, events: expect.any(Number), continues: false }]
    ])
  })

  it('conversations the caller left long ago, where others talk on, make no pages', async () => {
    const [me, a] = await registerMany(api, 2)
    const groups = [await createGroup(api, a, [me], 'l1'), await createGroup(api, a, [me], 'l2'), await createGroup(api, a, [me], 'l3')]
    for (const g of groups) expect((await api.del(`/v1/conversations/${g.id}/members/${me.user.id}`, as(a))).status).toBe(204)
    const cursor = await start(me)
    for (const g of groups) await post(api, a, g.id, 'others talk on')
    expect(await syncPages(me, cursor, 1)).toEqual([expect.objectContaining({ changes: [], unread: null, hasMore: false })])
  })

  it('a removal is still reported to a cursor from before it, with the events up to it', async () => {
    const [me, a] = await registerMany(api, 2)
    const g = await createGroup(api, a, [me], 'removed')
    const cursor = (await syncPages(me, await start(me))).at(-1)!.cursor
    await post(api, a, g.id, 'before the removal')
    expect((await api.del(`/v1/conversations/${g.id}/members/${me.user.id}`, as(a))).status).toBe(204)
    await post(api, a, g.id, 'after it')
    const changes = (await syncPages(me, cursor)).flatMap((p) => p.changes)
    expect(changes).toHaveLength(1)
    expect(changes[0].membership).toBe('left')
    expect(changes[0].events.map((e: { type: string }) => e.type)).toEqual(['message.created', 'member.removed'])
  })
})

describe('cursors', () => {
  it('a cursor past the database\'s snapshot (forged, or from before a restore) answers 400, not "nothing changed"', async () => {
    const [me, a] = await registerMany(api, 2)
    const g = await createGroup(api, a, [me], 'future')
    const t = (await server.sql<{ t: string }>('SELECT pg_current_snapshot()::text AS t'))[0]!.t
    const xmin = BigInt(t.split(':')[0]!)
    const future = encodeSyncCursor({ s: `${xmin}:${xmin + 1_000_000n}:` })
    await post(api, a, g.id, 'would be skipped')
    expectError(await api.get(`/v1/sync?since=${future}`, as(me)), 400, 'VALIDATION_FAILED')
    // Within a sync's pages too (its own snapshot `t`).
    const paging = encodeSyncCursor({ s: t, t: `${xmin}:${xmin + 1_000_000n}:`, c: g.id, q: 1 })
    expectError(await api.get(`/v1/sync?since=${paging}`, as(me)), 400, 'VALIDATION_FAILED')
  })
})
