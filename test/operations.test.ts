import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from './helpers/database.js'
import { client, expectError, register, uniqueName } from './helpers/http.js'
import { startDbProxy, type DbProxy } from './helpers/proxy.js'
import { startServer, type TestServer } from './helpers/server.js'

describe('health and readiness', () => {
  let db: TestDatabase
  let proxy: DbProxy
  let server: TestServer

  beforeAll(async () => {
    db = await createTestDatabase()
    proxy = await startDbProxy(db.url)
    server = await startServer({ databaseUrl: proxy.url, config: { databaseConnectTimeoutMs: 2_000 } })
  })
  afterAll(async () => {
    await server.close()
    await proxy.close()
    await db.drop()
  })

  it('/ready goes 503 while the database is unreachable and 200 again once it is back, without a restart', async () => {
    const api = client(server.url)
    expect((await api.get('/health')).status).toBe(200)
    // Ready once its first connection is made (on a loaded machine that can take longer than the connect timeout).
    await expect.poll(async () => (await api.get('/ready')).status, { timeout: 30_000 }).toBe(200)
    const acct = await register(api)

    await proxy.cut()
    const started = Date.now()
    expectError(await api.get('/ready'), 503, 'UNAVAILABLE')
    expect((await api.get('/health')).status).toBe(200)
    // Requests that need the database fail fast with 503, they do not hang.
    expectError(await api.post('/v1/auth/login', { username: acct.user.username, password: acct.password }), 503, 'UNAVAILABLE')
    expect(Date.now() - started).toBeLessThan(5000)

    await proxy.restore()
    await expect.poll(async () => (await api.get('/ready')).status, { timeout: 10_000 }).toBe(200)
    expect((await api.post('/v1/auth/login', { username: acct.user.username, password: acct.password })).status).toBe(200)
  })
})

describe('rate limits', () => {
  it('register and login answer 429 RATE_LIMITED with Retry-After past the configured limit', async () => {
    const server = await startServer({ config: { authRateLimitMax: 3, authRateLimitWindowMs: 60_000 } })
    try {
      const api = client(server.url)
      for (let i = 0; i < 3; i++) expect((await api.post('/v1/auth/register', { username: uniqueName(), password: 'password123' })).status).toBe(201)
      const limited = await api.post('/v1/auth/register', { username: uniqueName(), password: 'password123' })
      expectError(limited, 429, 'RATE_LIMITED')
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
      // Login has its own budget per address.
      for (let i = 0; i < 3; i++) expect((await api.post('/v1/auth/login', { username: 'nobody', password: 'password123' })).status).toBe(401)
      expectError(await api.post('/v1/auth/login', { username: 'nobody', password: 'password123' }), 429, 'RATE_LIMITED')
    } finally {
      await server.close()
    }
  })
})

describe('graceful shutdown', () => {
  it('finishes in-flight requests, then refuses new ones', async () => {
    let entered!: () => void
    const inFlight = new Promise<void>((resolve) => { entered = resolve })
    const server = await startServer({
      extend: (app) => {
        app.get('/test/slow', async () => {
          entered()
          await new Promise((r) => setTimeout(r, 400))
          return { done: true }
        })
      }
    })
    const slow = fetch(`${server.url}/test/slow`).then(async (r) => ({ status: r.status, body: await r.json() }))
    await inFlight
    const closing = server.close()
    expect(await slow).toEqual({ status: 200, body: { done: true } })
    await closing
    await expect(fetch(`${server.url}/health`)).rejects.toThrow()
  })
})
