// Posting (idempotent, gapless seqs under concurrent writers), editing and
// deleting with their permissions, replies, and what events they write.
import { describe, expect, it } from 'vitest'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { startServer, test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const messagesPath = (id: string, messageId?: string) => `/v1/conversations/${id}/messages${messageId === undefined ? '' : `/${messageId}`}`

async function allHistory (who: Account, id: string) {
  const all: any[] = []
  let after = 0
  for (;;) {
    const res = await api.get(`${messagesPath(id)}?after=${after}&limit=100`, as(who))
    all.push(...res.body.messages)
    if (!res.body.hasMore) return all
    after = all[all.length - 1].seq
  }
}

describe('posting', () => {
  it('answers 201 with the stored message, trimmed, as message.created at the next seq', async () => {
    const [a, b] = await users(2)
    const group = await createGroup(api, a, [b])
    const res = await api.post(messagesPath(group.id), { body: '  hello  \n' }, as(b))
    expect(res.status).toBe(201)
    expect(res.body).toEqual({
      id: expect.any(String), conversationId: group.id, seq: group.lastSeq + 1, senderId: b.user.id, body: 'hello',
      clientMessageId: null, replyToId: null, createdAt: expect.any(String), editedAt: null, deletedAt: null,
      mentions: [], mentionsAll: false, attachments: [], type: 'text', metadata: null, threadRootId: null, thread: null
    })
    const [stored] = await server.sql('SELECT body, seq FROM messages WHERE id = $1', [res.body.id])
    expect(stored).toEqual({ body: 'hello', seq: res.body.seq })
    const events = await replay(api, a, group.id, group.lastSeq)
    expect(events).toEqual([{ conversationId: group.id, seq: res.body.seq, type: 'message.created', createdAt: res.body.createdAt, data: res.body }])
    expect((await api.get(`/v1/conversations/${group.id}`, as(a))).body.lastSeq).toBe(res.body.seq)
  })

  it.each([
    ['no body', {}, "body must have required property 'body'"],
    ['an empty body', { body: '' }, 'body/body must NOT have fewer than 1 characters'],
    ['a blank body', { body: ' \n\t ' }, 'body/body must NOT have fewer than 1 characters'],
    ['4001 characters', { body: 'x'.repeat(4001) }, 'body/body must NOT have more than 4000 characters'],
    ['a number', { body: 42 }, 'body/body must be string'],
    ['a 65-character clientMessageId', { body: 'hi', clientMessageId: 'c'.repeat(65) }, 'body/clientMessageId'],
    ['an empty clientMessageId', { body: 'hi', clientMessageId: '' }, 'body/clientMessageId'],
    ['a malformed replyToId', { body: 'hi', replyToId: 'not-a-uuid' }, 'body/replyToId']
  ])('rejects %s with VALIDATION_FAILED', async (_label, body, message) => {
    const [a] = await users(1)
    const group = await createGroup(api, a, [])
    const res = await api.post(messagesPath(group.id), body, as(a))
    expectError(res, 400, 'VALIDATION_FAILED')
    expect(res.body.message).toContain(message)
    expect((await server.sql('SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1', [group.id]))[0].n).toBe(0)
  })

  it('accepts 4000 characters (counted as characters, not UTF-16 units)', async () => {
    const [a] = await users(1)
    const group = await createGroup(api, a, [])
    expect((await api.post(messagesPath(group.id), { body: 'x'.repeat(4000) }, as(a))).status).toBe(201)
    const emoji = await api.post(messagesPath(group.id), { body: '😀'.repeat(4000) }, as(a))
    expect(emoji.status).toBe(201)
    expect([...emoji.body.body]).toHaveLength(4000)
  })

  // API.md: 1-4000 characters after trimming; the padding does not count
  // (the request body limit still caps the raw size).
  it('accepts 4000 characters with surrounding whitespace, posted and edited, and stores them trimmed', async () => {
    const [a] = await users(1)
    const group = await createGroup(api, a, [])
    const text = 'y'.repeat(3998) + ' z'
    const padded = await api.post(messagesPath(group.id), { body: `\n  ${text} \t\n` }, as(a))
    expect(padded.status).toBe(201)
    expect(padded.body.body).toBe(text)
    const edited = await api.patch(messagesPath(group.id, padded.body.id), { body: `   ${text.replace('z', 'w')}   ` }, as(a))
    expect(edited.status).toBe(200)
    expect(edited.body.body).toBe(text.replace('z', 'w'))
    expectError(await api.post(messagesPath(group.id), { body: `  ${text}x  ` }, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.post(messagesPath(group.id), { body: `${' '.repeat(70_000)}x` }, as(a)), 413, 'PAYLOAD_TOO_LARGE')
  })

  it('replies only to a message of the same conversation the sender can see (else 400)', async () => {
    const [a, b] = await users(2)
    const group = await createGroup(api, a, [b])
    const other = await createGroup(api, a, [])
    const original = await post(api, a, group.id, 'question')
    const elsewhere = await post(api, a, other.id, 'elsewhere')
    const reply = await api.post(messagesPath(group.id), { body: 'answer', replyToId: original.id }, as(b))
    expect(reply.status).toBe(201)
    expect(reply.body.replyToId).toBe(original.id)
    expectError(await api.post(messagesPath(group.id), { body: 'x', replyToId: elsewhere.id }, as(b)), 400, 'VALIDATION_FAILED')
    expectError(await api.post(messagesPath(group.id), { body: 'x', replyToId: '01890000-0000-7000-8000-000000000000' }, as(b)), 400, 'VALIDATION_FAILED')
    expect((await api.post(messagesPath(group.id), { body: 'no reply', replyToId: null, clientMessageId: null }, as(b))).status).toBe(201)
  })
})

describe('idempotent posting with clientMessageId', () => {
  it('a retry returns 200 with the original and stores nothing', async () => {
    const [a] = await users(1)
    const group = await createGroup(api, a, [])
    const first = await api.post(messagesPath(group.id), { body: 'once', clientMessageId: 'c-1' }, as(a))
    const retry = await api.post(messagesPath(group.id), { body: 'once (retry)', clientMessageId: 'c-1' }, as(a))
    expect([first.status, retry.status]).toEqual([201, 200])
    expect(retry.body).toEqual(first.body)
    const rows = await server.sql('SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1', [group.id])
    expect(rows[0].n).toBe(1)
    expect((await api.get(`/v1/conversations/${group.id}`, as(a))).body.lastSeq).toBe(first.body.seq)
  })

  it('is per sender and per conversation', async () => {
    const [a, b] = await users(2)
    const group = await createGroup(api, a, [b])
    const other = await createGroup(api, a, [])
    const statuses = [
      (await api.post(messagesPath(group.id), { body: 'x', clientMessageId: 'same' }, as(a))).status,
      (await api.post(messagesPath(group.id), { body: 'x', clientMessageId: 'same' }, as(b))).status,
      (await api.post(messagesPath(other.id), { body: 'x', clientMessageId: 'same' }, as(a))).status
    ]
    expect(statuses).toEqual([201, 201, 201])
  })

  it('stores exactly one message for a parallel double submit', async () => {
    const [a] = await users(1)
    const group = await createGroup(api, a, [])
    const results = await Promise.all(Array.from({ length: 10 }, () =>
      api.post(messagesPath(group.id), { body: 'tap tap', clientMessageId: 'double' }, as(a))))
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201])
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1)
    const [{ n }] = await server.sql('SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1', [group.id])
    expect(n).toBe(1)
    const events = await replay(api, a, group.id)
    expect(events.map((e) => e.seq)).toEqual([1, 2])
  })

  // Found by an audit: the retry answered the root's stored summary, which counts every live reply.
  it('answers a re-added member\'s root without the thread summary of replies posted while they were out', async () => {
    const [owner, x, other] = await users(3)
    const g = await createGroup(api, owner, [x, other], 'retry')
    const root = await post(api, x, g.id, 'my root', { clientMessageId: 'k1' })
    expect((await api.del(`/v1/conversations/${g.id}/members/${x.user.id}`, as(owner))).status).toBe(204)
    await post(api, other, g.id, 'reply while x is out', { threadRootId: root.id })
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [x.user.id] }, as(owner))).status).toBe(200)

    // the export (README "Export") already hides the gap's reply from this root's summary
    const exported = (await api.get('/v1/me/export', as(x))).body.messages.find((m: any) => m.id === root.id)
    expect(exported.thread).toBeNull()

    const retry = await api.post(messagesPath(g.id), { body: 'my root', clientMessageId: 'k1' }, as(x))
    expect(retry.status).toBe(200)
    expect(retry.body.id).toBe(root.id)
    // x never saw the reply: its count, time and author must not be told
    expect(retry.body.thread).toBeNull()
  })

  it('answers a root\'s thread summary as its sender may see it: the export\'s, the stored one within their current window', async () => {
    const [owner, x, seen, unseen] = await users(4)
    const g = await createGroup(api, owner, [x, seen, unseen])
    const root = await post(api, x, g.id, 'root', { clientMessageId: 'r1' })
    await post(api, seen, g.id, 'before the removal', { threadRootId: root.id })
    expect((await api.del(`/v1/conversations/${g.id}/members/${x.user.id}`, as(owner))).status).toBe(204)
    await post(api, unseen, g.id, 'while x is out', { threadRootId: root.id })
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [x.user.id] }, as(owner))).status).toBe(200)
    const last = await post(api, seen, g.id, 'after the re-add', { threadRootId: root.id })
    const current = await post(api, x, g.id, 'root of this window', { clientMessageId: 'r2' })
    await post(api, unseen, g.id, 'reply x sees', { threadRootId: current.id })

    const retry = await api.post(messagesPath(g.id), { body: 'root', clientMessageId: 'r1' }, as(x))
    expect(retry.status).toBe(200)
    expect(retry.body.thread).toEqual({ replyCount: 2, lastReplyAt: last.createdAt, participants: [seen.user.id] })
    const exported = (await api.get('/v1/me/export', as(x))).body.messages
    expect(exported.find((m: any) => m.id === root.id).thread).toEqual(retry.body.thread)
    // In the sender's current window the stored summary is theirs, as history shows it.
    const again = await api.post(messagesPath(g.id), { body: 'root of this window', clientMessageId: 'r2' }, as(x))
    expect(again.status).toBe(200)
    expect(again.body.thread).toMatchObject({ replyCount: 1, participants: [unseen.user.id] })
    const history = (await api.get(messagesPath(g.id), as(x))).body.messages
    expect(again.body).toEqual(history.find((m: any) => m.id === current.id))
  })

  it('answers a message an admin deleted meanwhile with its tombstone, as history shows it', async () => {
    const [owner, x, other] = await users(3)
    const g = await createGroup(api, owner, [x, other])
    const bytes = Buffer.from('secret notes')
    const created = await api.post('/v1/uploads', { conversationId: g.id, filename: 'notes.txt', contentType: 'text/plain', size: bytes.length }, as(x))
    expect(created.status).toBe(201)
    expect((await fetch(new URL(created.body.uploadUrl, server.url), { method: created.body.method, headers: created.body.headers, body: bytes })).ok).toBe(true)
    expect((await api.post(`/v1/uploads/${created.body.upload.id}/complete`, undefined, as(x))).status).toBe(200)
    const input = {
      body: `secret for @${other.user.username}`, type: 'poll', metadata: { question: 'secret?' },
      attachments: [created.body.upload.id], clientMessageId: 'gone'
    }
    const original = await post(api, x, g.id, input.body, input)
    expect(original).toMatchObject({ mentions: [other.user.id], metadata: { question: 'secret?' }, attachments: [expect.objectContaining({ id: created.body.upload.id })] })
    const tombstone = await api.del(messagesPath(g.id, original.id), as(owner))
    expect(tombstone.status).toBe(200)

    const retry = await api.post(messagesPath(g.id), input, as(x))
    expect(retry.status).toBe(200)
    expect(retry.body).toMatchObject({ id: original.id, body: '', deletedAt: expect.any(String), mentions: [], mentionsAll: false, metadata: null, attachments: [] })
    expect(retry.body).toEqual(tombstone.body)
    const history = (await api.get(messagesPath(g.id), as(x))).body.messages
    expect(retry.body).toEqual(history.find((m: any) => m.id === original.id))
    expect(JSON.stringify(retry.body)).not.toContain('secret')
  })
})

describe('concurrent posting', () => {
  it('5 users x 20 parallel posts get seqs exactly lastSeq+1..lastSeq+100, in history and in the event log', async () => {
    const members = await users(5)
    const group = await createGroup(api, members[0]!, members.slice(1))
    const results = await Promise.all(members.flatMap((u, i) =>
      Array.from({ length: 20 }, (_, n) => api.post(messagesPath(group.id), { body: `u${i} #${n}` }, as(u)))))
    expect(results.every((r) => r.status === 201)).toBe(true)
    const expected = Array.from({ length: 100 }, (_, i) => group.lastSeq + 1 + i)
    expect(results.map((r) => r.body.seq).sort((x, y) => x - y)).toEqual(expected)

    const history = await allHistory(members[3]!, group.id)
    expect(history.map((m) => m.seq)).toEqual(expected)
    expect(new Set(history.map((m) => m.id)).size).toBe(100)
    const events = await replay(api, members[2]!, group.id)
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: group.lastSeq + 100 }, (_, i) => i + 1))
    // A message's seq is its message.created event's seq.
    const created = events.filter((e) => e.type === 'message.created')
    expect(created.map((e) => [e.seq, e.data.id])).toEqual(history.map((m) => [m.seq, m.id]))
    // Activity order follows seq order.
    const times = created.map((e) => Date.parse(e.createdAt))
    expect(times).toEqual([...times].sort((x, y) => x - y))
  })
  it('stays gapless with writers in two app instances (separate pools) on one database', async () => {
    const second = await startServer({ databaseUrl: server.databaseUrl })
    try {
      const api2 = client(second.url)
      const [a, b] = await users(2)
      const group = await createGroup(api, a, [b])
      // Each instance signs with its own key: log in on the second one too.
      const login = async (u: Account) => ({ ...u, ...(await api2.post('/v1/auth/login', { username: u.user.username, password: u.password })).body })
      const [a2, b2] = [await login(a), await login(b)]
      // Requests 2k and 2k+1 are one message submitted twice, once through each instance.
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => {
        const pair = Math.floor(i / 2)
        const body = { body: `n${pair}`, clientMessageId: `k${pair}` }
        return i % 2 === 0
          ? api.post(messagesPath(group.id), body, as(pair % 2 === 0 ? a : b))
          : api2.post(messagesPath(group.id), body, as(pair % 2 === 0 ? a2 : b2))
      }))
      expect(results.map((r) => r.status).filter((s) => s !== 201 && s !== 200)).toEqual([])
      const events = await replay(api2, b2, group.id)
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1))
      const [{ n }] = await server.sql('SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1', [group.id])
      expect(events.filter((e) => e.type === 'message.created')).toHaveLength(n)
      expect(n).toBe(20)
      expect(results.filter((r) => r.status === 201)).toHaveLength(20)
      for (let k = 0; k < 20; k++) expect(results[2 * k]!.body.id).toBe(results[2 * k + 1]!.body.id)
    } finally {
      await second.close()
    }
  })
})

describe('editing', () => {
  it('the sender edits: editedAt set, message.updated written; others 403; a deleted message 409', async () => {
    const [a, b] = await users(2)
    const group = await createGroup(api, a, [b])
    const msg = await post(api, b, group.id, 'draft')
    expectError(await api.patch(messagesPath(group.id, msg.id), { body: 'owner edit' }, as(a)), 403, 'FORBIDDEN')
    const edited = await api.patch(messagesPath(group.id, msg.id), { body: ' final ' }, as(b))
    expect(edited.status).toBe(200)
    expect(edited.body).toEqual({ ...msg, body: 'final', editedAt: expect.any(String) })
    const events = await replay(api, a, group.id, msg.seq)
    expect(events).toEqual([{ conversationId: group.id, seq: msg.seq + 1, type: 'message.updated', createdAt: edited.body.editedAt, data: edited.body }])
    // The same body again writes nothing.
    expect((await api.patch(messagesPath(group.id, msg.id), { body: 'final' }, as(b))).body).toEqual(edited.body)
    expect((await replay(api, a, group.id, msg.seq))).toHaveLength(1)
    expectError(await api.patch(messagesPath(group.id, msg.id), { body: '' }, as(b)), 400, 'VALIDATION_FAILED')
    expectError(await api.patch(messagesPath(group.id, '01890000-0000-7000-8000-000000000000'), { body: 'x' }, as(b)), 404, 'NOT_FOUND')
    await api.del(messagesPath(group.id, msg.id), as(b))
    expectError(await api.patch(messagesPath(group.id, msg.id), { body: 'revive' }, as(b)), 409, 'CONFLICT')
  })

  it('a message id from another conversation is 404', async () => {
    const [a] = await users(1)
    const one = await createGroup(api, a, [])
    const two = await createGroup(api, a, [])
    const msg = await post(api, a, one.id, 'here')
    expectError(await api.patch(messagesPath(two.id, msg.id), { body: 'there' }, as(a)), 404, 'NOT_FOUND')
    expectError(await api.del(messagesPath(two.id, msg.id), as(a)), 404, 'NOT_FOUND')
  })

  it('a user blocked by the other member of a direct conversation cannot edit their messages there: 403 BLOCKED, nothing reaches the blocker', async () => {
    const [a, b] = await users(2)
    const direct = await createDirect(api, a, b)
    const fromB = await post(api, b, direct.id, 'hello')
    const fromA = await post(api, a, direct.id, 'hi')
    expect((await api.put(`/v1/me/blocks/${b.user.id}`, undefined, as(a))).status).toBe(204)

    // Before, the edit went through and the blocker got the new text (message.updated), as a post the block refuses.
    expectError(await api.patch(messagesPath(direct.id, fromB.id), { body: 'said after the block' }, as(b)), 403, 'BLOCKED')
    const events = await replay(api, a, direct.id, fromA.seq)
    expect(events).toEqual([])
    expect((await allHistory(a, direct.id)).find((m) => m.id === fromB.id).body).toBe('hello')
    // The blocker still edits; unblocking lifts it.
    expect((await api.patch(messagesPath(direct.id, fromA.id), { body: 'hi again' }, as(a))).status).toBe(200)
    expect((await api.del(`/v1/me/blocks/${b.user.id}`, as(a))).status).toBe(204)
    expect((await api.patch(messagesPath(direct.id, fromB.id), { body: 'hello again' }, as(b))).status).toBe(200)
  })

  it('in a group, a member who blocked the sender does not stop their edits (their messages stay in the log; clients hide them)', async () => {
    const [a, b] = await users(2)
    const group = await createGroup(api, a, [b])
    const msg = await post(api, b, group.id, 'draft')
    expect((await api.put(`/v1/me/blocks/${b.user.id}`, undefined, as(a))).status).toBe(204)
    expect((await api.patch(messagesPath(group.id, msg.id), { body: 'final' }, as(b))).status).toBe(200)
  })
})

describe('deleting', () => {
  it('leaves a tombstone, writes message.deleted, redacts earlier events; deleting again is a no-op', async () => {
    const [a, b] = await users(2)
    const group = await createGroup(api, a, [b])
    const msg = await post(api, a, group.id, 'secret')
    await api.patch(messagesPath(group.id, msg.id), { body: 'secret, edited' }, as(a))
    const res = await api.del(messagesPath(group.id, msg.id), as(a))
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: msg.id, seq: msg.seq, body: '', deletedAt: expect.any(String), editedAt: expect.any(String) })
    const events = await replay(api, b, group.id, group.lastSeq)
    expect(events.map((e) => e.type)).toEqual(['message.created', 'message.updated', 'message.deleted'])
    expect(events[2].data).toEqual(res.body)
    expect(JSON.stringify(events)).not.toContain('secret')
    const history = (await api.get(messagesPath(group.id), as(b))).body.messages
    expect(history).toEqual([res.body])

    const again = await api.del(messagesPath(group.id, msg.id), as(a))
    expect(again.status).toBe(200)
    expect(again.body).toEqual(res.body)
    expect((await replay(api, b, group.id, group.lastSeq))).toHaveLength(3)
  })

  it('sender, group owner and admin may delete; a plain member 403; in a direct conversation only the sender', async () => {
    const [owner, admin, m1, m2] = await users(4)
    const group = await createGroup(api, owner, [admin, m1, m2])
    await api.patch(`/v1/conversations/${group.id}/members/${admin.user.id}`, { role: 'admin' }, as(owner))
    const [x, y, z] = [await post(api, m1, group.id, 'x'), await post(api, m1, group.id, 'y'), await post(api, owner, group.id, 'z')]
    expectError(await api.del(messagesPath(group.id, x.id), as(m2)), 403, 'FORBIDDEN')
    expect((await api.del(messagesPath(group.id, x.id), as(m1))).status).toBe(200)
    expect((await api.del(messagesPath(group.id, y.id), as(admin))).status).toBe(200)
    expect((await api.del(messagesPath(group.id, z.id), as(admin))).status).toBe(200)
    // Deleting again is still subject to permission.
    expectError(await api.del(messagesPath(group.id, x.id), as(m2)), 403, 'FORBIDDEN')

    const direct = await createDirect(api, owner, m2)
    const d = await post(api, owner, direct.id, 'direct')
    expectError(await api.del(messagesPath(direct.id, d.id), as(m2)), 403, 'FORBIDDEN')
    expect((await api.del(messagesPath(direct.id, d.id), as(owner))).status).toBe(200)
  })
})
