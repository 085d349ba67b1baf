// The SDK's realtime connection against the real server: across forced
// disconnects, lost pushes and server-side closes, the app sees every event
// of the log exactly once, in seq order.
import { afterAll, describe, expect, it } from 'vitest'
import type { ChatEvent } from '../src/client/index.js'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, register, type Account, type Client } from './helpers/http.js'
import { recordingClient, type RecordingClient } from './helpers/sdk.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client
const clients: RecordingClient[] = []

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  for (const c of clients) c.sdk.realtime.close()
})

async function connected (who: Account): Promise<RecordingClient> {
  const rec = recordingClient(server.url)
  clients.push(rec)
  await rec.sdk.auth.login({ username: who.user.username, password: who.password })
  rec.sdk.realtime.connect()
  await rec.until(() => rec.synced >= 1, 10_000, 'first sync')
  return rec
}

const of = (events: ChatEvent[], conversationId: string) => events.filter((e) => e.conversationId === conversationId)
const brief = (e: { seq: number, type: string, data: unknown }) => ({ seq: e.seq, type: e.type, data: e.data })

/** The app saw exactly the log after `after`: same events, in order, once each. */
async function expectExactlyTheLog (rec: RecordingClient, who: Account, conversationId: string, after: number) {
  const log = await replay(api, who, conversationId, after)
  const seen = of(rec.events, conversationId)
  expect(seen.map((e) => e.seq)).toEqual(log.map((e) => e.seq))
  expect(seen.map(brief)).toEqual(log.map(brief))
  expect(new Set(seen.map((e) => e.seq)).size).toBe(seen.length)
}

describe('SDK realtime: reconnect and replay', () => {
  it('recovers messages, edits, deletions and a new conversation posted while the socket was cut off, without duplicates', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const rec = await connected(b)
    const baseline = group.lastSeq as number
    const first = await post(api, a, group.id, 'before the cut')
    await rec.until(() => of(rec.events, group.id).some((e) => e.seq === first.seq), 5000, 'live message')

    // Cut the connection and keep the client offline while things happen.
    rec.control.offline = true
    const cut = rec.control.current()
    cut.terminate()
    await rec.until(() => rec.sdk.realtime.state === 'reconnecting', 5000, 'reconnecting')
    const missed = []
    for (let i = 0; i < 6; i++) missed.push(await post(api, a, group.id, `while away ${i}`))
    await api.patch(`/v1/conversations/${group.id}/messages/${missed[1].id}`, { body: 'edited while away' }, { token: a.accessToken })
    await api.del(`/v1/conversations/${group.id}/messages/${missed[2].id}`, { token: a.accessToken })
    const direct = await createDirect(api, a, b)
    await post(api, a, direct.id, 'a new conversation')
    // Let the reconnect fail twice (the cut socket, then attempts with backoff), then let it through.
    await rec.until(() => rec.control.sockets.length >= 3, 10_000, 'failed reconnect attempts')
    rec.control.offline = false
    await rec.until(() => rec.synced >= 2, 10_000, 'second sync')

    const after = await post(api, a, group.id, 'after the reconnect')
    await rec.until(() => of(rec.events, group.id).some((e) => e.seq === after.seq), 5000, 'message after reconnect')

    await expectExactlyTheLog(rec, b, group.id, baseline)
    await expectExactlyTheLog(rec, b, direct.id, 0)
    const types = of(rec.events, group.id).map((e) => e.type)
    expect(types).toContain('message.updated')
    expect(types).toContain('message.deleted')
    expect(of(rec.events, direct.id)[0]).toMatchObject({ seq: 1, type: 'member.added' })
  })

  it('fills a gap when one push is lost on a live connection', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const rec = await connected(b)
    let dropped = 0
    rec.control.drop = (f) => f.conversationId === group.id && f.type === 'message.created' && f.data.body === 'lost' && ++dropped > 0
    await post(api, a, group.id, 'one')
    await post(api, a, group.id, 'lost')
    const last = await post(api, a, group.id, 'three')
    await rec.until(() => of(rec.events, group.id).some((e) => e.seq === last.seq), 5000, 'gap filled')
    expect(dropped).toBe(1)
    await expectExactlyTheLog(rec, b, group.id, group.lastSeq)
  })

  it('survives server-side closes (4008, 1001) under a stream of messages', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const rec = await connected(b)
    const sid = JSON.parse(Buffer.from(rec.sdk.session!.accessToken.split('.')[1]!, 'base64url').toString()).sid
    const posts: Promise<any>[] = []
    for (let i = 0; i < 40; i++) {
      posts.push(post(api, a, group.id, `stream ${i}`))
      if (i === 10) server.app.realtime.hub.closeSession(sid, 4008, 'slow consumer (test)')
      if (i === 25) {
        // The second close must find the socket of the reconnect that followed the first.
        await rec.until(() => server.app.realtime.hub.connectionsOf(b.user.id) === 1 && rec.control.sockets.length >= 2, 10_000, 'reconnected after 4008')
        server.app.realtime.hub.closeSession(sid, 1001, 'going away (test)')
      }
      await new Promise((r) => setTimeout(r, 10))
    }
    const sent = await Promise.all(posts)
    const lastSeq = Math.max(...sent.map((m) => m.seq))
    await rec.until(() => of(rec.events, group.id).some((e) => e.seq === lastSeq), 10_000, 'all streamed messages')
    expect(rec.control.sockets.length).toBeGreaterThanOrEqual(3)
    await expectExactlyTheLog(rec, b, group.id, group.lastSeq)
  })

  it('stops and reports unauthenticated when the session is logged out (4001)', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    await createGroup(api, a, [b])
    const rec = await connected(b)
    let unauthenticated = 0
    rec.sdk.realtime.on('unauthenticated', () => { unauthenticated++ })
    const sockets = rec.control.sockets.length
    expect((await api.post('/v1/auth/logout', { refreshToken: rec.sdk.session!.refreshToken })).status).toBe(204)
    await rec.until(() => unauthenticated === 1, 5000, 'unauthenticated')
    expect(rec.sdk.realtime.state).toBe('closed')
    expect(rec.sdk.session).toBeNull()
    await new Promise((r) => setTimeout(r, 300))
    expect(rec.control.sockets.length).toBe(sockets)
  })

  it('starts afresh for another user logging in on the same client', async () => {
    const [a, b, c] = await Promise.all([register(api), register(api), register(api)])
    const ab = await createGroup(api, a, [b])
    await post(api, a, ab.id, 'old news for b')
    const rec = await connected(b)
    rec.sdk.realtime.close()
    await rec.sdk.logout()
    const bc = await createGroup(api, b, [c])
    await post(api, b, bc.id, 'old news for c')
    await rec.sdk.auth.login({ username: c.user.username, password: c.password })
    rec.events.length = 0
    rec.sdk.realtime.connect()
    await rec.until(() => rec.synced >= 2, 10_000, 'sync as c')
    const fresh = await post(api, b, bc.id, 'new for c')
    await rec.until(() => rec.events.length > 0, 5000, 'an event for c')
    expect(rec.events.map((e) => [e.conversationId, e.seq])).toEqual([[bc.id, fresh.seq]])
  })

  it('delivers typing and presence of other members', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const rb = await connected(b)
    const presence: any[] = []
    const typing: any[] = []
    rb.sdk.realtime.on('presence', (p) => presence.push(p))
    rb.sdk.realtime.on('typing', (t) => typing.push(t))
    const ra = await connected(a)
    await rb.until(() => presence.some((p) => p.userId === a.user.id && p.online), 5000, 'presence')
    expect(ra.sdk.realtime.typing(group.id)).toBe(true)
    expect(ra.sdk.realtime.typing(group.id)).toBe(false) // throttled
    await rb.until(() => typing.some((t) => t.conversationId === group.id && t.data.userId === a.user.id), 5000, 'typing')
  })
})
