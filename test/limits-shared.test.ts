// With BROKER=redis, rate limits are counted in Redis: two processes sharing
// the broker channel share each limit, so spreading requests over them gains
// a client nothing; and a Redis outage skips the limit instead of failing the
// request.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from './helpers/database.js'
import { client, expectError, uniqueName, type Client } from './helpers/http.js'
import { startDbProxy, type DbProxy } from './helpers/proxy.js'
import { startServer, type TestServer } from './helpers/server.js'

const LIMIT = 4
let db: TestDatabase
let proxy: DbProxy
const servers: TestServer[] = []

beforeAll(async () => {
  db = await createTestDatabase()
  // Redis behind a proxy the test can cut; the two servers share it and one broker channel.
  proxy = await startDbProxy(inject('redisUrl'))
  const config = { broker: 'redis' as const, redisUrl: proxy.url, brokerChannel: `limits-${randomBytes(4).toString('hex')}`, authRateLimitMax: LIMIT, authRateLimitWindowMs: 60_000 }
  for (let i = 0; i < 2; i++) servers.push(await startServer({ databaseUrl: db.url, config }))
}, 120_000)

afterAll(async () => {
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
})
