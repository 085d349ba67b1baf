// A sync up to the ready frame's cursor (GET /v1/sync?since=&until=, README
// "Sync: one cursor per account"): a reconnecting client's catch-up brings
// what happened while it was away, and the socket brings everything after
// its ready frame, nothing lost between the two. The ready frame's cursor is
// a snapshot taken after the socket joined the fan-out, so the ready frame
// waits for it: what is pushed to the socket meanwhile follows the ready frame.
import { afterAll, describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connect, connectReady, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
test.override('serverOptions', { config: { syncRateLimitPerMinute: 100_000 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
const opened: TestSocket[] = []
afterAll(async () => { await Promise.all(opened.map((s) => s.close())) })

const as = (who: Account) => ({ token: who.accessToken })
const start = async (who: Account) => (await api.get('/v1/sync', as(who))).body.cursor as string

interface Page { changes: any[], unread: any, cursor: string, hasMore: boolean }

/** Every page of one sync from `since` (up to `until` when given, on the first page). */
async function syncPages (who: Account, since: string, until?: string, limit = 200): Promise<Page[]> {
  const pages: Page[] = []
  let cursor = since
  for (let i = 0; i < 100; i++) {
    const query = new URLSearchParams({ since: cursor, limit: String(limit), ...(i === 0 && until !== undefined ? { until } : {}) })
    const res = await api.get(`/v1/sync?${query.toString()}`, as(who))
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    pages.push(res.body)
    cursor = res.body.cursor
    if (!res.body.hasMore) break
  }
  return pages
}
const seqsOf = (pages: Page[], conversationId: string) =>
  pages.flatMap((p) => p.changes).filter((c) => c.conversationId === conversationId).flatMap((c) => (c.events ?? []).map((e: any) => e.seq))

describe('GET /v1/sync up to the ready frame\'s cursor', () => {
  it('brings what happened while away; what came after the ready frame is pushed, and the next sync starts there', async () => {
    const [me, a] = await registerMany(api, 2)
    const g = await createGroup(api, a, [me], 'until')
    const other = await createGroup(api, a, [me], 'only after ready')
    const since = await start(me)
    const away = [await post(api, a, g.id, 'away 1'), await post(api, a, g.id, 'away 2')]

    const s = await connectReady(server.url, me.accessToken, opened)
    const until = s.frames[0]!.cursor as string
    expect(s.frames[0]).toMatchObject({ type: 'ready', cursor: expect.any(String) })
    const after = [await post(api, a, g.id, 'after ready'), await post(api, a, other.id, 'after ready, elsewhere')]
    for (const m of after) await s.next((f) => f.type === 'message.created' && f.seq === m.seq && f.conversationId === m.conversationId)

    const pages = await syncPages(me, since, until)
    // Up to the ready frame: the messages from while away, not those pushed since; a conversation that moved only
    // after it is not reported. Its last page carries the badge of now.
    expect(seqsOf(pages, g.id)).toEqual(away.map((m) => m.seq))
    expect(pages.flatMap((p) => p.changes).map((c) => c.conversationId)).toEqual([g.id])
    expect(pages.at(-1)!.unread).toEqual((await api.get('/v1/me/unread', as(me))).body)

    // The next sync from its cursor brings what came after the ready frame: nothing lost between the two, nothing twice.
    const next = await syncPages(me, pages.at(-1)!.cursor)
    expect(seqsOf(next, g.id)).toEqual([after[0].seq])
    expect(seqsOf(next, other.id)).toEqual([after[1].seq])
  })

  it('pages up to it: every page reads as of the first, the last page\'s cursor continues from it', async () => {
    const [me, a] = await registerMany(api, 2)
    const groups = [await createGroup(api, a, [me], 'p1'), await createGroup(api, a, [me], 'p2')]
    const since = await start(me)
    const away: any[] = []
    for (let i = 0; i < 4; i++) for (const g of groups) away.push(await post(api, a, g.id, `away ${i}`))
    const s = await connectReady(server.url, me.accessToken, opened)
    const until = s.frames[0]!.cursor as string
    const later = await post(api, a, groups[1].id, 'after ready')
    // Three events a page: the sync pages, and a post between its pages (after the ready frame) is not in it.
    const pages = await syncPages(me, since, until, 3)
    expect(pages.length).toBeGreaterThan(1)
    for (const g of groups) expect(seqsOf(pages, g.id)).toEqual(away.filter((m) => m.conversationId === g.id).map((m) => m.seq))
    expect(seqsOf(await syncPages(me, pages.at(-1)!.cursor), groups[1].id)).toEqual([later.seq])
  })

  it('nothing changed up to it: no changes and no badge', async () => {
    const [me, a] = await registerMany(api, 2)
    await createGroup(api, a, [me], 'quiet')
    const since = await start(me)
    const s = await connectReady(server.url, me.accessToken, opened)
    const pages = await syncPages(me, since, s.frames[0]!.cursor)
    expect(pages).toEqual([expect.objectContaining({ changes: [], unread: null, hasMore: false })])
  })

  it('refuses what is not a cursor of a ready frame or of a last page', async () => {
    const [me, a] = await registerMany(api, 2)
    const g = await createGroup(api, a, [me], 'bad until')
    const since = await start(me)
    for (let i = 0; i < 3; i++) await post(api, a, g.id, `m ${i}`)
    const s = await connectReady(server.url, me.accessToken, opened)
    // A page's cursor (it names a place within a sync).
    const firstPage = (await syncPages(me, since, undefined, 1))[0]!
    expect(firstPage.hasMore).toBe(true)
    const query = (until: string) => `/v1/sync?${new URLSearchParams({ since, until }).toString()}`
    expectError(await api.get(query(firstPage.cursor), as(me)), 400, 'VALIDATION_FAILED')
    expectError(await api.get(query('not-a-cursor'), as(me)), 400, 'VALIDATION_FAILED')
    expectError(await api.get(query('x'.repeat(5_000)), as(me)), 400, 'VALIDATION_FAILED')
    // A later page ignores it (its cursor carries the snapshot of the sync).
    const res = await api.get(`/v1/sync?${new URLSearchParams({ since: firstPage.cursor, until: s.frames[0]!.cursor }).toString()}`, as(me))
    expect(res.status).toBe(200)
  })
})

describe('the ready frame', () => {
  it('is the first frame when pushes come while its cursor is taken; they follow it', async () => {
    const [me, a] = await registerMany(api, 2)
    const g = await createGroup(api, a, [me], 'early')
    const clock = server.app.syncClock
    const after = clock.after.bind(clock)
    let open: () => void = () => {}
    const gate = new Promise<void>((resolve) => { open = resolve })
    // The snapshot statement held back, as a busy database would.
    clock.after = async () => {
      await gate
      return await after()
    }
    try {
      const connecting = connect(server.url, me.accessToken)
      // The socket joined the fan-out (its ready frame waits for the cursor).
      const deadline = Date.now() + 10_000
      while (server.app.realtime.hub.connectionsOf(me.user.id) === 0) {
        if (Date.now() > deadline) throw new Error('the socket did not join')
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      const early = await post(api, a, g.id, 'pushed before ready')
      open()
      const s = await connecting
      opened.push(s)
      await s.next((f) => f.type === 'message.created' && f.seq === early.seq)
      expect(s.frames[0]).toMatchObject({ type: 'ready', cursor: expect.any(String) })
    } finally {
      clock.after = after
      open()
    }
  })
})
