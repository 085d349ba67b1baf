// The upgrade is authenticated: no valid token, no socket.
import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { client, expectError, register, type Client } from './helpers/http.js'
import { startServer, test, type TestServer } from './helpers/server.js'
import { connect } from './helpers/ws.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

describe('WebSocket upgrade', () => {
  it('accepts a Bearer header or an access_token query, and the first frame is ready', async () => {
    const acct = await register(api)
    for (const via of ['header', 'query'] as const) {
      const sock = await connect(server.url, acct.accessToken, { via })
      const ready = await sock.next()
      expect(ready).toEqual({ type: 'ready', userId: acct.user.id, connectionId: expect.any(String), heartbeatMs: 30000, cursor: expect.any(String) })
      await sock.close()
    }
  })

  it('refuses a missing, malformed, forged or revoked token with HTTP 401 before any socket opens', async () => {
    const acct = await register(api)
    const [h, p] = acct.accessToken.split('.')
    const forged = `${h}.${p}.${createHmac('sha256', 'other').update(`${h}.${p}`).digest('base64url')}`
    for (const token of ['', 'garbage', forged]) {
      await expect(connect(server.url, token)).rejects.toMatchObject({ statusCode: 401 })
    }
    await api.post('/v1/auth/logout', { refreshToken: acct.refreshToken })
    await expect(connect(server.url, acct.accessToken)).rejects.toMatchObject({ statusCode: 401 })
  })

  it('refuses a token signed with the real key whose sid or sub is not a canonical id with 401', async () => {
    const acct = await register(api)
    const { sid } = JSON.parse(Buffer.from(acct.accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string }
    for (const claims of [{ sub: acct.user.id, sid: 'not-a-uuid' }, { sub: acct.user.id, sid: sid.toUpperCase() }, { sub: 'x', sid }]) {
      await expect(connect(server.url, server.app.jwt.sign(claims))).rejects.toMatchObject({ statusCode: 401 })
    }
  })

  it('answers a plain GET without the upgrade with 426 UPGRADE_REQUIRED and the error body, after the token check', async () => {
    const acct = await register(api)
    for (const res of [
      await api.get('/v1/ws', { token: acct.accessToken }),
      await api.get(`/v1/ws?access_token=${encodeURIComponent(acct.accessToken)}`)
    ]) {
      expectError(res, 426, 'UPGRADE_REQUIRED')
      expect(res.headers.get('upgrade')).toBe('websocket')
    }
    expectError(await api.get('/v1/ws'), 401, 'UNAUTHORIZED')
    expectError(await api.get('/v1/ws', { token: 'garbage' }), 401, 'UNAUTHORIZED')
    // The upgrade itself is unchanged.
    const sock = await connect(server.url, acct.accessToken)
    expect(await sock.next()).toMatchObject({ type: 'ready', userId: acct.user.id })
    sock.send({ type: 'ping' })
    expect(await sock.next()).toEqual({ type: 'pong' })
    await sock.close()
  })

  it('refuses an expired token with 401', async () => {
    const short = await startServer({ config: { accessTokenTtlSeconds: 1 } })
    try {
      const acct = await register(client(short.url))
      await new Promise((r) => setTimeout(r, 2100))
      await expect(connect(short.url, acct.accessToken)).rejects.toMatchObject({ statusCode: 401 })
    } finally {
      await short.close()
    }
  })
})
