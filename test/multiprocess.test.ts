// Two real server processes (src/server.ts) on one database, with the live
// stream between them on each multi-process broker: user A on process 1 and
// user B on process 2 see each other's messages, edits, typing, read receipts
// and presence, in seq order; a logout on one closes sockets on the other; a
// process killed with SIGKILL has its users go offline within
// PRESENCE_TTL_MS, and they reconnect to the other and replay without loss.
// `redis-cluster` is BROKER=redis with REDIS_CLUSTER=true on a Redis Cluster
// started for it (pushes by user shard, test/broker-cluster.test.ts).
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { createTestDatabase, type TestDatabase } from './helpers/database.js'
import { raceLogouts } from './helpers/races.js'
import { client, type Client } from './helpers/http.js'
import { startNode, stopNode, type ServerNode } from './helpers/process.js'
import { startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js'
import { users } from './helpers/users.js'
import { connect, type Frame, type TestSocket } from './helpers/ws.js'

const TTL = 3000
const GRACE = 300

describe.each(['postgres', 'redis', 'redis-cluster'] as const)('two server processes on BROKER=%s', (broker) => {
  let db: TestDatabase
  let cluster: RedisCluster | undefined
  let p1: ServerNode
  let p2: ServerNode
  let api1: Client
  let api2: Client
  const sockets: TestSocket[] = []

  async function open (node: ServerNode, token: string) {
    const s = await connect(node.url, token)
    sockets.push(s)
    await s.next((f) => f.type === 'ready')
    return s
  }
  const isPresence = (userId: string, online?: boolean) => (f: Frame) =>
    f.type === 'presence' && f.data.userId === userId && (online === undefined || f.data.online === online)
  const isCreated = (id: string) => (f: Frame) => f.type === 'message.created' && f.data.id === id

  beforeAll(async () => {
    db = await createTestDatabase()
    if (broker === 'redis-cluster') cluster = await startRedisCluster()
    const env = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: db.url,
      BROKER: broker === 'redis-cluster' ? 'redis' : broker,
      REDIS_URL: cluster?.url ?? inject('redisUrl'),
      REDIS_CLUSTER: String(cluster !== undefined),
      BROKER_CHANNEL: `t_${randomBytes(4).toString('hex')}`,
      JWT_SECRET: randomBytes(32).toString('hex'),
      PRESENCE_TTL_MS: String(TTL),
      PRESENCE_GRACE_MS: String(GRACE),
      AUTH_RATE_LIMIT_MAX: '100000',
      LOGIN_RATE_LIMIT_PER_USERNAME: '100000',
      POST_RATE_LIMIT_PER_SECOND: '100000',
      MEMBERSHIP_RATE_LIMIT_PER_MINUTE: '100000'
    }
    ;[p1, p2] = await Promise.all([startNode(env), startNode(env)])
    api1 = client(p1.url)
    api2 = client(p2.url)
  }, 120_000)
  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close()))
    await Promise.all([stopNode(p1), stopNode(p2)])
    await db?.drop()
    await cluster?.stop()
  })

  it('messages, edits and deletions made on either process reach the other, in seq order', async () => {
    const [a, b] = await users(api1, 2)
    const group = await createGroup(api1, a, [b])
    const as = await open(p1, a.accessToken)
    const bs = await open(p2, b.accessToken)

    const m1 = await post(api1, a, group.id, 'from process 1')
    expect(await bs.next(isCreated(m1.id))).toEqual({ type: 'message.created', conversationId: group.id, seq: m1.seq, createdAt: m1.createdAt, data: m1 })
    const m2 = await post(api2, b, group.id, 'from process 2')
    expect((await as.next(isCreated(m2.id))).data).toEqual(m2)

    await api2.patch(`/v1/conversations/${group.id}/messages/${m2.id}`, { body: 'edited on 2' }, { token: b.accessToken })
    expect((await as.next((f) => f.type === 'message.updated')).data).toMatchObject({ id: m2.id, body: 'edited on 2' })
    await api1.del(`/v1/conversations/${group.id}/messages/${m1.id}`, { token: a.accessToken })
    expect((await bs.next((f) => f.type === 'message.deleted')).data).toMatchObject({ id: m1.id, body: '' })

    // Writers on both processes at once: every socket sees one gapless ascending run.
    const start = (await api1.get(`/v1/conversations/${group.id}`, { token: a.accessToken })).body.lastSeq as number
    const perUser = 20
    await Promise.all([[api1, a], [api2, b]].map(async ([api, who]) => {
      for (let i = 0; i < perUser; i++) await post(api as Client, who as typeof a, group.id, `burst ${i}`)
    }))
    for (const s of [as, bs]) {
      const seqs: number[] = []
      for (let i = 0; i < perUser * 2; i++) seqs.push((await s.next((f) => f.type === 'message.created' && f.seq > start)).seq)
      expect(seqs).toEqual(Array.from({ length: perUser * 2 }, (_, i) => start + i + 1))
    }
  })

  it('typing and read receipts cross processes, to the reader\'s other devices too', async () => {
    const [a, b] = await users(api1, 2)
    const group = await createGroup(api1, a, [b])
    const as = await open(p1, a.accessToken)
    const bs = await open(p2, b.accessToken)
    const bOther = await open(p1, b.accessToken)

    as.send({ type: 'typing', conversationId: group.id })
    expect(await bs.next((f) => f.type === 'typing')).toEqual({ type: 'typing', conversationId: group.id, data: { userId: a.user.id } })

    const m = await post(api1, a, group.id, 'read me')
    expect((await api2.post(`/v1/conversations/${group.id}/read`, { seq: m.seq }, { token: b.accessToken })).status).toBe(204)
    const expected = { type: 'read', conversationId: group.id, data: { userId: b.user.id, seq: m.seq } }
    expect(await as.next((f) => f.type === 'read')).toEqual(expected)
    expect(await bOther.next((f) => f.type === 'read')).toEqual(expected)
    expect(await bs.next((f) => f.type === 'read')).toEqual(expected)
  })

  it('presence spans processes; a quick reconnect to the other process does not flap', async () => {
    const [a, b] = await users(api1, 2)
    await createDirect(api1, a, b)
    const as = await open(p1, a.accessToken)
    const b1 = await open(p2, b.accessToken)
    expect((await as.next(isPresence(b.user.id))).data).toEqual({ userId: b.user.id, online: true, lastSeenAt: null })
    expect((await api1.get(`/v1/users/${b.user.id}`, { token: a.accessToken })).body.online).toBe(true)

    await b1.close()
    const b2 = await open(p1, b.accessToken)
    await as.none(isPresence(b.user.id), GRACE + 1000)
    expect((await api2.get(`/v1/users/${b.user.id}`, { token: a.accessToken })).body.online).toBe(true)

    const closedAt = Date.now()
    await b2.close()
    const offline = await as.next(isPresence(b.user.id, false))
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(GRACE - 50)
    expect(offline.data).toEqual({ userId: b.user.id, online: false, lastSeenAt: expect.any(String) })
    const profile = await api2.get(`/v1/users/${b.user.id}`, { token: a.accessToken })
    expect(profile.body).toMatchObject({ online: false, lastSeenAt: offline.data.lastSeenAt })
  })

  it('a logout on process 1 closes that session\'s socket on process 2 with 4001, and its token stops working there', async () => {
    const [a] = await users(api1, 1)
    // Process 2 has seen the session live (and caches that briefly).
    expect((await api2.get('/v1/me', { token: a.accessToken })).status).toBe(200)
    const s = await open(p2, a.accessToken)
    expect((await api1.post('/v1/auth/logout', { refreshToken: a.refreshToken })).status).toBe(204)
    expect((await s.closed).code).toBe(4001)
    expect((await api2.get('/v1/me', { token: a.accessToken })).status).toBe(401)
  })

  it('logout on process 1 racing first requests and upgrades on process 2: no socket of an ended session stays open, no token keeps working', async () => {
    const accounts = await users(api1, 4)
    const result = await raceLogouts({ authUrl: p1.url, raceUrl: p2.url, accounts, rounds: 25 })
    expect(result.unexpected).toEqual([])
    expect(result.socketsOpened).toBeGreaterThan(0)
    // Process 2 learns of the logout through the broker (milliseconds later),
    // so what is checked is that nothing it admitted meanwhile outlives it.
    expect({ stillWorking: result.stillWorking, socketsLeftOpen: result.socketsLeftOpen, otherCloseCodes: result.otherCloseCodes })
      .toEqual({ stillWorking: 0, socketsLeftOpen: 0, otherCloseCodes: [] })
  }, 120_000)

  it('a member removed on process 1 has their typing refused on process 2 at once, and relayed to nobody', async () => {
    const [owner, removed] = await users(api1, 2)
    const group = await createGroup(api1, owner, [removed])
    const os = await open(p1, owner.accessToken)
    const rs = await open(p2, removed.accessToken)
    rs.send({ type: 'typing', conversationId: group.id })
    await os.next((f) => f.type === 'typing')
    expect((await api1.del(`/v1/conversations/${group.id}/members/${removed.user.id}`, { token: owner.accessToken })).status).toBe(204)
    rs.send({ type: 'typing', conversationId: group.id })
    expect(await rs.next((f) => f.type === 'error')).toMatchObject({ code: 'NOT_FOUND' })
    await os.none((f) => f.type === 'typing', 500)
  })

  // Cutting the broker connections is done from the database, so this one is for BROKER=postgres.
  if (broker === 'postgres') it('a logout process 2 missed while cut off from the broker stops the token there once it reconnects', async () => {
    const [a] = await users(api1, 1)
    expect((await api2.get('/v1/me', { token: a.accessToken })).status).toBe(200)
    // Every broker connection of this database is cut, and the logout follows
    // at once: its notification reaches no process.
    const admin = new pg.Client(db.url)
    await admin.connect()
    try {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'switchboard-broker' AND datname = current_database()`)
    } finally {
      await admin.end()
    }
    expect((await api1.post('/v1/auth/logout', { refreshToken: a.refreshToken })).status).toBe(204)
    // Reconnected, process 2 knows it may have missed messages and drops its
    // cache of live sessions (which would otherwise keep the token for 30 s).
    await expect.poll(async () => (await api2.get('/v1/me', { token: a.accessToken })).status, { timeout: 5_000, interval: 100 }).toBe(401)
  })

  // Last: process 2 does not come back.
  it('SIGKILL: the users of the dead process go offline within PRESENCE_TTL_MS, reconnect to the other and replay without loss', async () => {
    const [a, b] = await users(api1, 2)
    const group = await createGroup(api1, a, [b])
    const as = await open(p1, a.accessToken)
    const bs = await open(p2, b.accessToken)
    await as.next(isPresence(b.user.id, true))
    const seen = await post(api1, a, group.id, 'before the crash')
    const lastSeq = (await bs.next(isCreated(seen.id))).seq as number

    p2.proc.child.kill('SIGKILL')
    const killedAt = Date.now()
    expect((await bs.closed).code).toBe(1006)
    const missed = []
    for (let i = 0; i < 5; i++) missed.push(await post(api1, a, group.id, `missed ${i}`))

    const offline = await as.next(isPresence(b.user.id, false), TTL + 3000)
    expect(Date.now() - killedAt).toBeLessThan(TTL + 500)
    expect(offline.data.lastSeenAt).toEqual(expect.any(String))

    const back = await open(p1, b.accessToken)
    const events = await replay(api1, b, group.id, lastSeq)
    expect(events.map((e) => e.seq)).toEqual(missed.map((_, i) => lastSeq + i + 1))
    expect(events.map((e) => e.data.id)).toEqual(missed.map((m) => m.id))
    const live = await post(api1, a, group.id, 'after the crash')
    expect(await back.next((f) => f.type === 'message.created')).toMatchObject({ seq: lastSeq + 6, data: { id: live.id } })
  }, 30_000)
})
