// With BROKER=redis, rate limits and sockets per user are counted in Redis:
// two processes sharing the broker channel share each limit, so spreading
// requests or sockets over them gains a client nothing; a killed process's
// sockets stop counting by themselves; a Redis outage skips the limit
// instead of failing the request; and sockets closed during an outage give
// their slots back once Redis is back.
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import type { AppConfig } from '../src/config.js'
import { createTestDatabase, type TestDatabase } from './helpers/database.js'
import { client, expectError, register, uniqueName, type Account, type Client } from './helpers/http.js'
import { startDbProxy, type DbProxy } from './helpers/proxy.js'
import { startNode, stopNode, type ServerNode } from './helpers/process.js'
import { startServer, type TestServer } from './helpers/server.js'
import { connect, type TestSocket } from './helpers/ws.js'

const LIMIT = 4
const SOCKETS = 2
const SLOT_TTL_MS = 2_000
const JWT_SECRET = randomBytes(32).toString('hex')
let db: TestDatabase
let proxy: DbProxy
let channel: string
const servers: TestServer[] = []
const sockets: TestSocket[] = []
let child: ServerNode | undefined
const accounts: Account[] = []
let config: Partial<AppConfig>

beforeAll(async () => {
  db = await createTestDatabase()
  // Redis behind a proxy the test can cut; the two servers share it and one broker channel.
  proxy = await startDbProxy(inject('redisUrl'))
  channel = `limits-${randomBytes(4).toString('hex')}`
  config = {
    broker: 'redis' as const, redisUrl: proxy.url, brokerChannel: channel, authRateLimitMax: LIMIT, authRateLimitWindowMs: 60_000,
    wsMaxConnectionsPerUser: SOCKETS, wsSlotTtlMs: SLOT_TTL_MS
  }
  for (let i = 0; i < 2; i++) servers.push(await startServer({ databaseUrl: db.url, config, jwtSecret: JWT_SECRET }))
  // The accounts of the socket tests, registered outside the shared login limit (which the first test spends).
  const registrar = await startServer({ databaseUrl: db.url, jwtSecret: JWT_SECRET })
  try {
    for (let i = 0; i < 3; i++) accounts.push(await register(client(registrar.url)))
  } finally {
    await registrar.close()
  }
}, 120_000)

afterAll(async () => {
  for (const s of sockets) await s.close()
  await stopNode(child, 'SIGKILL')
  for (const s of servers) await s.close()
  await proxy?.close()
  await db?.drop()
})

describe('rate limits with BROKER=redis', () => {
  it('are shared by the processes: the limit holds over requests spread across both', async () => {
    const [a, b] = servers.map((s) => client(s.url))
    const attempt = (api: Client) => api.post('/v1/auth/login', { username: uniqueName('nobody'), password: 'wrong password here' })
    const answers = []
    for (let i = 0; i < LIMIT; i++) answers.push((await attempt(i % 2 === 0 ? a! : b!)).status)
    expect(answers).toEqual(Array(LIMIT).fill(401))
    // The limit is spent on both processes together: the next login on either is refused.
    const refused = await attempt(a!)
    expectError(refused, 429, 'RATE_LIMITED')
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expectError(await attempt(b!), 429, 'RATE_LIMITED')
  })

  it('are skipped while Redis is unreachable: requests are answered, not failed', async () => {
    await proxy.cut()
    try {
      // Another client address is not needed: the counters cannot be read, so no limit applies.
      const res = await client(servers[0]!.url).post('/v1/auth/register', { username: uniqueName('r'), password: 'correct horse battery' })
      expect(res.status).toBe(201)
    } finally {
      await proxy.restore()
    }
  })

  it('sockets per user: one limit over both processes; a socket closed anywhere frees its slot', async () => {
    // The test before cut Redis: both processes count in it again once reconnected (until then each counts its own).
    await vi.waitFor(() => { for (const s of servers) expect(s.app.limitsRedis?.status).toBe('ready') }, { timeout: 20_000, interval: 100 })
    const account = accounts[0]!
    const [a, b] = servers.map((s) => s.url)
    const open = async (url: string) => {
      const s = await connect(url, account.accessToken)
      sockets.push(s)
      await s.next((f) => f.type === 'ready')
      return s
    }
    const refused = async (url: string) => {
      const err = await connect(url, account.accessToken).then((s) => { sockets.push(s); return undefined }, (e: { statusCode?: number }) => e)
      expect(err?.statusCode).toBe(429)
    }
    const first = await open(a!)
    await open(b!)
    await refused(a!)
    await refused(b!)
    await first.close()
    // The slot comes back once the closing process has told Redis.
    await vi.waitFor(async () => { await open(b!) }, { timeout: 10_000, interval: 100 })
    await refused(a!)
  })

  it('sockets per user: the slots of a killed process lapse after WS_SLOT_TTL_MS, and the user may connect again', async () => {
    const account = accounts[1]!
    child = await startNode({
      NODE_ENV: 'test', LOG_LEVEL: 'warn', DATABASE_URL: db.url, BROKER: 'redis', REDIS_URL: proxy.url, BROKER_CHANNEL: channel,
      JWT_SECRET, WS_MAX_CONNECTIONS_PER_USER: String(SOCKETS), WS_SLOT_TTL_MS: String(SLOT_TTL_MS)
    })
    for (let i = 0; i < SOCKETS; i++) {
      const s = await connect(child.url, account.accessToken)
      sockets.push(s)
      await s.next((f) => f.type === 'ready')
    }
    const err = await connect(servers[0]!.url, account.accessToken).then(() => undefined, (e: { statusCode?: number }) => e)
    expect(err?.statusCode).toBe(429)
    // Killed: it neither closes its sockets nor gives their slots back.
    await stopNode(child, 'SIGKILL')
    const killedAt = Date.now()
    await vi.waitFor(async () => {
      const s = await connect(servers[0]!.url, account.accessToken)
      sockets.push(s)
    }, { timeout: 20_000, interval: 250 })
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(SLOT_TTL_MS / 2)
  }, 120_000)

  it('sockets per user: sockets closed while Redis was unreachable give their slots back once it is back', async () => {
    // Slots that would outlast the test if nothing gave them back.
    const server = await startServer({ databaseUrl: db.url, jwtSecret: JWT_SECRET, config: { ...config, wsSlotTtlMs: 60_000 } })
    servers.push(server)
    const account = accounts[2]!
    const open = async () => {
      const s = await connect(server.url, account.accessToken)
      sockets.push(s)
      await s.next((f) => f.type === 'ready')
      return s
    }
    const held = [await open(), await open()]
    await proxy.cut()
    try {
      // The user's network changes during the outage: both sockets close; their releases cannot reach Redis.
      for (const s of held) await s.close()
    } finally {
      await proxy.restore()
    }
    // Both connections back (the broker's, once back, closes the sockets open then with 4008, to replay).
    const subscriber = (server.app.realtime.broker as unknown as { sub: Redis }).sub
    await vi.waitFor(() => {
      expect(server.app.limitsRedis?.status).toBe('ready')
      expect(subscriber.status).toBe('ready')
    }, { timeout: 20_000, interval: 100 })
    // Counted in Redis again: the user gets the sockets of their limit, and no more.
    await open()
    await open()
    const err = await connect(server.url, account.accessToken).then((s) => { sockets.push(s); return undefined }, (e: { statusCode?: number }) => e)
    expect(err?.statusCode).toBe(429)
  }, 60_000)
})
