// A sync page's statements run in one transaction on one connection, each on
// its generic plan (src/repositories/sync.ts, SyncRepository.page): planned
// once per connection, where Prisma's unnamed statements were planned on
// every call, and PostgreSQL's own choice would plan the first page's
// statement for each call whenever fresh statistics raise its generic plan's
// estimate; planning costs about as much as running them, on every reconnect
// of every device (README "Sync", ninth and tenth rounds).
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { withGenericPlans } from '../src/db/pool.js'
import { createGroup, post, replay } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client

// One connection in the pool: the statements below see the one the syncs ran on.
test.override('serverOptions', { config: { syncRateLimitPerMinute: 100_000, databasePoolSize: 1 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const as = (who: Account) => ({ token: who.accessToken })

async function sync (who: Account, since: string): Promise<any> {
  const res = await api.get(`/v1/sync?since=${since}`, as(who))
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body
}

/** The statements a sync page prepared on the pool's one connection, with how often each was planned generically or not. */
async function syncStatements () {
  const { rows } = await server.app.db.pool.query<{ name: string, generic_plans: string, custom_plans: string }>(
    "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'sync-%' AND name <> 'sync-snapshot' ORDER BY name")
  return rows
}

/**
 * Runs `fn` with every plan the pool's one connection executes meanwhile,
 * as auto_explain reports it (with ANALYZE and BUFFERS, as a notice to that
 * connection's client).
 */
async function plansDuring (fn: () => Promise<void>): Promise<any[]> {
  const plans: any[] = []
  const collect = (msg: { message?: string | undefined }) => { if (msg.message?.includes('"Plan"') === true) plans.push(JSON.parse(msg.message.slice(msg.message.indexOf('{'))).Plan) }
  const settings = "SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on; SET auto_explain.log_format = 'json'; SET auto_explain.log_level = 'notice'"
  const session = await server.app.db.pool.connect()
  await session.query(`LOAD 'auto_explain'; ${settings}`)
  session.on('notice', collect)
  session.release()
  try {
    await fn()
  } finally {
    const again = await server.app.db.pool.connect()
    again.off('notice', collect)
    await again.query('SET auto_explain.log_min_duration = -1')
    again.release()
  }
  return plans
}

const buffers = (plan: any) => (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0)

describe('sync statements', () => {
  it('are planned once per connection, generically, also after the tables are analyzed again; other statements keep the planner\'s choice', async () => {
    const [me, a] = await registerMany(api, 2)
    const group = await createGroup(api, a, [me], 'planned once')
    let cursor = (await api.get('/v1/sync', as(me))).body.cursor
    for (let i = 0; i < 12; i++) {
      await post(api, a, group.id, `m${i} @${me.user.username}`)
      if (i === 6) await server.app.db.pool.query('ANALYZE memberships, conversations, messages, events')
      const page = await sync(me, cursor)
      expect(page.changes).toHaveLength(1)
      expect(page.unread.total).toBe(i + 1)
      cursor = page.cursor
    }
    // The first page's statement, the events', the views' and their members': each planned once, for any caller.
    const statements = await syncStatements()
    expect(statements.map((s) => s.name)).toContain('sync-first-page')
    expect(statements).toHaveLength(4)
    for (const s of statements) expect(s).toEqual({ name: s.name, generic_plans: '12', custom_plans: '0' })
    expect((await server.app.db.pool.query('SHOW plan_cache_mode')).rows[0].plan_cache_mode).toBe('auto')
  })

  it('answer what GET /v1/conversations and the replay answer, field for field', async () => {
    const [me, a, b] = await registerMany(api, 3)
    const group = await createGroup(api, a, [me, b], 'the same view')
    const cursor = (await api.get('/v1/sync', as(me))).body.cursor
    await post(api, a, group.id, `hello @${me.user.username}`)
    await post(api, b, group.id, 'with metadata', { metadata: { kind: 'note', n: 1 } })
    const page = await sync(me, cursor)
    const listed = (await api.get('/v1/conversations', as(me))).body.conversations.find((c: any) => c.id === group.id)
    expect(page.changes[0].conversation).toEqual(listed)
    expect(page.changes[0].conversation.lastMessage.metadata).toEqual({ kind: 'note', n: 1 })
    expect(page.changes[0].events.map((e: any) => e.type)).toEqual(['message.created', 'message.created'])
    expect(page.changes[0].events).toEqual(await replay(api, me, group.id, page.changes[0].events[0].seq - 1))
  })

  it('read a bounded number of buffers on their generic plans, whatever the number of the caller\'s conversations', async () => {
    const [me, a] = await registerMany(api, 2)
    // 400 quiet groups of the caller's (as if long joined), and two that move.
    const quiet = Array.from({ length: 400 }, () => randomUUID())
    await server.sql("INSERT INTO conversations (id, type, title) SELECT id, 'group', 'quiet' FROM unnest($1::uuid[]) AS q(id)", [quiet])
    await server.sql("INSERT INTO memberships (conversation_id, user_id, role, joined_seq) SELECT id, $2, 'member', 1 FROM unnest($1::uuid[]) AS q(id)", [quiet, me.user.id])
    const busy = [await createGroup(api, a, [me], 'busy 1'), await createGroup(api, a, [me], 'busy 2')]
    await server.sql('ANALYZE memberships, conversations, messages, events')
    const cursor = (await api.get('/v1/sync', as(me))).body.cursor
    for (const g of busy) await post(api, a, g.id, 'moves')
    let page: any
    const plans = await plansDuring(async () => { page = await sync(me, cursor) })
    expect(page.changes.map((c: any) => c.conversationId).sort()).toEqual(busy.map((g) => g.id).sort())
    // The first page (changes and badge) reads the caller's memberships (test/unread-totals.test.ts bounds what
    // else it reads); after it, the events, the views and their members read what the two moved ones need.
    const [first, ...rest] = plans
    expect(JSON.stringify(first)).toContain('"Subplan Name":"CTE badge"')
    expect(rest).toHaveLength(3)
    for (const plan of rest) expect(buffers(plan), JSON.stringify(plan).slice(0, 2_000)).toBeLessThan(100)
  })

  it('a failed statement ends its transaction and leaves the connection usable', async () => {
    const pool = server.app.db.pool
    const divide = async (by: number) => await withGenericPlans(pool, async (db) => (await db.query<{ x: number }>({ name: 'divides', text: 'SELECT 1 / $1::int AS x', values: [by] })).rows)
    await expect(divide(0)).rejects.toThrow(/division by zero/)
    expect(await divide(1)).toEqual([{ x: 1 }])
    expect((await pool.query<{ x: number }>('SELECT 2 AS x')).rows).toEqual([{ x: 2 }])
    expect((await pool.query('SELECT pg_current_xact_id_if_assigned() IS NULL AND now() = statement_timestamp() AS outside')).rows[0].outside).toBe(true)
  })
})
