// Every failure, including framework-level ones, answers API.md's error body
// with a stable code, never a stack trace, and the server keeps serving.
import { connect as tcpConnect } from 'node:net'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createGroup, post } from './helpers/chat.js'
import { client, expectError, register, type Client, type Response } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { connect } from './helpers/ws.js'

let server: TestServer
let api: Client

test.override('serverOptions', {
  extend: (app) => {
    app.get('/test/boom', async () => { throw new Error('secret internal detail at /srv/app.ts:42') })
  }
})
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

describe('error responses', () => {
  it('unknown route: 404 NOT_FOUND', async () => {
    expectError(await api.get('/v1/does-not-exist'), 404, 'NOT_FOUND')
    expectError(await api.request('PUT', '/v1/me'), 404, 'NOT_FOUND')
  })

  it('malformed JSON: 400 VALIDATION_FAILED', async () => {
    expectError(await api.request('POST', '/v1/auth/login', { rawBody: '{"username": "a",' }), 400, 'VALIDATION_FAILED')
    expectError(await api.request('POST', '/v1/auth/login', { rawBody: '' }), 400, 'VALIDATION_FAILED')
  })

  // PostgreSQL text cannot hold U+0000: it failed the statement (500), and
  // with it every other post of the same group commit.
  it('U+0000 in any string: 400 VALIDATION_FAILED naming the field; posts committed with it are unharmed', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const path = `/v1/conversations/${group.id}/messages`
    const [nulBody, fine, nulKey, nulTitle, nulQuery] = await Promise.all([
      api.post(path, { body: 'a\u0000b' }, { token: a.accessToken }),
      api.post(path, { body: 'fine' }, { token: b.accessToken }),
      api.post(path, { body: 'x', clientMessageId: 'k\u0000' }, { token: b.accessToken }),
      api.patch(`/v1/conversations/${group.id}`, { title: 'a\u0000' }, { token: a.accessToken }),
      api.get('/v1/users?query=ab%00', { token: a.accessToken })
    ])
    expectError(nulBody!, 400, 'VALIDATION_FAILED')
    expect(nulBody!.body.message).toBe('body/body must not contain the character U+0000')
    expect(fine!.status).toBe(201)
    expectError(nulKey!, 400, 'VALIDATION_FAILED')
    expectError(nulTitle!, 400, 'VALIDATION_FAILED')
    expectError(nulQuery!, 400, 'VALIDATION_FAILED')
    expect(nulQuery!.body.message).toBe('querystring/query must not contain the character U+0000')
    const history = await api.get(path, { token: a.accessToken })
    expect(history.body.messages.map((m: { body: string }) => m.body)).toEqual(['fine'])
  })

  // ajv-formats' uuid accepted urn:uuid:<uuid> (and upper case), which
  // PostgreSQL's uuid input refuses or spells differently: 500 on every id.
  it('an id in any spelling but the canonical one: 400 VALIDATION_FAILED naming the field, on every id-carrying input', async () => {
    const [a, b, c] = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const message = await post(api, a, group.id, 'target')
    const spellings = (id: string) => [
      `urn:uuid:${id}`, `{${id}}`, id.toUpperCase(), id.replaceAll('-', ''), ` ${id}`, `${id}\n`,
      id.replaceAll('-', '').replace(/(.{4})/g, '$1-').slice(0, -1)
    ]
    const as = { token: a.accessToken }
    const calls: Array<[string, string, (v: string) => Promise<{ status: number, body: any }>]> = [
      ['params/id', group.id, (v) => api.get(`/v1/conversations/${encodeURIComponent(v)}`, as)],
      ['params/id', b.user.id, (v) => api.get(`/v1/users/${encodeURIComponent(v)}`, as)],
      ['params/messageId', message.id, (v) => api.patch(`/v1/conversations/${group.id}/messages/${encodeURIComponent(v)}`, { body: 'x' }, as)],
      ['params/userId', b.user.id, (v) => api.del(`/v1/conversations/${group.id}/members/${encodeURIComponent(v)}`, as)],
      ['body/userId', c.user.id, (v) => api.post('/v1/conversations', { type: 'direct', userId: v }, as)],
      ['body/memberIds/0', c.user.id, (v) => api.post('/v1/conversations', { type: 'group', title: 't', memberIds: [v] }, as)],
      ['body/userIds/0', c.user.id, (v) => api.post(`/v1/conversations/${group.id}/members`, { userIds: [v] }, as)],
      ['body/replyToId', message.id, (v) => api.post(`/v1/conversations/${group.id}/messages`, { body: 'x', replyToId: v }, as)],
      ['querystring/userIds', b.user.id, (v) => api.get(`/v1/presence?userIds=${encodeURIComponent(v)}`, as)]
    ]
    for (const [field, id, call] of calls) {
      for (const v of spellings(id)) {
        const res = await call(v)
        expect({ field, v, status: res.status, code: res.body.code }).toEqual({ field, v, status: 400, code: 'VALIDATION_FAILED' })
        expect(res.body.message).toContain(field)
      }
    }
    // Nothing was changed by the refused calls.
    const after = await api.get(`/v1/conversations/${group.id}`, as)
    expect(after.body.members.map((m: { user: { id: string } }) => m.user.id).sort()).toEqual([a.user.id, b.user.id].sort())
  })

  // A lone surrogate is not Unicode: jsonb refused it (500 on rename), text
  // stored it as U+FFFD (so two different clientMessageIds became one key).
  it('a lone surrogate in any string: 400 VALIDATION_FAILED naming the field, in body, keys and WebSocket frames', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const path = `/v1/conversations/${group.id}/messages`
    const as = { token: a.accessToken }
    const cases: Array<[string, Promise<Response>]> = [
      ['body/clientMessageId', api.post(path, { body: 'first', clientMessageId: 'k\ud800' }, as)],
      ['body/clientMessageId', api.post(path, { body: 'second', clientMessageId: 'k\ud801' }, as)],
      ['body/body', api.post(path, { body: 'x\udc00y' }, as)],
      ['body/title', api.patch(`/v1/conversations/${group.id}`, { title: 'a\ud800' }, as)],
      ['body/title', api.post('/v1/conversations', { type: 'group', title: '\udfffb', memberIds: [] }, as)],
      ['body/displayName', api.post('/v1/auth/register', { username: `s${Date.now()}`, password: 'long enough pw', displayName: '\ud83d' })],
      ['body/password', api.post('/v1/auth/login', { username: 'whoever', password: 'pass\udbffword' })],
      ['body', api.post(path, { body: 'x', ['k\ud800']: 1 }, as)]
    ]
    for (const [field, pending] of cases) {
      const res = await pending
      expectError(res, 400, 'VALIDATION_FAILED')
      expect(res.body.message).toMatch(new RegExp(`^${field} must not contain a lone surrogate`))
    }
    expect((await api.get(path, as)).body.messages).toEqual([])
    expect((await api.get(`/v1/conversations/${group.id}`, as)).body.title).toBe('group')

    const sock = await connect(server.url, a.accessToken)
    await sock.next((f) => f.type === 'ready')
    sock.send('{"type":"ping","note":"\\ud800"}')
    expect(await sock.next((f) => f.type === 'error' || f.type === 'pong')).toEqual({
      type: 'error', code: 'VALIDATION_FAILED', message: expect.stringMatching(/^frame\/note must not contain a lone surrogate/)
    })
    sock.send(`{"type":"typing","conversationId":"${group.id}","x":"\\u0000"}`)
    expect(await sock.next((f) => f.type === 'error')).toMatchObject({ code: 'VALIDATION_FAILED', message: 'frame/x must not contain the character U+0000' })
    sock.send({ type: 'ping' })
    await sock.next((f) => f.type === 'pong')
    await sock.close()
  })

  it('a list cursor whose time PostgreSQL cannot hold: 400 VALIDATION_FAILED', async () => {
    const a = await register(api)
    const id = '0196a1b2-0000-7000-8000-000000000000'
    const cursor = (s: string) => Buffer.from(s).toString('base64url')
    for (const at of ['-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '-000001-01-01T00:00:00.000Z',
      '2026-01-01', '2026-01-01T00:00:00+05:00', '1', 'Infinity']) {
      const res = await api.get(`/v1/conversations?cursor=${cursor(`${at}|${id}`)}`, { token: a.accessToken })
      expect({ at, status: res.status, code: res.body.code }).toEqual({ at, status: 400, code: 'VALIDATION_FAILED' })
    }
    for (const bad of [`2026-01-01T00:00:00.000Z|${id.toUpperCase()}`, `2026-01-01T00:00:00.000Z|urn:uuid:${id}`, `2026-01-01T00:00:00.000Z|${id}|x`]) {
      expectError(await api.get(`/v1/conversations?cursor=${cursor(bad)}`, { token: a.accessToken }), 400, 'VALIDATION_FAILED')
    }
    // A well-formed cursor of the past still pages.
    expect((await api.get(`/v1/conversations?cursor=${cursor(`2026-01-01T00:00:00.000Z|${id}`)}`, { token: a.accessToken })).body).toEqual({ conversations: [], nextCursor: null })
  })

  it('a 200 KiB body: 413 PAYLOAD_TOO_LARGE, and the server keeps serving', async () => {
    const big = JSON.stringify({ username: 'x', password: 'y'.repeat(200 * 1024) })
    expectError(await api.request('POST', '/v1/auth/register', { rawBody: big }), 413, 'PAYLOAD_TOO_LARGE')
    const acct = await register(api)
    expect((await api.get('/v1/me', { token: acct.accessToken })).status).toBe(200)
  })

  it('unsupported content type: 415 with a code', async () => {
    const res = await api.request('POST', '/v1/auth/login', { rawBody: 'username=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE')
  })

  // Fastify answers these before a route (and the error handler) is reached: they had Fastify's
  // FST_ERR_BAD_URL / FST_ERR_MAX_PARAM_LENGTH codes (414), and Node's refusals no code at all.
  it('framework-level refusals (bad percent-encoding, an overlong path parameter, a malformed request) keep the stable codes', async () => {
    const a = await register(api)
    const as = { token: a.accessToken }
    const badUrl = await api.get('/v1/conversations/%FF', { ...as, headers: { 'x-request-id': 'trace-bad-url' } })
    expectError(badUrl, 400, 'VALIDATION_FAILED')
    expect(badUrl.headers.get('x-request-id')).toBe('trace-bad-url')
    expectError(await api.put(`/v1/conversations/${crypto.randomUUID()}/messages/${crypto.randomUUID()}/reactions/%E0%A4`, undefined, as), 400, 'VALIDATION_FAILED')
    expectError(await api.get(`/v1/conversations/${'a'.repeat(201)}`, as), 400, 'VALIDATION_FAILED')
    for (const contentType of ['application/json;;', 'no slash', 'application/json; charset=latin1']) {
      const res = await api.request('POST', '/v1/auth/login', { rawBody: '{}', headers: { 'content-type': contentType } })
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(res.status).toBeLessThan(500)
      expect(res.body.code).toMatch(/^(VALIDATION_FAILED|UNSUPPORTED_MEDIA_TYPE)$/)
    }
    // Node's HTTP parser refuses these; the answer is written on the socket, which then closes.
    const raw = async (request: string) => await new Promise<{ status: number, body: any }>((resolve, reject) => {
      let text = ''
      const socket = tcpConnect(Number(new URL(server.url).port), '127.0.0.1', () => socket.write(request))
      socket.setEncoding('utf8')
      socket.on('data', (chunk: string) => { text += chunk })
      socket.on('error', () => {})
      socket.on('close', () => {
        const [head = '', body = ''] = text.split('\r\n\r\n')
        if (!/^HTTP\/1\.1 \d{3} /.test(head)) { reject(new Error(`no HTTP answer: ${JSON.stringify(text)}`)); return }
        resolve({ status: Number(head.slice(9, 12)), body: JSON.parse(body) })
      })
    })
    const malformed = await raw('GET /health HTTP/1.1\r\nHost: x\r\nNot a header\r\n\r\n')
    expect(malformed).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', code: 'VALIDATION_FAILED', message: expect.any(String) } })
    const overflow = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(20_000)}\r\n\r\n`)
    expect(overflow.status).toBe(431)
    expect(overflow.body.code).toBe('PAYLOAD_TOO_LARGE')
    // An Expect Node does not know: it answered 417 with no body.
    const expectation = await raw('GET /health HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n')
    expect(expectation).toEqual({ status: 417, body: { statusCode: 417, error: 'Expectation Failed', code: 'VALIDATION_FAILED', message: expect.any(String) } })
    expect((await api.get('/health')).status).toBe(200)
  })

  it('an internal failure: 500 INTERNAL_ERROR without details', async () => {
    const res = await api.get('/test/boom')
    expectError(res, 500, 'INTERNAL_ERROR')
    expect(JSON.stringify(res.body)).not.toMatch(/secret|\/srv|at /)
  })

  it('every response carries security headers and a request id', async () => {
    const res = await api.get('/health', { headers: { 'x-request-id': 'trace-abc-123' } })
    expect(res.headers.get('x-request-id')).toBe('trace-abc-123')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'")
    const generated = await api.get('/health', { headers: { 'x-request-id': 'bad id with spaces' } })
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('a refused WebSocket upgrade is an HTTP response with the same security headers and request id', async () => {
    const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
      const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/v1/ws`, { headers: { authorization: 'Bearer not-a-token', 'x-request-id': 'trace-upgrade-1' } })
      ws.once('unexpected-response', (_req, res) => {
        expect(res.statusCode).toBe(401)
        resolve(res.headers)
        res.resume()
        ws.terminate()
      })
      ws.once('open', () => { reject(new Error('upgrade accepted')) })
      ws.once('error', reject)
    })
    expect(headers['x-request-id']).toBe('trace-upgrade-1')
    expect(headers['x-content-type-options']).toBe('nosniff')
    expect(headers['content-security-policy']).toContain("default-src 'self'")
    expect(headers['strict-transport-security']).toBeDefined()
  })

  it('CORS is closed by default', async () => {
    const res = await api.request('OPTIONS', '/v1/auth/login', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('serves the OpenAPI document and the docs page', async () => {
    const doc = await api.get('/docs/json')
    expect(doc.status).toBe(200)
    expect(doc.body.openapi).toBe('3.1.0')
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/auth/register', '/v1/auth/login', '/v1/auth/refresh', '/v1/auth/logout', '/v1/me', '/v1/users/{id}', '/v1/users']))
    const ui = await fetch(`${server.url}/docs/`)
    expect(ui.status).toBe(200)
    expect(await ui.text()).toContain('<html')
  })
})
