// A sync page's statement runs on its generic plan, planned once per
// connection (src/db/pool.ts, queryGeneric): PostgreSQL would otherwise plan
// it for each call whenever fresh statistics raise its generic plan's
// estimate, and planning that statement costs about as much as running it,
// on every reconnect of every device (README "Sync", ninth round).
import { describe, expect, it } from 'vitest'
import { queryGeneric } from '../src/db/pool.js'
import { createGroup, post } from './helpers/chat.js'
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

describe('sync statements', () => {
  it('are planned once per connection, generically, also after the tables are analyzed again; other statements keep the planner\'s choice', async () => {
    const [me, a] = await registerMany(api, 2)
    const group = await createGroup(api, a, [me], 'planned once')
    let cursor = (await api.get('/v1/sync', as(me))).body.cursor
    for (let i = 0; i < 12; i++) {
      await post(api, a, group.id, `m${i}`)
      if (i === 6) await server.app.db.pool.query('ANALYZE memberships, conversations, messages')
      const page = await sync(me, cursor)
      expect(page.changes).toHaveLength(1)
      expect(page.unread.total).toBe(i + 1)
      cursor = page.cursor
    }
    const { rows } = await server.app.db.pool.query<{ name: string, generic_plans: string, custom_plans: string }>(
      "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'sync-first-page'")
    expect(rows).toEqual([{ name: 'sync-first-page', generic_plans: '12', custom_plans: '0' }])
    expect((await server.app.db.pool.query('SHOW plan_cache_mode')).rows[0].plan_cache_mode).toBe('auto')
  })

  it('a failed statement ends its transaction and leaves the connection usable', async () => {
    const pool = server.app.db.pool
    await expect(queryGeneric(pool, { name: 'divides-by-zero', text: 'SELECT 1 / $1::int AS x', values: [0] })).rejects.toThrow(/division by zero/)
    expect((await queryGeneric<{ x: number }>(pool, { name: 'divides-by-zero', text: 'SELECT 1 / $1::int AS x', values: [1] })).rows).toEqual([{ x: 1 }])
    expect((await pool.query<{ x: number }>('SELECT 2 AS x')).rows).toEqual([{ x: 2 }])
    expect((await pool.query('SELECT pg_current_xact_id_if_assigned() IS NULL AND now() = statement_timestamp() AS outside')).rows[0].outside).toBe(true)
  })
})
