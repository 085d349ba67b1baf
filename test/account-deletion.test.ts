// Deleting an account (App Store 5.1.1(v)) over real HTTP and WebSocket: the
// sessions end, the user leaves every conversation (ownership passes on), and
// nothing of theirs is readable afterwards through any route, push or replay.
import { afterAll, describe, expect, it } from 'vitest'
import { client, expectError, register, uniqueName, type Account, type Client } from './helpers/http.js'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { startServer, test, type TestServer } from './helpers/server.js'
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

/** Everything a remaining member can read of the conversation, through every read route. */
async function everythingReadable (who: Account, conversationId: string, about: string): Promise<string> {
  const reads = await Promise.all([
    api.get(`/v1/conversations/${conversationId}`, { token: who.accessToken }),
    api.get('/v1/conversations', { token: who.accessToken }),
    api.get(`/v1/conversations/${conversationId}/members`, { token: who.accessToken }),
    api.get(`/v1/conversations/${conversationId}/messages`, { token: who.accessToken }),
    api.get(`/v1/conversations/${conversationId}/messages?after=0`, { token: who.accessToken }),
    api.get(`/v1/users/${about}`, { token: who.accessToken })
  ])
  for (const r of reads) expect(r.status).toBe(200)
  return JSON.stringify([...reads.map((r) => r.body), await replay(api, who, conversationId)])
}

describe('DELETE /v1/me', () => {
  it('erases the account: sessions, memberships, messages, and nothing of it is readable afterwards', async () => {
    const name = uniqueName('gone')
    const a = await register(api, name)
    const [b, c] = await Promise.all([register(api), register(api)])
    const email = `${name}@example.test`
    await server.sql('UPDATE users SET email = $1, email_verified_at = now() WHERE id = $2', [email, a.user.id])
    // b joins first, so b is the longest-standing member and inherits the group (c joins later).
    const group = await createGroup(api, a, [b], 'team')
    expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [c.user.id] }, { token: a.accessToken })).status).toBe(200)
    const direct = await createDirect(api, a, b)
    const secrets = [uniqueName('SECRETg'), uniqueName('SECRETd'), uniqueName('SECRETe')]
    const g1 = await post(api, a, group.id, secrets[0]!)
    await post(api, b, group.id, 'reply from b', { replyToId: g1.id })
    const d1 = await post(api, a, direct.id, secrets[1]!)
    expect((await api.patch(`/v1/conversations/${direct.id}/messages/${d1.id}`, { body: secrets[2] }, { token: a.accessToken })).status).toBe(200)

    // A thread a follows (by replying), a pending invitation a received and a push device: stored as those make them.
    const inThread = await post(api, a, group.id, 'in the thread of b', { threadRootId: (await post(api, b, group.id, 'a thread root')).id })
    const elsewhere = await createGroup(api, c, [b], 'a is invited here')
    await server.sql('INSERT INTO group_invitations (conversation_id, user_id, invited_by) VALUES ($1, $2, $3)', [elsewhere.id, a.user.id, c.user.id])
    await server.sql("INSERT INTO devices (user_id, device_id, session_id, platform, token) SELECT $1, 'phone', id, 'fcm', 'tok' FROM sessions WHERE user_id = $1 LIMIT 1", [a.user.id])
    const personal = async () => (await server.sql(`
      SELECT (SELECT count(*) FROM thread_members WHERE user_id = $1)::int AS threads, (SELECT count(*) FROM group_invitations WHERE user_id = $1)::int AS invitations,
             (SELECT count(*) FROM devices WHERE user_id = $1)::int AS devices`, [a.user.id]))[0]
    expect(await personal()).toEqual({ threads: 1, invitations: 1, devices: 1 })

    const aSocket = await connectReady(server.url, a.accessToken, sockets)
    const bSocket = await connectReady(server.url, b.accessToken, sockets)
    const cSocket = await connectReady(server.url, c.accessToken, sockets)
    const bFrom = bSocket.frames.length
    const cFrom = cSocket.frames.length

    expectError(await api.request('DELETE', '/v1/me', { body: { password: 'not the password' }, token: a.accessToken }), 401, 'INVALID_CREDENTIALS')
    expectError(await api.request('DELETE', '/v1/me', { body: {}, token: a.accessToken }), 400, 'VALIDATION_FAILED')
    expect((await api.request('DELETE', '/v1/me', { body: { password: a.password }, token: a.accessToken })).status).toBe(204)

    // Sessions end, sockets close.
    expect((await aSocket.closed).code).toBe(4001)
    expectError(await api.get('/v1/me', { token: a.accessToken }), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/auth/refresh', { refreshToken: a.refreshToken }), 401, 'UNAUTHORIZED')
    expectError(await api.post('/v1/auth/login', { username: name, password: a.password }), 401, 'INVALID_CREDENTIALS')

    // The others are told: erased messages, ownership handed on, a left.
    const removedInGroup = await bSocket.next((f) => f.type === 'member.removed' && f.conversationId === group.id)
    expect(removedInGroup.data).toEqual({ userId: a.user.id, by: a.user.id })
    const handover = bSocket.frames.find((f) => f.type === 'member.updated' && f.conversationId === group.id)
    expect(handover?.data).toEqual({ userId: b.user.id, role: 'owner', by: a.user.id })
    await bSocket.next((f) => f.type === 'member.removed' && f.conversationId === direct.id)
    await cSocket.next((f) => f.type === 'member.removed' && f.conversationId === group.id)
    const erased = bSocket.frames.filter((f) => f.type === 'message.deleted').map((f) => f.data.id).sort()
    expect(erased).toEqual([g1.id, d1.id, inThread.id].sort())

    // The group lives on with b as owner.
    const after = await api.get(`/v1/conversations/${group.id}`, { token: b.accessToken })
    expect(after.body.members.map((m: any) => [m.user.id, m.role]).sort()).toEqual([[b.user.id, 'owner'], [c.user.id, 'member']].sort())

    // Nothing of a is readable: no message text, no name, through any read route, replay or push since.
    const seen = [
      await everythingReadable(b, group.id, a.user.id),
      await everythingReadable(b, direct.id, a.user.id),
      await everythingReadable(c, group.id, a.user.id),
      JSON.stringify(bSocket.frames.slice(bFrom)),
      JSON.stringify(cSocket.frames.slice(cFrom))
    ].join('\n')
    for (const text of [...secrets, name, email]) expect(seen).not.toContain(text)
    expect(seen).toContain('reply from b')
    const history = (await api.get(`/v1/conversations/${group.id}/messages`, { token: b.accessToken })).body.messages
    const tomb = history.find((m: any) => m.id === g1.id)
    expect(tomb).toMatchObject({ body: '', senderId: a.user.id })
    expect(tomb.deletedAt).not.toBeNull()

    // The sender shows as a deleted user; the username is free, search finds nothing.
    const profile = await api.get(`/v1/users/${a.user.id}`, { token: b.accessToken })
    expect(profile.body).toMatchObject({ id: a.user.id, displayName: 'Deleted user', online: false, lastSeenAt: null })
    expect(profile.body.username).toMatch(/^~/)
    expect((await api.get(`/v1/users?query=${name}`, { token: b.accessToken })).body).toEqual({ users: [] })
    expect((await api.get('/v1/users?query=~', { token: b.accessToken })).status).toBe(400)
    // Nobody can bring the deleted user back into a conversation.
    expectError(await api.post('/v1/conversations', { type: 'direct', userId: a.user.id }, { token: c.accessToken }), 404, 'NOT_FOUND')
    expectError(await api.post(`/v1/conversations/${group.id}/members`, { userIds: [a.user.id] }, { token: b.accessToken }), 404, 'NOT_FOUND')
    const again = await api.post('/v1/auth/register', { username: name, password: 'another password' })
    expect(again.status).toBe(201)
    expect(again.body.user.id).not.toBe(a.user.id)

    // Stored: no personal data, no secrets, no sessions.
    const [row] = await server.sql('SELECT username, display_name, password_hash, email, pending_email, deleted_at FROM users WHERE id = $1', [a.user.id])
    expect(row).toMatchObject({ display_name: 'Deleted user', password_hash: '', email: null, pending_email: null })
    expect(row.deleted_at).not.toBeNull()
    expect(await server.sql('SELECT 1 FROM sessions WHERE user_id = $1', [a.user.id])).toHaveLength(0)
    expect(await personal()).toEqual({ threads: 0, invitations: 0, devices: 0 })
    const dump = JSON.stringify(await server.sql('SELECT body FROM messages UNION ALL SELECT data::text FROM events'))
    for (const text of secrets) expect(dump).not.toContain(text)
  })

  it('with DELETED_ACCOUNT_MESSAGES=keep keeps the bodies under a deleted sender', async () => {
    const keeping = await startServer({ config: { deletedAccountMessages: 'keep' } })
    try {
      const k = client(keeping.url)
      const [a, b] = await Promise.all([register(k), register(k)])
      const direct = await createDirect(k, a, b)
      await post(k, a, direct.id, 'kept words')
      expect((await k.request('DELETE', '/v1/me', { body: { password: a.password }, token: a.accessToken })).status).toBe(204)
      const history = (await k.get(`/v1/conversations/${direct.id}/messages`, { token: b.accessToken })).body.messages
      expect(history.map((m: any) => m.body)).toEqual(['kept words'])
      expect((await k.get(`/v1/users/${a.user.id}`, { token: b.accessToken })).body.displayName).toBe('Deleted user')
    } finally {
      await keeping.close()
    }
  })

  it('takes back its reactions, where it is still a member and where it left, and readers are told', async () => {
    const [a, b, c] = await Promise.all([register(api), register(api), register(api)])
    const stays = await createGroup(api, b, [a, c], 'a stays here')
    const leaves = await createGroup(api, b, [a, c], 'a leaves this one')
    const m1 = await post(api, b, stays.id, 'react to me')
    const m2 = await post(api, c, leaves.id, 'and to me')
    const react = async (who: Account, conversationId: string, messageId: string, emoji: string) =>
      expect((await api.put(`/v1/conversations/${conversationId}/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`, undefined, { token: who.accessToken })).status).toBe(200)
    await react(a, stays.id, m1.id, '👍')
    await react(a, stays.id, m1.id, '🎉')
    await react(c, stays.id, m1.id, '👍')
    await react(a, leaves.id, m2.id, '❤️')
    expect((await api.request('DELETE', `/v1/conversations/${leaves.id}/members/${a.user.id}`, { token: a.accessToken })).status).toBe(204)
    const bSocket = await connectReady(server.url, b.accessToken, sockets)

    expect((await api.request('DELETE', '/v1/me', { body: { password: a.password }, token: a.accessToken })).status).toBe(204)

    const removed = async (conversationId: string, n: number) => {
      for (let i = 0; i < n; i++) await bSocket.next((f) => f.type === 'reaction.removed' && f.conversationId === conversationId && f.data.userId === a.user.id)
      return bSocket.frames.filter((f) => f.type === 'reaction.removed' && f.conversationId === conversationId).map((f) => f.data.emoji).sort()
    }
    expect(await removed(stays.id, 2)).toEqual(['🎉', '👍'])
    expect(await removed(leaves.id, 1)).toEqual(['❤️'])
    // What readers see: c's reaction alone on m1, none on m2; in the log, a reaction.removed for each.
    const shown = async (conversationId: string, id: string) =>
      (await api.get(`/v1/conversations/${conversationId}/messages`, { token: b.accessToken })).body.messages.find((m: any) => m.id === id).reactions
    expect(await shown(stays.id, m1.id)).toEqual([{ emoji: '👍', count: 1, me: false }])
    expect(await shown(leaves.id, m2.id) ?? []).toEqual([])
    expect((await replay(api, c, leaves.id)).filter((e) => e.type === 'reaction.removed').map((e) => e.data)).toEqual([
      { messageId: m2.id, messageSeq: m2.seq, userId: a.user.id, emoji: '❤️' }
    ])
    expect(await server.sql('SELECT 1 FROM message_reactions WHERE user_id = $1', [a.user.id])).toHaveLength(0)
  })

  it('tells of an erased message only the members whose window holds it, as replay does', async () => {
    const [owner, gone, late] = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, owner, [gone], 'before the late joiner')
    const early = await post(api, gone, group.id, 'posted before late joined')
    expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [late.user.id] }, { token: owner.accessToken })).status).toBe(200)
    const after = await post(api, gone, group.id, 'posted after late joined')
    const lateSocket = await connectReady(server.url, late.accessToken, sockets)
    const ownerSocket = await connectReady(server.url, owner.accessToken, sockets)
    expect((await api.request('DELETE', '/v1/me', { body: { password: gone.password }, token: gone.accessToken })).status).toBe(204)
    // member.removed comes after the message.deleted events (seq order).
    await lateSocket.next((f) => f.type === 'member.removed' && f.conversationId === group.id)
    await ownerSocket.next((f) => f.type === 'member.removed' && f.conversationId === group.id)
    const deleted = (socket: TestSocket) => socket.frames.filter((f) => f.type === 'message.deleted').map((f) => f.data.id).sort()
    expect(deleted(lateSocket)).toEqual([after.id])
    expect(deleted(ownerSocket)).toEqual([early.id, after.id].sort())
    expect((await replay(api, late, group.id)).filter((e) => e.type === 'message.deleted').map((e) => e.data.id)).toEqual([after.id])
  })

  it('erases a long history in chunks, every message', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const direct = await createDirect(api, a, b)
    // 1,200 messages written directly (the erase works in chunks of 500).
    await server.sql(`
      WITH n AS (SELECT generate_series(1, 1200) AS i)
      INSERT INTO messages (id, conversation_id, seq, sender_id, body, timeline_ord)
      SELECT gen_random_uuid(), $1, 100 + i, $2, 'bulk ' || i, (SELECT timeline_count FROM conversations WHERE id = $1) + i FROM n`, [direct.id, a.user.id])
    await server.sql('UPDATE conversations SET last_seq = 1300, timeline_count = timeline_count + 1200 WHERE id = $1', [direct.id])
    expect((await api.request('DELETE', '/v1/me', { body: { password: a.password }, token: a.accessToken })).status).toBe(204)
    const [left] = await server.sql('SELECT count(*)::int AS n FROM messages WHERE sender_id = $1 AND deleted_at IS NULL', [a.user.id])
    expect(left.n).toBe(0)
    const [deletes] = await server.sql("SELECT count(*)::int AS n FROM events WHERE conversation_id = $1 AND type = 'message.deleted'", [direct.id])
    expect(deletes.n).toBe(1200)
  })
  it('a deletion interrupted after the account was erased is finished when the server starts again', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const direct = await createDirect(api, a, b)
    await post(api, a, direct.id, 'interrupted words')
    // As if the process died right after the first step.
    await server.sql("UPDATE users SET deleted_at = now(), display_name = 'Deleted user', password_hash = '' WHERE id = $1", [a.user.id])
    const again = await startServer({ databaseUrl: server.databaseUrl })
    try {
      const deadline = Date.now() + 10_000
      let events = await replay(api, b, direct.id)
      while (!events.some((e) => e.type === 'member.removed') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        events = await replay(api, b, direct.id)
      }
      expect(events.filter((e) => e.type === 'member.removed').map((e) => e.data.userId)).toEqual([a.user.id])
      expect(JSON.stringify(events)).not.toContain('interrupted words')
    } finally {
      await again.close()
    }
  })
})
