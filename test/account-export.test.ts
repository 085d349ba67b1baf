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
    await server.sql("UPDATE users SET email = 'mine@example.test', email_verified_at = now() WHERE id = $1", [a.user.id])
    const direct = await createDirect(api, a, b)
    const group = await createGroup(api, b, [a], 'export group')
    const mine = await post(api, a, direct.id, 'my own words')
    await post(api, b, group.id, 'words of b')
    expect((await api.post('/v1/auth/logout', { refreshToken: (await api.post('/v1/auth/login', { username: a.user.username, password: a.password })).body.refreshToken })).status).toBe(204)

    const res = await api.get('/v1/me/export', { token: a.accessToken })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-disposition')).toContain('attachment')
    const doc = res.body
    expect(doc.profile).toMatchObject({ ...a.user, email: 'mine@example.test' })
    expect(doc.sessions).toHaveLength(2)
    expect(doc.sessions.filter((s: any) => s.revokedAt !== null)).toHaveLength(1)
    expect(doc.memberships.map((m: any) => m.conversationId).sort()).toEqual([direct.id, group.id].sort())
    expect(doc.profile.notificationLevel).toBe('all')
    expect(doc.memberships[0].notifications).toEqual({ level: 'default', muteUntil: null })
    expect(doc.messages).toEqual([{ ...mine, senderId: undefined }].map(({ senderId: _s, ...m }) => m))
    expect(JSON.stringify(doc)).not.toContain('words of b')
    expectError(await api.get('/v1/me/export'), 401, 'UNAUTHORIZED')
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
