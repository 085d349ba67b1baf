// Every conversation route: a non-member gets exactly what a missing id gets
// (404 NOT_FOUND, nothing leaked); no token is 401; malformed ids are 400.
import { describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, expectError, register, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client
let owner: Account
let member: Account
let outsider: Account
let group: any
let message: any

const MISSING = '01890000-0000-7000-8000-000000000000'

test.beforeAll(async ({ server: started }) => {
  server = started
  api = client(server.url)
  ;[owner, member, outsider] = await Promise.all([register(api), register(api), register(api)])
  group = await createGroup(api, owner, [member], 'private')
  message = await post(api, owner, group.id, 'for members only')
})

type Route = [method: 'get' | 'post' | 'patch' | 'del', path: (id: string, messageId: string) => string, body?: unknown]

const routes = (): Route[] => [
  ['get', (id) => `/v1/conversations/${id}`],
  ['patch', (id) => `/v1/conversations/${id}`, { title: 'mine now' }],
  ['post', (id) => `/v1/conversations/${id}/members`, { userIds: [outsider.user.id] }],
  ['patch', (id) => `/v1/conversations/${id}/members/${member.user.id}`, { role: 'admin' }],
  ['del', (id) => `/v1/conversations/${id}/members/${member.user.id}`],
  ['del', (id) => `/v1/conversations/${id}/members/${outsider.user.id}`],
  ['post', (id) => `/v1/conversations/${id}/read`, { seq: 1 }],
  ['post', (id) => `/v1/conversations/${id}/messages`, { body: 'hi', clientMessageId: 'probe' }],
  ['get', (id) => `/v1/conversations/${id}/messages`],
  ['get', (id) => `/v1/conversations/${id}/messages?after=0`],
  ['patch', (id, m) => `/v1/conversations/${id}/messages/${m}`, { body: 'edited' }],
  ['del', (id, m) => `/v1/conversations/${id}/messages/${m}`],
  ['get', (id) => `/v1/conversations/${id}/events`]
]

function call (route: Route, who: Account | undefined, id: string, messageId: string) {
  const [method, path, body] = route
  const opts = who === undefined ? {} : { token: who.accessToken }
  return method === 'get' || method === 'del' ? api[method](path(id, messageId), opts) : api[method](path(id, messageId), body, opts)
}

describe('a non-member', () => {
  it('gets 404 NOT_FOUND on every route, with the body a missing conversation gets', async () => {
    const lastSeq = (await api.get(`/v1/conversations/${group.id}`, { token: owner.accessToken })).body.lastSeq
    for (const route of routes()) {
      const real = await call(route, outsider, group.id, message.id)
      const missing = await call(route, outsider, MISSING, MISSING)
      expectError(real, 404, 'NOT_FOUND')
      expect(real.body, `${route[0]} ${route[1](':id', ':messageId')}`).toEqual(missing.body)
      expect(JSON.stringify(real.body)).not.toContain(group.id)
    }
    // And nothing changed.
    const after = (await api.get(`/v1/conversations/${group.id}`, { token: owner.accessToken })).body
    expect(after).toMatchObject({ lastSeq, title: 'private' })
    expect(after.members).toHaveLength(2)
    expect((await api.get(`/v1/conversations/${group.id}/messages`, { token: owner.accessToken })).body.messages).toEqual([message])
    expect((await api.get('/v1/conversations', { token: outsider.accessToken })).body.conversations).toEqual([])
  })

  it('an existing message id in a conversation the caller is not in is just as unknown', async () => {
    const mine = await createGroup(api, outsider, [])
    const viaMine = await api.patch(`/v1/conversations/${mine.id}/messages/${message.id}`, { body: 'x' }, { token: outsider.accessToken })
    const unknown = await api.patch(`/v1/conversations/${mine.id}/messages/${MISSING}`, { body: 'x' }, { token: outsider.accessToken })
    expectError(viaMine, 404, 'NOT_FOUND')
    expect(viaMine.body).toEqual(unknown.body)
  })
})

describe('every route', () => {
  it('answers 401 without a token', async () => {
    for (const route of routes()) expectError(await call(route, undefined, group.id, message.id), 401, 'UNAUTHORIZED')
    expectError(await api.get('/v1/conversations'), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/conversations', { type: 'group', title: 'x' }), 401, 'UNAUTHORIZED')
  })

  it('answers 400 for a malformed conversation or message id', async () => {
    for (const route of routes()) {
      expectError(await call(route, member, 'not-a-uuid', message.id), 400, 'VALIDATION_FAILED')
    }
    for (const route of routes().filter(([, path]) => path('x', 'MSG').includes('MSG'))) {
      expectError(await call(route, member, group.id, '1234'), 400, 'VALIDATION_FAILED')
    }
    expectError(await api.del(`/v1/conversations/${group.id}/members/nope`, { token: owner.accessToken }), 400, 'VALIDATION_FAILED')
  })
})
