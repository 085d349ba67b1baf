// GET /v1/me/export: everything stored about the caller, streamed, in flat
// memory however many messages there are.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { client, expectError, register, type Client } from './helpers/http.js'
import { createDirect, createGroup, post } from './helpers/chat.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

describe('GET /v1/me/export', () => {
  it('has the profile, sessions, memberships and own messages, and nothing of others', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    await server.sql("UPDATE users SET email = 'mine@example.test', email_verified_at = now(), pending_email = 'next@example.test' WHERE id = $1", [a.user.id])
    const direct = await createDirect(api, a, b)
    const group = await createGroup(api, b, [a], 'export group')
    const mine = await post(api, a, direct.id, 'my own words')
    await post(api, b, group.id, 'words of b')
    expect((await api.post('/v1/auth/logout', { refreshToken: (await api.post('/v1/auth/login', { username: a.user.username, password: a.password })).body.refreshToken })).status).toBe(204)

    const res = await api.get('/v1/me/export', { token: a.accessToken })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-disposition')).toContain('attachment')
    const doc = res.body
    expect(doc.profile).toMatchObject({ ...a.user, email: 'mine@example.test', pendingEmail: 'next@example.test' })
    expect(doc.sessions).toHaveLength(2)
    expect(doc.sessions.filter((s: any) => s.revokedAt !== null)).toHaveLength(1)
    expect(doc.memberships.map((m: any) => m.conversationId).sort()).toEqual([direct.id, group.id].sort())
    expect(doc.profile.notificationLevel).toBe('all')
    expect(doc.memberships[0].notifications).toEqual({ level: 'default', muteUntil: null })
    expect(doc.messages).toEqual([{ ...mine, senderId: undefined }].map(({ senderId: _s, ...m }) => m))
    expect(JSON.stringify(doc)).not.toContain('words of b')
    expectError(await api.get('/v1/me/export'), 401, 'UNAUTHORIZED')
  })

  it('has the rest of what is stored about the caller: reactions, devices without their tokens, uploads, threads, invitations, invite links', async () => {
    const [a, b, c] = await Promise.all([register(api), register(api), register(api)])
    const as = (who: typeof a) => ({ token: who.accessToken })
    const group = await createGroup(api, a, [b], 'export extras')
    const theirs = await post(api, b, group.id, 'a message of b')
    expect((await api.put(`/v1/conversations/${group.id}/messages/${theirs.id}/reactions/${encodeURIComponent('👍')}`, undefined, as(a))).status).toBe(200)
    const reply = await post(api, a, group.id, 'my reply in its thread', { threadRootId: theirs.id })
    const link = await api.post(`/v1/conversations/${group.id}/invites`, { maxUses: 5 }, as(a))
    expect(link.status).toBe(201)
    // A file: created, sent, completed through the API (the local storage driver).
    const bytes = Buffer.from('my notes')
    const created = await api.post('/v1/uploads', { conversationId: group.id, filename: 'notes.txt', contentType: 'text/plain', size: bytes.length }, as(a))
    expect(created.status).toBe(201)
    expect((await fetch(new URL(created.body.uploadUrl, server.url), { method: created.body.method, headers: created.body.headers, body: bytes })).ok).toBe(true)
    expect((await api.post(`/v1/uploads/${created.body.upload.id}/complete`, undefined, as(a))).status).toBe(200)
    // A device (registering one needs a push provider configured: test/push-devices.test.ts) and pending
    // invitations, one received and one sent (GROUP_ADDS=invite: test/invitations.test.ts), stored as those make them.
    const secret = 'f'.repeat(64)
    await server.sql("INSERT INTO devices (user_id, device_id, session_id, platform, token, locale) SELECT $1, 'phone-1', id, 'apns', $2, 'fr-FR' FROM sessions WHERE user_id = $1 LIMIT 1", [a.user.id, secret])
    const other = await createGroup(api, c, [], 'invited to')
    await server.sql('INSERT INTO group_invitations (conversation_id, user_id, invited_by) VALUES ($1, $2, $3), ($4, $5, $2)', [other.id, a.user.id, c.user.id, group.id, c.user.id])

    const doc = (await api.get('/v1/me/export', as(a))).body
    expect(doc.reactions).toEqual([{ messageId: theirs.id, conversationId: group.id, emoji: '👍', createdAt: expect.any(String) }])
    expect(doc.devices).toEqual([{ deviceId: 'phone-1', platform: 'apns', appId: null, locale: 'fr-FR', createdAt: expect.any(String), updatedAt: expect.any(String) }])
    expect(JSON.stringify(doc)).not.toContain(secret)
    expect(doc.uploads).toEqual([expect.objectContaining({ id: created.body.upload.id, filename: 'notes.txt', contentType: 'text/plain', size: bytes.length, conversationId: group.id })])
    expect(doc.threads).toEqual([{ rootId: theirs.id, conversationId: group.id, following: true, lastReadSeq: reply.seq }])
    expect(doc.invitations).toEqual(expect.arrayContaining([
      { conversationId: other.id, userId: a.user.id, invitedBy: c.user.id, createdAt: expect.any(String) },
      { conversationId: group.id, userId: c.user.id, invitedBy: a.user.id, createdAt: expect.any(String) }
    ]))
    expect(doc.invitations).toHaveLength(2)
    expect(doc.inviteLinks).toEqual([expect.objectContaining({ id: link.body.id, conversationId: group.id, maxUses: 5, uses: 0, revokedAt: null })])
    expect(JSON.stringify(doc)).not.toContain(link.body.code)
    // b's export has b's own message and nothing of a's reaction, upload, device, invitations or links.
    const theirsDoc = (await api.get('/v1/me/export', as(b))).body
    expect(theirsDoc).toMatchObject({ reactions: [], devices: [], uploads: [], invitations: [], inviteLinks: [] })
  })

  it('shows a removed member nothing of what happened after: the title as they last saw it, their threads up to their removal', async () => {
    const [owner, removed, other] = await Promise.all([register(api), register(api), register(api)])
    const as = (who: typeof owner) => ({ token: who.accessToken })
    const renamedBefore = await createGroup(api, owner, [removed, other], 'first name')
    expect((await api.patch(`/v1/conversations/${renamedBefore.id}`, { title: 'as they knew it' }, as(owner))).status).toBe(200)
    const renamedAfter = await createGroup(api, owner, [removed, other], 'before removal')
    const root = await post(api, removed, renamedBefore.id, 'my root')
    await post(api, other, renamedBefore.id, 'a reply they saw', { threadRootId: root.id })
    for (const g of [renamedBefore, renamedAfter]) expect((await api.del(`/v1/conversations/${g.id}/members/${removed.user.id}`, as(owner))).status).toBe(204)
    for (const g of [renamedBefore, renamedAfter]) expect((await api.patch(`/v1/conversations/${g.id}`, { title: 'SECRET renamed after removal' }, as(owner))).status).toBe(200)
    await post(api, other, renamedBefore.id, 'SECRET reply after removal', { threadRootId: root.id })
    await post(api, owner, renamedBefore.id, 'SECRET another', { threadRootId: root.id })

    const doc = (await api.get('/v1/me/export', as(removed))).body
    expect(JSON.stringify(doc)).not.toContain('SECRET')
    const titles = Object.fromEntries(doc.memberships.map((m: any) => [m.conversationId, m.title]))
    expect(titles).toEqual({ [renamedBefore.id]: 'as they knew it', [renamedAfter.id]: null })
    const mine = doc.messages.find((m: any) => m.id === root.id)
    expect(mine.thread).toMatchObject({ replyCount: 1, participants: [other.user.id] })
    // Still a member, the owner's export has the title of now.
    const owners = (await api.get('/v1/me/export', as(owner))).body.memberships.find((m: any) => m.conversationId === renamedAfter.id)
    expect(owners.title).toBe('SECRET renamed after removal')
  })

  it('streams 20,000 messages with bounded heap growth', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const direct = await createDirect(api, a, b)
    const rows = 20_000
    const bodyChars = 2_000
    await server.sql(`
      INSERT INTO messages (id, conversation_id, seq, sender_id, body, timeline_ord)
      SELECT gen_random_uuid(), $1, 10 + i, $2, repeat('x', $3), (SELECT timeline_count FROM conversations WHERE id = $1) + i
        FROM generate_series(1, $4) AS i`, [direct.id, a.user.id, bodyChars, rows])
    await server.sql('UPDATE conversations SET timeline_count = timeline_count + $2 WHERE id = $1', [direct.id, rows])

    // What stays reachable, not garbage awaiting collection: collect, then measure.
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const retained = () => { gc(); return process.memoryUsage().heapUsed }
    const base = retained()
    let peak = 0
    let chunks = 0
    const res = await fetch(`${server.url}/v1/me/export`, { headers: { authorization: `Bearer ${a.accessToken}` } })
    expect(res.status).toBe(200)
    let bytes = 0
    let messages = 0
    let tail = ''
    const decoder = new TextDecoder()
    for await (const chunk of res.body!) {
      bytes += chunk.byteLength
      if (++chunks % 10 === 0) peak = Math.max(peak, retained() - base)
      // Count messages without keeping the document: each has one "seq".
      const text = tail + decoder.decode(chunk, { stream: true })
      messages += text.split('"seq":').length - 1
      tail = text.slice(-6)
      messages -= tail.split('"seq":').length - 1
    }
    messages += tail.split('"seq":').length - 1
    expect(messages).toBe(rows)
    expect(bytes).toBeGreaterThan(rows * bodyChars)
    // The whole document is over 40 MB; holding it (or all its rows) would show here at least once over. What
    // stays is one page of rows and its text (about 4 MB here), whatever the number of messages.
    expect(chunks).toBeGreaterThan(25)
    expect(peak).toBeLessThan(bytes / 3)
    console.info(`export: ${(bytes / 1e6).toFixed(1)} MB, heap peak growth ${(peak / 1e6).toFixed(1)} MB`)
    // 40 MB through the server and a garbage collection every ten chunks: about 20 s at a load average of 9 on 2 cores.
  }, 120_000)
})
