// Concurrent posts are group-committed: fewer transactions than posts, and
// every post still gets its own correct answer, only after the commit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, register, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client

beforeAll(async () => {
  server = await startServer()
  api = client(server.url)
})
afterAll(() => server.close())

async function commits (): Promise<number> {
  const [row] = await server.sql('SELECT xact_commit::int AS n FROM pg_stat_database WHERE datname = current_database()')
  return row.n
}

describe('group commit of posts', () => {
  it('answers a mixed burst correctly, one by one, in fewer transactions than posts', async () => {
    const users = await Promise.all(Array.from({ length: 8 }, () => register(api)))
    const outsider = await register(api)
    const g1 = await createGroup(api, users[0]!, users.slice(1, 4))
    const g2 = await createGroup(api, users[4]!, users.slice(5))
    const earlier = await post(api, users[0]!, g1.id, 'earlier', { clientMessageId: 'already-there' })
    const foreign = await post(api, users[4]!, g2.id, 'in the other group')

    await new Promise((r) => setTimeout(r, 600)) // let pg_stat settle
    const before = await commits()
    const burst = [
      ...users.slice(0, 4).flatMap((u) => Array.from({ length: 10 }, (_, i) => ({ who: u, conv: g1.id, body: { body: `g1 ${i}` } }))),
      ...users.slice(4).flatMap((u) => Array.from({ length: 10 }, (_, i) => ({ who: u, conv: g2.id, body: { body: `g2 ${i}` } }))),
      { who: users[1]!, conv: g1.id, body: { body: 'twice in one burst', clientMessageId: 'same-key' } },
      { who: users[1]!, conv: g1.id, body: { body: 'twice in one burst', clientMessageId: 'same-key' } },
      { who: users[0]!, conv: g1.id, body: { body: 'retry', clientMessageId: 'already-there' } },
      { who: outsider, conv: g1.id, body: { body: 'not a member' } },
      { who: users[2]!, conv: g1.id, body: { body: 'bad reply', replyToId: foreign.id } },
      { who: users[3]!, conv: g1.id, body: { body: 'good reply', replyToId: earlier.id } }
    ]
    const results = await Promise.all(burst.map((b) => api.post(`/v1/conversations/${b.conv}/messages`, b.body, { token: b.who.accessToken })))
    await new Promise((r) => setTimeout(r, 600))
    const used = await commits() - before

    const [twiceA, twiceB, retry, stranger, badReply, goodReply] = results.slice(-6)
    expect([twiceA!.status, twiceB!.status].sort()).toEqual([200, 201])
    expect(twiceA!.body.id).toBe(twiceB!.body.id)
    expect(retry).toMatchObject({ status: 200, body: { id: earlier.id } })
    expect(stranger).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } })
    expect(badReply).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } })
    expect(goodReply).toMatchObject({ status: 201, body: { replyToId: earlier.id } })
    for (const r of results.slice(0, 80)) expect(r.status).toBe(201)

    // Both logs stay gapless, with one message per created answer.
    for (const g of [g1, g2]) {
      const rows = await server.sql('SELECT seq FROM events WHERE conversation_id = $1 ORDER BY seq', [g.id])
      expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1))
    }
    // Each stored message.created event is exactly the message its post was answered with.
    const events = await server.sql("SELECT data FROM events WHERE type = 'message.created' AND conversation_id = ANY($1::uuid[])", [[g1.id, g2.id]])
    const stored = new Map(events.map((e) => [e.data.id, e.data]))
    for (const r of results.filter((r) => r.status === 201)) expect(stored.get(r.body.id)).toEqual(r.body)
    const created = results.filter((r) => r.status === 201).length
    const [{ n }] = await server.sql('SELECT count(*)::int AS n FROM messages WHERE conversation_id = ANY($1::uuid[])', [[g1.id, g2.id]])
    expect(n).toBe(created + 2)
    // One transaction per post (plus the session checks) is what an ungrouped
    // path costs; grouped posts need fewer transactions than posts.
    expect(used).toBeLessThan(created)
  })

  it('gives back the seqs of refused posts and leaves the activity time of their conversation alone', async () => {
    const [owner, member, outsider] = await Promise.all([register(api), register(api), register(api)])
    const group = await createGroup(api, owner, [member])
    const other = await createGroup(api, outsider, [member])
    const [before] = await server.sql('SELECT last_seq, last_activity_at FROM conversations WHERE id = $1', [group.id])
    const results = await Promise.all([
      ...Array.from({ length: 5 }, () => api.post(`/v1/conversations/${group.id}/messages`, { body: 'not yours' }, { token: outsider.accessToken })),
      api.post(`/v1/conversations/${other.id}/messages`, { body: 'same batch, other conversation' }, { token: outsider.accessToken })
    ])
    expect(results.slice(0, 5).map((r) => r.status)).toEqual([404, 404, 404, 404, 404])
    expect(results[5]!.status).toBe(201)
    const [after] = await server.sql('SELECT last_seq, last_activity_at FROM conversations WHERE id = $1', [group.id])
    expect(after).toEqual(before)
    const ok = await post(api, member, group.id, 'next')
    expect(ok.seq).toBe(before.last_seq + 1)
  })
})
