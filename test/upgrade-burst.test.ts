// A burst of upgrades (a reconnect storm) is checked and announced with a few
// statements, not several per socket, and each socket still gets its own
// session's answer.
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { countQueries } from './helpers/queries.js'
import { test, type TestServer } from './helpers/server.js'
import { connect, type TestSocket } from './helpers/ws.js'

const BURST = 50
/**
 * Each upgrade used to cost three statements (its session, its user's
 * last-seen time, their contacts): 130 here. Batched, the checks take at most
 * three (the two held by the lock and one for the rest), and the presence
 * changes that their answers release a few more.
 */
const MAX_STATEMENTS = 10

let server: TestServer

test.beforeAll(({ server: started }) => {
  server = started
})

/** Users with a session each, all members of one group, and their access tokens. */
async function groupOfUsers (n: number) {
  const users = Array.from({ length: n }, (_, i) => ({ id: randomUUID(), sessionId: randomUUID(), name: `burst${i}${randomUUID().slice(0, 8)}` }))
  await server.sql(
    `INSERT INTO users (id, username, display_name, password_hash)
     SELECT id, name, name, 'not-a-hash' FROM unnest($1::uuid[], $2::text[]) AS u(id, name)`,
    [users.map((u) => u.id), users.map((u) => u.name)])
  await server.sql('INSERT INTO sessions (id, user_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])',
    [users.map((u) => u.sessionId), users.map((u) => u.id)])
  const group = randomUUID()
  await server.sql("INSERT INTO conversations (id, type, title) VALUES ($1, 'group', 'burst')", [group])
  await server.sql(
    `INSERT INTO memberships (conversation_id, user_id, role, joined_seq)
     SELECT $1, u, CASE WHEN o = 1 THEN 'owner'::member_role ELSE 'member'::member_role END, 1
       FROM unnest($2::uuid[]) WITH ORDINALITY AS m(u, o)`,
    [group, users.map((u) => u.id)])
  return users.map((u) => ({ ...u, token: server.app.jwt.sign({ sub: u.id, sid: u.sessionId }) }))
}

describe('a burst of upgrades', () => {
  it('is admitted and announced with a few statements, not several per socket, and a revoked session among them is still refused', async () => {
    const [watcher, ...burst] = await groupOfUsers(BURST + 1)
    // Every fifth session of the burst was logged out: batched checks must answer each socket for its own session.
    const revoked = new Set(burst.filter((_, i) => i % 5 === 0).map((u) => u.sessionId))
    await server.sql('UPDATE sessions SET revoked_at = now() WHERE id = ANY($1::uuid[])', [[...revoked]])
    const admitted = burst.filter((u) => !revoked.has(u.sessionId))
    const watching = await connect(server.url, watcher!.token)
    await watching.next((f) => f.type === 'ready')

    // A busy server reads a storm's upgrades while its first session checks
    // are still out. Here the checks wait on a lock until every upgrade has
    // arrived, however slowly this machine delivers them.
    const holder = new pg.Client({ connectionString: server.databaseUrl })
    await holder.connect()
    await holder.query('BEGIN')
    await holder.query('LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE')
    let arrived = 0
    const onUpgrade = () => { arrived++ }
    server.app.server.on('upgrade', onUpgrade)

    const sockets: TestSocket[] = []
    const { count, texts } = await countQueries(async () => {
      const outcomes = Promise.allSettled(burst.map((u) => connect(server.url, u.token)))
      await expect.poll(() => arrived, { timeout: 30_000, interval: 10 }).toBe(BURST)
      await holder.query('COMMIT')
      ;(await outcomes).forEach((o, i) => {
        if (revoked.has(burst[i]!.sessionId)) expect(o).toMatchObject({ status: 'rejected', reason: { statusCode: 401 } })
        else expect(o.status).toBe('fulfilled')
        if (o.status === 'fulfilled') sockets.push(o.value)
      })
      await Promise.all(sockets.map((s) => s.next((f) => f.type === 'ready', 30_000)))
      // Every admitted user's contacts learn that they came online.
      for (const u of admitted) {
        await watching.next((f) => f.type === 'presence' && f.data.userId === u.id && f.data.online === true, 30_000)
      }
    })
    server.app.server.off('upgrade', onUpgrade)
    await holder.end()
    expect(sockets).toHaveLength(admitted.length)
    expect(count, texts.join('\n')).toBeLessThanOrEqual(MAX_STATEMENTS)
    await Promise.all([watching, ...sockets].map((s) => s.close()))
  })
})
