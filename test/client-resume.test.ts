// The SDK's catch-up when things race it, against the real server: a sync cut
// between pages, a re-add during a sync, a re-base racing a re-add, the
// conversation list reordering while it is paged, connect/close/connect and a
// session changed while connected. The app sees every event of the log once,
// in seq order, `left` once and only when truly left, one server connection.
import { afterAll, describe, expect, it } from 'vitest'
import type { ChatEvent, FetchLike } from '../src/client/index.js'
import { createGroup, post, replay } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { recordingClient, type RecordingClient } from './helpers/sdk.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client
const clients: RecordingClient[] = []
test.override('serverOptions', { config: { syncRateLimitPerMinute: 100_000 } })
test.beforeAll(({ server: started }) => { server = started; api = client(server.url) })
afterAll(async () => { for (const c of clients) c.sdk.realtime.close() })

const as = (who: Account) => ({ token: who.accessToken })
const of = (events: ChatEvent[], id: string) => events.filter((e) => e.conversationId === id)
const brief = (e: { seq: number, type: string }) => `${e.seq}:${e.type}`
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function recording (options: Parameters<typeof recordingClient>[1] = {}): RecordingClient & { left: string[] } {
  const rec = Object.assign(recordingClient(server.url, options), { left: [] as string[] })
  rec.sdk.realtime.on('left', (id) => rec.left.push(id))
  clients.push(rec)
  return rec
}

async function live (rec: RecordingClient, who: Account): Promise<void> {
  await rec.sdk.auth.login({ username: who.user.username, password: who.password })
  rec.sdk.realtime.connect()
  await rec.until(() => rec.synced >= 1, 30_000, 'first sync')
}

/** The app saw exactly the log (as `reader` reads it) after `after`, up to `upTo`: once each, in seq order. */
async function expectExactlyTheLog (rec: RecordingClient, reader: Account, conversationId: string, after: number, upTo = Infinity): Promise<void> {
  const log = (await replay(api, reader, conversationId, after)).filter((e) => e.seq <= upTo)
  expect(of(rec.events, conversationId).map(brief)).toEqual(log.map(brief))
}

async function serverConnections (userId: string, count: number): Promise<void> {
  const end = Date.now() + 15_000
  while (server.app.realtime.hub.connectionsOf(userId) !== count) {
    if (Date.now() > end) throw new Error(`server connections of ${userId}: ${server.app.realtime.hub.connectionsOf(userId)}, not ${count}`)
    await sleep(50)
  }
}

/** A fetch that, once armed, runs `race` after the server answered the next sync page and before the SDK reads it. */
function racingSync (race: () => Promise<void>): { fetch: FetchLike, arm: () => void } {
  let armed = false
  return {
    arm: () => { armed = true },
    fetch: async (url, init) => {
      const res = await fetch(url, init)
      if (!armed || !url.includes('/v1/sync?')) return res as any
      armed = false
      const text = await res.text()
      await race()
      return { status: res.status, headers: res.headers, text: async () => text }
    }
  }
}

/** Groups of `owner` with `member`, created ten at a time. */
async function groups (owner: Account, member: Account, count: number): Promise<any[]> {
  const out: any[] = []
  for (let i = 0; i < count; i += 10) out.push(...await Promise.all(Array.from({ length: Math.min(10, count - i) }, (_, j) => createGroup(api, owner, [member], `g ${i + j}`))))
  return out
}

describe('SDK realtime: connection lifecycle', () => {
  it('connect(); close(); connect() (React StrictMode effects) keeps one connection, none after close()', async () => {
    const [me] = await registerMany(api, 1)
    const rec = recording()
    await rec.sdk.auth.login({ username: me.user.username, password: me.password })
    rec.sdk.realtime.connect()
    rec.sdk.realtime.close()
    rec.sdk.realtime.connect()
    await rec.until(() => rec.synced >= 1, 30_000, 'sync')
    await sleep(1000)
    await serverConnections(me.user.id, 1)
    expect(rec.control.sockets.filter((s) => s.readyState === 1)).toHaveLength(1)
    rec.sdk.realtime.close()
    await serverConnections(me.user.id, 0)
  }, 60_000)

  it('another user\'s session adopted while connected gets that user\'s stream on a new connection', async () => {
    const [a, b, c] = await registerMany(api, 3)
    const bc = await createGroup(api, c, [b], 'b and c only')
    const rec = recording()
    await live(rec, a)
    const bSession = await recordingClient(server.url).sdk.auth.login({ username: b.user.username, password: b.password })
    rec.sdk.adoptSession(bSession)
    await serverConnections(b.user.id, 1)
    await serverConnections(a.user.id, 0)
    await rec.until(() => rec.synced >= 2 && rec.sdk.realtime.state === 'live', 30_000, 'b live')
    const m = await post(api, c, bc.id, 'for b')
    await rec.until(() => of(rec.events, bc.id).some((e) => e.seq === m.seq), 30_000, 'b\'s message')
    expect(of(rec.events, bc.id).map((e) => e.seq)).toEqual([m.seq])
  }, 60_000)
})

describe('SDK realtime: catch-up racing changes', () => {
  it('a sync cut between pages, after the page that reported a conversation left, emits its events and `left` once', async () => {
    const [me, a] = await registerMany(api, 2)
    const leaving = await createGroup(api, a, [me], 'leaving')
    const others = []
    for (let i = 0; i < 3; i++) others.push(await createGroup(api, a, [me], `other ${i}`))
    let failNext = false
    let failed = 0
    const cut: FetchLike = async (url, init) => {
      if (url.includes('/v1/sync?') && failNext) {
        failNext = false
        failed++
        throw new TypeError('network cut (test)')
      }
      return await fetch(url, init) as any
    }
    const rec = recording({ fetch: cut, syncPageSize: 2 })
    // Before `left` is emitted (the fix defers it) the cut would not hit the next page: cut when page 1 is read.
    let armAfter = ''
    rec.sdk.realtime.on('event', (e) => { if (failed === 0 && e.conversationId === armAfter && e.type === 'member.removed') failNext = true })
    await live(rec, me)
    const start = rec.sdk.realtime.positions()[leaving.id] ?? 0

    rec.control.offline = true
    rec.control.current().terminate()
    await rec.until(() => rec.sdk.realtime.state === 'reconnecting', 10_000, 'reconnecting')
    await post(api, a, leaving.id, 'last before removal')
    expect((await api.del(`/v1/conversations/${leaving.id}/members/${me.user.id}`, as(a))).status).toBe(204)
    for (const g of others) { await post(api, a, g.id, 'x1'); await post(api, a, g.id, 'x2') }
    armAfter = leaving.id
    rec.control.offline = false
    await rec.until(() => rec.synced >= 2, 60_000, 'catch-up')
    expect(failed).toBe(1)
    const removal = (await replay(api, a, leaving.id, start)).find((e) => e.type === 'member.removed')
    await expectExactlyTheLog(rec, a, leaving.id, start, removal.seq)
    expect(rec.left).toEqual([leaving.id])
  }, 120_000)

  it('removed while offline and re-added during the reconnect\'s sync: the re-add and the message after it arrive, no `left`', async () => {
    const [me, a] = await registerMany(api, 2)
    const g = await createGroup(api, a, [me], 'g')
    let msg: any
    // The server answered (not a member); now the re-add and a message, pushed while the SDK holds pushes.
    const racing = racingSync(async () => {
      expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [me.user.id] }, as(a))).status).toBe(200)
      msg = await post(api, a, g.id, 'welcome back')
      await sleep(500)
    })
    const rec = recording({ fetch: racing.fetch })
    await live(rec, me)
    const start = rec.sdk.realtime.positions()[g.id] ?? 0
    const first = await post(api, a, g.id, 'live')
    await rec.until(() => of(rec.events, g.id).some((e) => e.seq === first.seq), 30_000, 'live')

    rec.control.offline = true
    rec.control.current().terminate()
    await rec.until(() => rec.sdk.realtime.state === 'reconnecting', 10_000, 'reconnecting')
    expect((await api.del(`/v1/conversations/${g.id}/members/${me.user.id}`, as(a))).status).toBe(204)
    racing.arm()
    rec.control.offline = false
    await rec.until(() => rec.synced >= 2, 60_000, 'catch-up')
    await rec.until(() => msg !== undefined && of(rec.events, g.id).some((e) => e.seq === msg.seq), 30_000, 'welcome back')
    const later = await post(api, a, g.id, 'later')
    await rec.until(() => of(rec.events, g.id).some((e) => e.seq === later.seq), 30_000, 'later')
    // As the owner reads it: the app saw the window before the removal too.
    await expectExactlyTheLog(rec, a, g.id, start)
    expect(rec.left).toEqual([])
  }, 120_000)

  it('a live re-base whose snapshot saw a removal but not the re-add after it repeats nothing and says no `left`', async () => {
    const [me, a] = await registerMany(api, 2)
    const many = await groups(a, me, 101)
    const L = await createGroup(api, a, [me], 'L')
    let welcome: any
    const cursors: string[] = []
    const racing = racingSync(async () => {
      expect((await api.post(`/v1/conversations/${L.id}/members`, { userIds: [me.user.id] }, as(a))).status).toBe(200)
      welcome = await post(api, a, L.id, 'welcome back')
      await rec.until(() => of(rec.events, L.id).some((e) => e.seq === welcome.seq), 30_000, 'welcome, live')
    })
    const rec = recording({ fetch: racing.fetch })
    rec.sdk.realtime.on('cursor', (c) => cursors.push(c))
    await live(rec, me)
    const start = rec.sdk.realtime.positions()[L.id] ?? 0
    expect((await api.del(`/v1/conversations/${L.id}/members/${me.user.id}`, as(a))).status).toBe(204)
    await rec.until(() => of(rec.events, L.id).some((e) => e.type === 'member.removed'), 30_000, 'removed, live')
    cursors.length = 0
    racing.arm()
    for (let i = 0; i < many.length; i += 20) await Promise.all(many.slice(i, i + 20).map((g) => post(api, a, g.id, 'one each')))
    await rec.until(() => cursors.length >= 1, 60_000, 're-base')
    const later = await post(api, a, L.id, 'later')
    await rec.until(() => of(rec.events, L.id).some((e) => e.seq === later.seq), 30_000, 'later')
    await expectExactlyTheLog(rec, a, L.id, start)
    const ids = rec.events.map((e) => `${e.conversationId}:${e.seq}`)
    expect(new Set(ids).size).toBe(ids.length)
    expect(rec.left).toEqual([])
  }, 180_000)

  it('without a cursor, a conversation that moves up the paged list while it is paged is replayed, not reported left', async () => {
    const [me, a] = await registerMany(api, 2)
    await groups(a, me, 101)
    let target = ''
    let armed = false
    let moved: any
    const racing: FetchLike = async (url, init) => {
      if (armed && url.includes('/v1/conversations?') && url.includes('cursor=')) {
        armed = false
        // Its last activity is now the newest: it leaves page 2 for page 1, already read.
        moved = await post(api, a, target, 'posted while the SDK pages the list')
        await sleep(300)
      }
      return await fetch(url, init) as any
    }
    const rec = recording({ fetch: racing, sync: false })
    await live(rec, me)
    const first = (await api.get('/v1/conversations?limit=100', as(me))).body
    const page2 = (await api.get(`/v1/conversations?limit=100&cursor=${encodeURIComponent(first.nextCursor)}`, as(me))).body.conversations
    expect(page2).toHaveLength(1)
    target = page2[0].id
    const start = rec.sdk.realtime.positions()[target] ?? 0

    armed = true
    rec.control.current().terminate()
    await rec.until(() => rec.synced >= 2, 60_000, 'catch-up')
    const later = await post(api, a, target, 'a later message')
    await rec.until(() => of(rec.events, target).some((e) => e.seq === later.seq), 30_000, 'later')
    expect(moved).toBeDefined()
    await expectExactlyTheLog(rec, me, target, start)
    expect(of(rec.events, target).map((e) => e.seq)).toEqual([moved.seq, later.seq])
    expect(rec.left).toEqual([])
  }, 120_000)
})
