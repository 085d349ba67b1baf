// Every failure, including framework-level ones, answers API.md's error body
// with a stable code, never a stack trace, and the server keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGroup } from './helpers/chat.js'
import { client, expectError, register, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client

beforeAll(async () => {
  server = await startServer({
    extend: (app) => {
      app.get('/test/boom', async () => { throw new Error('secret internal detail at /srv/app.ts:42') })
    }
  })
  api = client(server.url)
})
afterAll(() => server.close())

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
