// The push channel under real-world conditions: presence with a grace period,
// bad frames, slow readers, session ends, shutdown, reconnect and replay.
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, register, type Client } from './helpers/http.js'
import { startServer, test, type TestServer } from './helpers/server.js'
import { ageRotation } from './helpers/users.js'
import { connect, type Frame, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []
const GRACE = 400

async function open (token: string, base = server.url) {
  const s = await connect(base, token)
  sockets.push(s)
  await s.next((f) => f.type === 'ready')
  return s
}

test.override('serverOptions', { config: { presenceGraceMs: GRACE, wsMaxBacklogBytes: 64 * 1024, wsCloseGraceMs: 60_000 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

describe('presence', () => {
  it('online with the first connection, offline a grace period after the last, only to contacts', async () => {
    const [a, b, stranger] = await Promise.all([register(api), register(api), register(api)])
    await createDirect(api, a, b)
    const as = await open(a.accessToken)
    const ss = await open(stranger.accessToken)

    const b1 = await open(b.accessToken)
    expect(await as.next((f) => f.type === 'presence')).toEqual({ type: 'presence', data: { userId: b.user.id, online: true, lastSeenAt: null } })
    expect((await api.get(`/v1/users/${b.user.id}`, { token: a.accessToken })).body.online).toBe(true)

    // A quick reconnect inside the grace period: no offline, no second online.
    await b1.close()
    const b2 = await open(b.accessToken)
    await as.none((f) => f.type === 'presence' && f.data.userId === b.user.id, GRACE + 300)

    const closedAt = Date.now()
    await b2.close()
    const offline = await as.next((f) => f.type === 'presence' && f.data.online === false)
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(GRACE - 50)
    expect(offline.data).toEqual({ userId: b.user.id, online: false, lastSeenAt: expect.any(String) })
    const profile = await api.get(`/v1/users/${b.user.id}`, { token: a.accessToken })
    expect(profile.body).toMatchObject({ online: false, lastSeenAt: offline.data.lastSeenAt })
    await ss.none((f) => f.type === 'presence' && f.data.userId === b.user.id, 0)
  })

  it('a reconnect whose upgrade outlasts the grace period keeps the user online; a refused one takes them offline then', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    await createDirect(api, a, b)
    const as = await open(a.accessToken)
    const b1 = await open(b.accessToken)
    await as.next((f) => f.type === 'presence' && f.data.userId === b.user.id && f.data.online === true)
    // Sessions of b that this process has not checked yet: their upgrades read the sessions table.
    const login = async () => (await api.post('/v1/auth/login', { username: b.user.username, password: b.password })).body as { accessToken: string, refreshToken: string }
    const [second, third] = [await login(), await login()]
    expect((await api.post('/v1/auth/logout', { refreshToken: third.refreshToken })).status).toBe(204)

    // A storm's upgrades wait for the database: here the session check waits on a lock held past the grace period.
    const holder = new pg.Client({ connectionString: server.databaseUrl })
    await holder.connect()
    const hold = async () => {
      await holder.query('BEGIN')
      await holder.query('LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE')
    }
    const waitingOnTheLock = () => expect.poll(async () => (await server.sql(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))[0].n, { timeout: 10_000 }).toBeGreaterThanOrEqual(1)
    try {
      await hold()
      await b1.close()
      const reconnecting = connect(server.url, second.accessToken)
      await waitingOnTheLock()
      await as.none((f) => f.type === 'presence' && f.data.userId === b.user.id, GRACE + 300)
      await holder.query('COMMIT')
      const b2 = await reconnecting
      sockets.push(b2)
      await b2.next((f) => f.type === 'ready')
      // Nobody saw b leave, nor come back.
      await as.none((f) => f.type === 'presence' && f.data.userId === b.user.id, 300)
      expect((await api.get(`/v1/users/${b.user.id}`, { token: a.accessToken })).body.online).toBe(true)

      // The same wait, but the session was logged out: once the upgrade is refused, b goes offline (the grace
      // period is over), and is not left online with no socket.
      await hold()
      await b2.close()
      // Its refusal may land before the COMMIT's answer: the expectation is attached now, not after.
      const refused = expect(connect(server.url, third.accessToken)).rejects.toMatchObject({ statusCode: 401 })
      await waitingOnTheLock()
      await as.none((f) => f.type === 'presence' && f.data.userId === b.user.id, GRACE + 300)
      await holder.query('COMMIT')
      await refused
      const offline = await as.next((f) => f.type === 'presence' && f.data.userId === b.user.id)
      expect(offline.data.online).toBe(false)
      expect((await api.get(`/v1/users/${b.user.id}`, { token: a.accessToken })).body.online).toBe(false)
    } finally {
      await holder.end()
    }
  })
})

describe('bad frames', () => {
  it('answers malformed and unknown frames with an error frame and stays usable', async () => {
    const a = await register(api)
    const s = await open(a.accessToken)
    s.send('{not json')
    expect(await s.next((f) => f.type === 'error')).toMatchObject({ code: 'MALFORMED_FRAME' })
    s.send({ type: 'shout', text: 'hi' })
    expect(await s.next((f) => f.type === 'error')).toMatchObject({ code: 'UNKNOWN_FRAME' })
    s.send({ type: 'typing', conversationId: 'nope' })
    expect(await s.next((f) => f.type === 'error')).toMatchObject({ code: 'VALIDATION_FAILED' })
    s.send(Buffer.from([1, 2, 3]))
    expect(await s.next((f) => f.type === 'error')).toMatchObject({ code: 'MALFORMED_FRAME' })
    s.send({ type: 'ping' })
    expect(await s.next((f) => f.type === 'pong')).toEqual({ type: 'pong' })
  })

  it('a frame type no string can be made of is an unknown frame, not a crash of the process', async () => {
    const a = await register(api)
    const s = await open(a.accessToken)
    // String() of this object throws: the frame's handling did, as an uncaught exception in the socket's listener.
    s.send('{"type":{"toString":1}}')
    expect(await s.next((f) => f.type === 'error')).toEqual({ type: 'error', code: 'UNKNOWN_FRAME', message: 'Unknown frame type of type object' })
    s.send('{"type":[{"toString":1}]}')
    expect(await s.next((f) => f.type === 'error')).toMatchObject({ code: 'UNKNOWN_FRAME' })
    s.send({ type: 'ping' })
    expect(await s.next((f) => f.type === 'pong')).toEqual({ type: 'pong' })
  })

  it('refuses frames too deep or too many-valued to be a client frame before parsing them (cheap to refuse, within 16 KiB)', async () => {
    const a = await register(api)
    const s = await open(a.accessToken)
    const deep = '{"type":"ping","x":' + '['.repeat(8000) + ']'.repeat(8000) + '}'
    const wide = '{"type":"ping","x":[' + Array(5000).fill('[]').join(',') + ']}'
    expect(Buffer.byteLength(deep)).toBeLessThan(16 * 1024)
    expect(Buffer.byteLength(wide)).toBeLessThan(16 * 1024)
    s.send(deep)
    expect(await s.next((f) => f.type === 'error')).toEqual({ type: 'error', code: 'VALIDATION_FAILED', message: 'Frame nests deeper than 8 levels' })
    s.send(wide)
    expect(await s.next((f) => f.type === 'error')).toEqual({ type: 'error', code: 'VALIDATION_FAILED', message: 'Frame holds more than 64 values' })
    // Brackets, commas and escaped quotes inside strings are text, not structure.
    s.send(JSON.stringify({ type: 'ping', note: '[[[[[[[[[[{{{{{{{{{{,,,,,,,,' + ',\\"['.repeat(100) }))
    expect(await s.next((f) => f.type === 'pong')).toEqual({ type: 'pong' })
  })

  it('closes a frame over 16 KiB with 1009', async () => {
    const a = await register(api)
    const s = await open(a.accessToken)
    s.send({ type: 'ping', pad: 'x'.repeat(17 * 1024) })
    expect((await s.closed).code).toBe(1009)
  })

  it('closes a client that keeps sending garbage with 1008', async () => {
    const a = await register(api)
    const s = await open(a.accessToken)
    for (let i = 0; i < 30; i++) s.send('garbage')
    expect((await s.closed).code).toBe(1008)
  })
})

describe('frame rate (WS_FRAMES_PER_SECOND, default 50 a second, 100 as a burst)', () => {
  it('answers a flood of valid frames with error RATE_LIMITED past the budget, then closes it with 1008', async () => {
    const a = await register(api)
    const s = await open(a.accessToken)
    for (let i = 0; i < 3000; i++) s.send('{"type":"ping"}')
    expect((await s.closed).code).toBe(1008)
    const limited = s.frames.filter((f) => f.type === 'error')
    expect(limited.length).toBeGreaterThan(0)
    for (const f of limited) expect(f).toEqual({ type: 'error', code: 'RATE_LIMITED', message: expect.any(String) })
    // The burst and whatever refilled while the flood was read were answered; the rest was not.
    const pongs = s.frames.filter((f) => f.type === 'pong').length
    expect(pongs).toBeGreaterThanOrEqual(100)
    expect(pongs).toBeLessThan(1000)
    // The user is not shut out: a new socket works.
    const again = await open(a.accessToken)
    again.send({ type: 'ping' })
    expect(await again.next((f) => f.type === 'pong')).toEqual({ type: 'pong' })
  })

  it('does not limit normal use: typing, an acknowledgement per message and pings, even in a burst', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const posted = []
    for (let i = 0; i < 40; i++) posted.push(await post(api, a, group.id, `m${i}`))
    const s = await open(b.accessToken)
    s.send({ type: 'typing', conversationId: group.id })
    for (const m of posted) {
      s.send({ type: 'delivered', conversationId: group.id, seq: m.seq })
      s.send({ type: 'ping' })
    }
    for (let i = 0; i < posted.length; i++) await s.next((f) => f.type === 'pong')
    await s.none((f) => f.type === 'error')
    expect(s.ws.readyState).toBe(s.ws.OPEN)
  })
})

describe('slow consumers', () => {
  it('closes a reader that never reads with 4008 while others keep receiving', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const slow = await open(b.accessToken)
    const fast = await open(b.accessToken)
    // Stop reading from the network: the server's unsent backlog for this socket grows.
    ;(slow.ws as unknown as { _socket: { pause (): void, resume (): void } })._socket.pause()
    // ~16 KB frames (4-byte characters), well past what the kernel's socket buffers absorb.
    const body = '\u{1F600}'.repeat(3990)
    const posts = 600
    let next = 0
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (next < posts) {
        const i = next++
        await post(api, a, group.id, `${i} ${body}`)
      }
    }))
    const received: Frame[] = []
    for (let i = 0; i < posts; i++) received.push(await fast.next((f) => f.type === 'message.created', 10_000))
    expect(received.map((f) => f.seq)).toEqual(Array.from({ length: posts }, (_, i) => received[0]!.seq + i))
    ;(slow.ws as unknown as { _socket: { resume (): void } })._socket.resume()
    expect((await slow.closed).code).toBe(4008)
    // The server stopped queueing for it: it got far from everything.
    expect(slow.frames.filter((f) => f.type === 'message.created').length).toBeLessThan(posts / 2)
  }, 60_000)
})

describe('sessions', () => {
  it('logout closes that session\'s sockets with 4001 and leaves other sessions connected', async () => {
    const a = await register(api)
    const other = (await api.post('/v1/auth/login', { username: a.user.username, password: a.password })).body
    const s1 = await open(a.accessToken)
    const s2 = await open(other.accessToken)
    await api.post('/v1/auth/logout', { refreshToken: a.refreshToken })
    expect((await s1.closed).code).toBe(4001)
    s2.send({ type: 'ping' })
    await s2.next((f) => f.type === 'pong')
  })

  it('refresh-token reuse revokes the session and closes its sockets with 4001', async () => {
    const a = await register(api)
    const s = await open(a.accessToken)
    await api.post('/v1/auth/refresh', { refreshToken: a.refreshToken })
    await ageRotation(server, a.refreshToken)
    await api.post('/v1/auth/refresh', { refreshToken: a.refreshToken })
    expect((await s.closed).code).toBe(4001)
  })

  it('an access token expiring does not cut a live socket', async () => {
    const short = await startServer({ config: { accessTokenTtlSeconds: 3 } })
    try {
      const sapi = client(short.url)
      const b = await register(sapi)
      // Connect while the token is fresh; then let it expire under the open socket.
      const s = await open(b.accessToken, short.url)
      const a = await register(sapi)
      const group = await createGroup(sapi, a, [b])
      await new Promise((r) => setTimeout(r, 3300))
      expect((await sapi.get('/v1/me', { token: b.accessToken })).status).toBe(401)
      const fresh = (await sapi.post('/v1/auth/refresh', { refreshToken: a.refreshToken })).body
      await post(sapi, { ...a, accessToken: fresh.accessToken }, group.id, 'still here?')
      expect((await s.next((f) => f.type === 'message.created')).data.body).toBe('still here?')
    } finally {
      await short.close()
    }
  })
})

describe('heartbeat', () => {
  it('terminates a peer that stops answering pings, and it goes offline', async () => {
    const hb = await startServer({ config: { wsHeartbeatMs: 300, presenceGraceMs: 100 } })
    try {
      const hapi = client(hb.url)
      const [a, b] = await Promise.all([register(hapi), register(hapi)])
      await createDirect(hapi, a, b)
      const watcher = await open(a.accessToken, hb.url)
      const dead = await open(b.accessToken, hb.url)
      await watcher.next((f) => f.type === 'presence' && f.data.online === true)
      // A vanished peer: nothing it receives is read, so no pong comes back.
      ;(dead.ws as unknown as { _socket: { pause (): void } })._socket.pause()
      const offline = await watcher.next((f) => f.type === 'presence' && f.data.online === false, 5000)
      expect(offline.data.userId).toBe(b.user.id)
      // A healthy socket answers the pings and stays.
      watcher.send({ type: 'ping' })
      await watcher.next((f) => f.type === 'pong')
    } finally {
      await hb.close()
    }
  })
})

describe('connection limits', () => {
  it('refuses more sockets per user than configured with 429', async () => {
    const capped = await startServer({ config: { wsMaxConnectionsPerUser: 2 } })
    try {
      const a = await register(client(capped.url))
      await open(a.accessToken, capped.url)
      await open(a.accessToken, capped.url)
      await expect(connect(capped.url, a.accessToken)).rejects.toMatchObject({ statusCode: 429 })

      // Upgrades in parallel: each handshake under way holds its slot, so no more than the limit open.
      const b = await register(client(capped.url))
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => connect(capped.url, b.accessToken)))
      for (const r of results) if (r.status === 'fulfilled') sockets.push(r.value)
      const refused = results.filter((r) => r.status === 'rejected' && (r.reason as { statusCode?: number }).statusCode === 429).length
      expect({ opened: results.filter((r) => r.status === 'fulfilled').length, refused }).toEqual({ opened: 2, refused: 18 })
      // Closing one gives its slot back.
      const first = results.find((r) => r.status === 'fulfilled')!.value
      await first.close()
      await expect.poll(async () => {
        try {
          sockets.push(await connect(capped.url, b.accessToken))
          return true
        } catch {
          return false
        }
      }, { timeout: 5000 }).toBe(true)
    } finally {
      await capped.close()
    }
  })
})

describe('shutdown', () => {
  it('closes sockets with 1001', async () => {
    const other = await startServer()
    const a = await register(client(other.url))
    const s = await open(a.accessToken, other.url)
    await other.close()
    expect((await s.closed).code).toBe(1001)
  })
})

describe('reconnect and replay', () => {
  it('a client that missed messages and edits recovers exactly those events, once, in order', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const first = await open(b.accessToken)
    const m1 = await post(api, a, group.id, 'seen live')
    const live = await first.next((f) => f.type === 'message.created' && f.data.id === m1.id)
    const lastSeen = live.seq
    await first.close()

    // Offline: new messages, an edit of an old one, a deletion.
    const missed = []
    for (let i = 0; i < 5; i++) missed.push(await post(api, a, group.id, `missed ${i}`))
    await api.patch(`/v1/conversations/${group.id}/messages/${m1.id}`, { body: 'seen live, edited' }, { token: a.accessToken })
    await api.del(`/v1/conversations/${group.id}/messages/${missed[2].id}`, { token: a.accessToken })

    const back = await open(b.accessToken)
    const list = await api.get('/v1/conversations', { token: b.accessToken })
    const conv = list.body.conversations.find((c: { id: string }) => c.id === group.id)
    expect(conv.lastSeq).toBe(lastSeen + 7)
    const events = await replay(api, b, group.id, lastSeen)
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 7 }, (_, i) => lastSeen + i + 1))
    expect(events.map((e) => e.type)).toEqual([...Array(5).fill('message.created'), 'message.updated', 'message.deleted'])
    // A deleted message's content is gone from the log too: replay shows its tombstone.
    expect(events.slice(0, 5).map((e) => e.data.body)).toEqual(missed.map((m, i) => (i === 2 ? '' : m.body)))

    // Live again from there on, with no duplicate of what was replayed.
    const m2 = await post(api, a, group.id, 'after reconnect')
    const next = await back.next((f) => f.type === 'message.created')
    expect(next).toMatchObject({ seq: lastSeen + 8, data: { id: m2.id } })
  })
})
