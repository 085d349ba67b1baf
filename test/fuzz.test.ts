// Property-based fuzzing of every documented REST route (params, query, body)
// and of WebSocket frames: never a 5xx, always the documented error shape,
// and the server answers a valid request right after.
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, register, type Account, type Client, type Response } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'
import { connect, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
let owner: Account
let other: Account
let group: { id: string }
let message: { id: string }
let routes: Array<{ method: string, path: string }>

beforeAll(async () => {
  server = await startServer()
  api = client(server.url)
  ;[owner, other] = await Promise.all([register(api), register(api)])
  group = await createGroup(api, owner, [other], 'fuzz')
  message = await post(api, owner, group.id, 'fuzz target')
  const doc = (await api.get('/docs/json')).body as { paths: Record<string, Record<string, unknown>> }
  routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })))
})
afterAll(() => server.close())

function checkShape (res: Response) {
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(500)
  if (res.status >= 400) {
    expect(Object.keys(res.body).sort()).toEqual(['code', 'error', 'message', 'statusCode'])
    expect(res.body.statusCode).toBe(res.status)
    expect(res.body.code).toMatch(/^[A-Z_]+$/)
  }
}

const idLike = fc.oneof(
  fc.constantFrom('GROUP', 'MESSAGE', 'USER', '0', '-1', '99999999999999999999', '%00', '..%2F..', 'null', '{}'),
  fc.uuid(),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 20 })
)
const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ unit: 'grapheme', maxLength: 300 }), fc.integer(), fc.double(), fc.constant(null))
const fieldNames = ['username', 'password', 'displayName', 'refreshToken', 'type', 'title', 'memberIds', 'userId', 'userIds', 'body', 'clientMessageId', 'replyToId', 'seq', 'role']
const body = fc.oneof(
  fc.dictionary(fc.constantFrom(...fieldNames), value, { maxKeys: 5 }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ maxLength: 200 }).map((raw) => ({ raw }))
)
const queryArb = fc.dictionary(fc.constantFrom('before', 'after', 'limit', 'cursor', 'query', 'x'), fc.oneof(fc.string({ maxLength: 40 }), fc.integer().map(String), fc.constantFrom('1e400', 'NaN', '-0', '')), { maxKeys: 3 })

describe('REST fuzzing', () => {
  it('never answers 5xx on any route, whatever the params, query and body', async () => {
    for (const route of routes) {
      await fc.assert(fc.asyncProperty(idLike, idLike, queryArb, fc.option(body, { nil: undefined }), async (id, sub, q, b) => {
        const resolve = (v: string) => v === 'GROUP' ? group.id : v === 'MESSAGE' ? message.id : v === 'USER' ? other.user.id : encodeURIComponent(v)
        const path = route.path.replace('{id}', resolve(id)).replace('{messageId}', resolve(sub)).replace('{userId}', resolve(sub))
        const qs = new URLSearchParams(q).toString()
        const opts = b === undefined || route.method === 'GET' || route.method === 'DELETE'
          ? {}
          : typeof b === 'object' && b !== null && 'raw' in b && typeof b.raw === 'string' ? { rawBody: b.raw } : { body: b }
        const res = await api.request(route.method, `${path}${qs === '' ? '' : `?${qs}`}`, { ...opts, token: owner.accessToken })
        checkShape(res)
      }), { numRuns: 30 })
    }
    // Still serving. (The fuzzer acts as the group's owner, so it may legitimately
    // have removed the other member or deleted the message; the owner stays.)
    expect((await api.get('/v1/me', { token: owner.accessToken })).status).toBe(200)
    expect((await api.post(`/v1/conversations/${group.id}/messages`, { body: 'after fuzz' }, { token: owner.accessToken })).status).toBe(201)
  }, 120_000)
})

describe('WebSocket fuzzing', () => {
  it('answers any frame with an error frame or a close of 1008/1009, never a crash', async () => {
    let sock: TestSocket = await connect(server.url, owner.accessToken)
    const frame = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.record({ type: fc.constantFrom('typing', 'ping', 'message', 'TYPING', ''), conversationId: fc.oneof(fc.uuid(), fc.string({ maxLength: 40 }), fc.constant(group.id)) }).map((v) => JSON.stringify(v)),
      fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u))
    )
    await fc.assert(fc.asyncProperty(frame, async (f) => {
      if (sock.ws.readyState !== sock.ws.OPEN) {
        const { code } = await sock.closed
        expect([1008, 1009]).toContain(code)
        sock = await connect(server.url, owner.accessToken)
      }
      sock.send(f)
    }), { numRuns: 300 })
    await new Promise((r) => setTimeout(r, 200))
    for (const f of sock.frames) if (f.type === 'error') expect(Object.keys(f).sort()).toEqual(['code', 'message', 'type'])
    const fresh = await connect(server.url, owner.accessToken)
    fresh.send({ type: 'ping' })
    await fresh.next((f) => f.type === 'pong')
    await fresh.close()
    await sock.close()
  }, 60_000)
})
