// Hostile clients at the HTTP level: slow headers, absurd paging values,
// CORS when configured.
import { connect as tcpConnect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, expectError, register, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client

test.override('serverOptions', { config: { httpHeadersTimeoutMs: 1000, corsOrigins: ['https://app.example'] } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

describe('slow clients', () => {
  it('drops a connection that trickles its headers (slowloris) after the headers timeout', async () => {
    const port = Number(new URL(server.url).port)
    const started = Date.now()
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const socket = tcpConnect(port, '127.0.0.1', () => {
        socket.write('GET /health HTTP/1.1\r\nHost: x\r\n')
        const drip = setInterval(() => socket.write('X-Slow: 1\r\n'), 200)
        socket.on('close', () => { clearInterval(drip); resolve(Date.now() - started) })
      })
      socket.on('error', () => {})
      setTimeout(() => reject(new Error('connection was never closed')), 10_000)
    })
    expect(closedAfter).toBeGreaterThanOrEqual(900)
    expect(closedAfter).toBeLessThan(5000)
    expect((await api.get('/health')).status).toBe(200)
  })
})

describe('absurd paging values', () => {
  it.each([
    'limit=1000000', 'limit=1e20', 'limit=-5', 'limit=3.5', 'before=99999999999999999999', 'after=-1',
    'before=1e400', 'after=NaN'
  ])('history ?%s answers 400 VALIDATION_FAILED', async (query) => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    expectError(await api.get(`/v1/conversations/${group.id}/messages?${query}`, { token: a.accessToken }), 400, 'VALIDATION_FAILED')
  })

  it('a huge or forged list cursor answers 400, not 500', async () => {
    const a = await register(api)
    for (const cursor of ['x'.repeat(5000), 'bm90LWEtY3Vyc29y', Buffer.from('2026-01-01T00:00:00Z|not-a-uuid').toString('base64url'), Buffer.from('garbage|01a200c6-934e-7526-8860-7dcc54b1cc41').toString('base64url')]) {
      const res = await api.get(`/v1/conversations?cursor=${cursor}`, { token: a.accessToken })
      expectError(res, 400, 'VALIDATION_FAILED')
    }
  })

  it('the largest seq values are answered, not crashed on', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    await post(api, a, group.id, 'hi')
    const res = await api.get(`/v1/conversations/${group.id}/messages?before=2147483647&limit=100`, { token: a.accessToken })
    expect(res.status).toBe(200)
    expect(res.body.messages).toHaveLength(1)
    const ev = await api.get(`/v1/conversations/${group.id}/events?after=2147483647`, { token: a.accessToken })
    expect(ev.body).toEqual({ events: [], hasMore: false })
  })
})

describe('CORS', () => {
  it('allows configured origins only', async () => {
    const pre = (origin: string) => api.request('OPTIONS', '/v1/auth/login', { headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
    const ok = await pre('https://app.example')
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example')
    const other = await pre('https://evil.example')
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('an OPTIONS that is not a preflight is answered, not refused in plain text', async () => {
    const res = await api.request('OPTIONS', '/v1/auth/login', { headers: { origin: 'https://app.example' } })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(res.headers.get('access-control-allow-methods')).toContain('POST')
  })
})
