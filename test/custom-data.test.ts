// Custom message data (issue 17): an app-defined type and a metadata object
// on post and edit, validated with their own codes, stored, and the same in the
// answer, the push, the history, the replay and the conversation preview.
import { afterAll, describe, expect, it } from 'vitest'
import { createClient } from '../src/client/index.js'
import { createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

const as = (who: Account) => ({ token: who.accessToken })
const path = (id: string) => `/v1/conversations/${id}/messages`
const poll = { question: 'Lunch?', options: [{ id: 'a', label: 'Pizza' }, { id: 'b', label: 'Sushi' }], multiple: false }

describe('custom data', () => {
  it('type and metadata are stored, pushed, in history, replay and the preview; a non-text type with metadata needs no body', async () => {
    const [a, b] = await registerMany(api, 2)
    const group = await createGroup(api, a, [b])
    const socket = await connectReady(server.url, b.accessToken, sockets)

    const res = await api.post(path(group.id), { type: 'poll', metadata: poll }, as(a))
    expect(res.status).toBe(201)
    const message = res.body
    expect(message).toMatchObject({ type: 'poll', metadata: poll, body: '' })
    const pushed = await socket.next((f) => f.type === 'message.created' && f.data.id === message.id, 20_000)
    expect(pushed.data).toEqual(message)
    expect((await api.get(`${path(group.id)}?limit=1`, as(b))).body.messages[0]).toEqual(message)
    const [event] = await replay(api, b, group.id, message.seq - 1)
    expect(event.data).toEqual(message)
    expect((await api.get(`/v1/conversations/${group.id}`, as(b))).body.lastMessage).toEqual(message)

    // A plain post is text with no metadata; an idempotent retry answers the stored data.
    const plain = await post(api, a, group.id, 'hi')
    expect(plain).toMatchObject({ type: 'text', metadata: null })
    const keyed = await post(api, a, group.id, 'at', { type: 'geo.location-v2', metadata: { lat: 52.5, lng: 13.4 }, clientMessageId: 'loc1' })
    const again = await api.post(path(group.id), { body: 'at', type: 'geo.location-v2', metadata: { lat: 52.5, lng: 13.4 }, clientMessageId: 'loc1' }, as(a))
    expect(again.status).toBe(200)
    expect(again.body).toEqual(keyed)
  })

  it('refuses a bad type or metadata with its own code, and never fails another post of the same group commit', async () => {
    const [a, b] = await registerMany(api, 2)
    const group = await createGroup(api, a, [b])
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ body: 'x', type: 'Poll' }, 'INVALID_MESSAGE_TYPE'],
      [{ body: 'x', type: '1poll' }, 'INVALID_MESSAGE_TYPE'],
      [{ body: 'x', type: 'p'.repeat(33) }, 'INVALID_MESSAGE_TYPE'],
      [{ body: 'x', type: '' }, 'INVALID_MESSAGE_TYPE'],
      [{ body: 'x', type: 'a b' }, 'INVALID_MESSAGE_TYPE'],
      [{ body: 'x', metadata: [1, 2] }, 'INVALID_METADATA'],
      [{ body: 'x', metadata: 'text' }, 'INVALID_METADATA'],
      [{ body: 'x', metadata: 3 }, 'INVALID_METADATA'],
      [{ body: 'x', metadata: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } }, 'INVALID_METADATA'],
      [{ body: 'x', metadata: { blob: 'y'.repeat(4096) } }, 'METADATA_TOO_LARGE'],
      // Multi-byte characters count as their UTF-8 bytes.
      [{ body: 'x', metadata: { s: 'é'.repeat(2045) } }, 'METADATA_TOO_LARGE'],
      // No body: only with a non-text type and metadata (or files).
      [{ type: 'poll' }, 'VALIDATION_FAILED'],
      [{ type: 'poll', metadata: null }, 'VALIDATION_FAILED'],
      [{ metadata: poll }, 'VALIDATION_FAILED'],
      [{ type: 'text', metadata: poll }, 'VALIDATION_FAILED'],
      [{ body: 'x', metadata: { bad: 'nul\u0000' } }, 'VALIDATION_FAILED']
    ]
    // Each bad post together with a good one by another user: both in flight at once.
    for (const [bad, code] of cases) {
      const [refused, good] = await Promise.all([
        api.post(path(group.id), bad, as(a)),
        api.post(path(group.id), { body: `fine ${code}`, type: 'note', metadata: { ok: true } }, as(b))
      ])
      expectError(refused, 400, code)
      expect(good.status).toBe(201)
      expect(good.body).toMatchObject({ type: 'note', metadata: { ok: true } })
    }
    // Exactly at the limits is fine.
    const nested = { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } }
    expect((await api.post(path(group.id), { body: 'deep', metadata: nested }, as(a))).status).toBe(201)
    const big = { s: 'y'.repeat(4096 - '{"s":""}'.length) }
    const atLimit = await api.post(path(group.id), { body: 'big', metadata: big, type: 'z' + 'x'.repeat(31) }, as(a))
    expect(atLimit.status).toBe(201)
    expect(atLimit.body.metadata).toEqual(big)
    // Nothing refused was stored: only the good posts and these two.
    const history = await api.get(`${path(group.id)}?limit=100`, as(a))
    expect(history.body.messages).toHaveLength(cases.length + 2)
  })

  it('metadata nested thousands of levels deep answers 400 INVALID_METADATA on post and edit, not 500', async () => {
    const [a] = await registerMany(api, 1)
    const group = await createGroup(api, a, [])
    const deep = (depth: number) => `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`
    for (const depth of [5_000, 30_000]) {
      expectError(await api.request('POST', path(group.id), { rawBody: `{"body":"x","type":"poll","metadata":${deep(depth)}}`, ...as(a) }), 400, 'INVALID_METADATA')
    }
    const message = await post(api, a, group.id, 'target')
    expectError(await api.request('PATCH', `${path(group.id)}/${message.id}`, { rawBody: `{"metadata":${deep(30_000)}}`, ...as(a) }), 400, 'INVALID_METADATA')
  })

  it('an edit changes metadata and type (null clears), keeps what it leaves out, and is pushed; a deletion clears metadata', async () => {
    const [a, b] = await registerMany(api, 2)
    const group = await createGroup(api, a, [b])
    const socket = await connectReady(server.url, b.accessToken, sockets)
    const message = await post(api, a, group.id, 'vote', { type: 'poll', metadata: poll })
    const msgPath = `${path(group.id)}/${message.id}`

    const voted = { ...poll, votes: { a: [b.user.id] } }
    const edited = await api.patch(msgPath, { metadata: voted }, as(a))
    expect(edited.status).toBe(200)
    expect(edited.body).toMatchObject({ body: 'vote', type: 'poll', metadata: voted })
    expect(edited.body.editedAt).not.toBeNull()
    const pushed = await socket.next((f) => f.type === 'message.updated' && f.data.id === message.id, 20_000)
    expect(pushed.data).toEqual(edited.body)

    // The same again writes nothing (key order does not matter).
    const same = await api.patch(msgPath, { metadata: { votes: voted.votes, multiple: false, options: poll.options, question: 'Lunch?' } }, as(a))
    expect(same.body).toEqual(edited.body)
    expectError(await api.patch(msgPath, { type: 'Not OK' }, as(a)), 400, 'INVALID_MESSAGE_TYPE')
    expectError(await api.patch(msgPath, { metadata: [] }, as(a)), 400, 'INVALID_METADATA')
    expectError(await api.patch(msgPath, { metadata: { s: 'y'.repeat(5000) } }, as(a)), 400, 'METADATA_TOO_LARGE')
    expectError(await api.patch(msgPath, {}, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.patch(msgPath, { metadata: { x: 1 } }, as(b)), 403, 'FORBIDDEN')

    const cleared = await api.patch(msgPath, { type: 'text', metadata: null }, as(a))
    expect(cleared.body).toMatchObject({ body: 'vote', type: 'text', metadata: null })
    // A bodiless poll cannot lose what makes it a message.
    const bodiless = await post(api, a, group.id, undefined as unknown as string, { type: 'sticker', metadata: { id: 'cat' } })
    expectError(await api.patch(`${path(group.id)}/${bodiless.id}`, { metadata: null }, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.patch(`${path(group.id)}/${bodiless.id}`, { type: 'text' }, as(a)), 400, 'VALIDATION_FAILED')

    const deleted = await api.del(`${path(group.id)}/${bodiless.id}`, as(a))
    expect(deleted.body).toMatchObject({ body: '', type: 'sticker', metadata: null })
    const events = await replay(api, b, group.id, 0)
    const ofIt = events.filter((e) => e.data?.id === bodiless.id)
    expect(ofIt.map((e) => e.data.metadata)).toEqual([null, null])
    // Replay ends with what the edits left.
    const last = events.filter((e) => e.data?.id === message.id).at(-1)
    expect(last.data).toEqual(cleared.body)
  })

  it('the SDK posts and edits type and metadata, typed', async () => {
    const [a, b] = await registerMany(api, 2)
    const group = await createGroup(api, a, [b])
    const sdk = createClient({ baseUrl: server.url })
    await sdk.auth.login({ username: a.user.username, password: a.password })
    const sent = await sdk.messages.send(group.id, { type: 'location', metadata: { lat: 1, lng: 2 } })
    expect(sent.type).toBe('location')
    expect(sent.metadata).toEqual({ lat: 1, lng: 2 })
    const changed = await sdk.messages.edit(group.id, sent.id, { metadata: { lat: 3, lng: 4 } })
    expect(changed.metadata?.['lat']).toBe(3)
    const text = await sdk.messages.edit(group.id, (await sdk.messages.send(group.id, 'x')).id, 'y')
    expect(text).toMatchObject({ body: 'y', type: 'text', metadata: null })
    await sdk.logout()
  })
})
