// Two real server processes on one database and broker, where the broker
// refuses process 1's publications for real: a proxy between process 1 and
// the broker resets (or stalls) the connection that carries a publication,
// while its posts still commit and answer 201. Every connected client, on
// both processes, must then either receive those messages or be closed with
// 4008 and find them all when it replays.
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createGroup, post, replay } from './helpers/chat.js'
import { createTestDatabase, type TestDatabase } from './helpers/database.js'
import { client, type Account, type Client } from './helpers/http.js'
import { startDbProxy, type DbProxy } from './helpers/proxy.js'
import { startNode, stopNode, type ServerNode } from './helpers/process.js'
import { users } from './helpers/users.js'
import { connect, type TestSocket } from './helpers/ws.js'

const RETRY_MS = 8_000

describe.each(['postgres', 'redis'] as const)('publications the broker refuses, two processes on BROKER=%s', (broker) => {
  let db: TestDatabase
  let proxy: DbProxy
  let p1: ServerNode
  let p2: ServerNode
  let api1: Client
  const sockets: TestSocket[] = []
  // What the connection carrying a publication sends.
  const publication = broker === 'postgres' ? 'pg_notify' : 'publish'

  interface Watched { node: ServerNode, who: Account, socket: TestSocket }

  async function open (node: ServerNode, who: Account): Promise<Watched> {
    const socket = await connect(node.url, who.accessToken)
    sockets.push(socket)
    await socket.next((f) => f.type === 'ready')
    return { node, who, socket }
  }

  /** The poster and a member, each with a socket on either process, and a message all four have seen. */
  async function setUp () {
    const [a, b] = await users(api1, 2)
    const group = await createGroup(api1, a, [b])
    const watched = [await open(p1, a), await open(p1, b), await open(p2, a), await open(p2, b)]
    const first = await post(api1, a, group.id, 'before')
    for (const w of watched) await w.socket.next((f) => f.type === 'message.created' && f.data.id === first.id, 15_000)
    return { a, group, watched, lastSeq: first.seq as number }
  }

  async function postWhileRefused (a: Account, conversationId: string, n: number, body = (i: number) => `while refused ${i}`) {
    const posted = []
    for (let i = 0; i < n; i++) posted.push(await post(api1, a, conversationId, body(i)))
    expect(posted.map((m) => m.id)).toHaveLength(n)
    // A publication met the fault after the last answer: the last one is
    // refused too (it is sent just after its answer), so no later
    // publication reveals the gap to the other process.
    const failuresBefore = proxy.failures
    await expect.poll(() => proxy.failures, { timeout: 15_000 }).toBeGreaterThan(failuresBefore)
    return posted.map((m) => m.id as string)
  }

  /** 'received' once the socket has every id (in order), or the close code if it closed first. */
  async function outcome (socket: TestSocket, ids: string[], timeoutMs = 45_000): Promise<'received' | number> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const got = socket.frames.filter((f) => f.type === 'message.created' && ids.includes(f.data.id)).map((f) => f.data.id)
      if (new Set(got).size === ids.length) {
        expect([...new Set(got)]).toEqual(ids)
        return 'received'
      }
      if (socket.ws.readyState === WebSocket.CLOSED) return (await socket.closed).code
      if (Date.now() > deadline) throw new Error(`socket neither received ${ids.length} messages nor closed; got ${got.length}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** Each socket has them all, or was closed with 4008 and finds them all by replaying; then live pushes flow again. */
  async function expectNoneMissed (watched: Watched[], conversationId: string, lastSeq: number, ids: string[]) {
    const results = await Promise.all(watched.map(async (w) => {
      const result = await outcome(w.socket, ids)
      if (result === 'received') return { w, result, socket: w.socket }
      expect(result).toBe(4008)
      const socket = (await open(w.node, w.who)).socket
      const events = await replay(client(w.node.url), w.who, conversationId, lastSeq)
      expect(events.filter((e) => e.type === 'message.created').map((e) => e.data.id)).toEqual(ids)
      return { w, result, socket }
    }))
    const live = await post(api1, watched[0]!.who, conversationId, 'after')
    for (const r of results) await r.socket.next((f) => f.type === 'message.created' && f.data.id === live.id, 15_000)
    return results.map((r) => r.result)
  }

  beforeAll(async () => {
    db = await createTestDatabase()
    const redisUrl = inject('redisUrl')
    proxy = await startDbProxy(broker === 'postgres' ? db.url : redisUrl)
    const env = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'error',
      DATABASE_URL: db.url,
      BROKER: broker,
      REDIS_URL: redisUrl,
      BROKER_CHANNEL: `t_${randomBytes(4).toString('hex')}`,
      BROKER_PUBLISH_RETRY_MS: String(RETRY_MS),
      JWT_SECRET: randomBytes(32).toString('hex'),
      AUTH_RATE_LIMIT_MAX: '100000',
      LOGIN_RATE_LIMIT_PER_USERNAME: '100000',
      POST_RATE_LIMIT_PER_SECOND: '100000'
    }
    const viaProxy = broker === 'postgres' ? { DATABASE_URL: proxy.url } : { REDIS_URL: proxy.url }
    ;[p1, p2] = await Promise.all([startNode({ ...env, ...viaProxy }), startNode(env)])
    api1 = client(p1.url)
  }, 120_000)
  afterAll(async () => {
    proxy?.failOn(undefined)
    await Promise.all(sockets.map((s) => s.close()))
    await Promise.all([stopNode(p1), stopNode(p2)])
    await proxy?.close()
    await db?.drop()
  })

  it('a refusal shorter than BROKER_PUBLISH_RETRY_MS: the retries deliver every message, in order, on both processes', async () => {
    const { a, group, watched, lastSeq } = await setUp()
    proxy.failOn(publication)
    const ids = await postWhileRefused(a, group.id, 5)
    proxy.failOn(undefined)
    expect(await expectNoneMissed(watched, group.id, lastSeq, ids)).toEqual(['received', 'received', 'received', 'received'])
  }, 90_000)

  it('a refusal past BROKER_PUBLISH_RETRY_MS: every socket on both processes closes with 4008 and its client replays them all', async () => {
    const { a, group, watched, lastSeq } = await setUp()
    proxy.failOn(publication)
    const ids = await postWhileRefused(a, group.id, 5)
    // Process 1 gives up: its own sockets missed them and close.
    for (const w of watched.filter((x) => x.node === p1)) expect(await outcome(w.socket, ids)).toBe(4008)
    // The broker takes publications again: the loss notice makes process 2 close its sockets too.
    proxy.failOn(undefined)
    expect(await expectNoneMissed(watched, group.id, lastSeq, ids)).toEqual([4008, 4008, 4008, 4008])
  }, 120_000)

  if (broker === 'postgres') {
    it('staging a large payload fails (the broker_payloads insert): retried with the small ones behind it, in order', async () => {
      const { a, group, watched, lastSeq } = await setUp()
      proxy.failOn('insert into broker_payloads')
      // Over 8000 bytes: staged; the short ones after it wait behind it.
      const ids = await postWhileRefused(a, group.id, 3, (i) => i === 0 ? '\u{1F600}'.repeat(3000) : `short ${i}`)
      proxy.failOn(undefined)
      expect(await expectNoneMissed(watched, group.id, lastSeq, ids)).toEqual(['received', 'received', 'received', 'received'])
    }, 90_000)
  }

  if (broker === 'redis') {
    it('a publisher connection that stops answering (half-open) is replaced and the messages delivered', async () => {
      const { a, group, watched, lastSeq } = await setUp()
      proxy.failOn(publication, 'stall')
      const ids = await postWhileRefused(a, group.id, 3)
      proxy.failOn(undefined)
      const results = await expectNoneMissed(watched, group.id, lastSeq, ids)
      expect(results.every((r) => r === 'received' || r === 4008)).toBe(true)
    }, 90_000)
  }
})
