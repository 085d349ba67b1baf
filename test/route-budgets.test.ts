// One user must not hold up the others (found by an audit): the lists of a
// group's bans and invites are read without locking the conversation (a member
// looping them held up its posts), a stranger's write is refused before any
// lock, and the operator's writes, completing uploads and logging out have a
// budget like every other write.
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client
test.override('serverOptions', { config: { postRateLimitPerSecond: 5, authRateLimitMax: 10 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
const as = (who: Account) => ({ token: who.accessToken })

/** Runs `fn` while another transaction holds the conversation's row FOR UPDATE (as a write in progress does). */
async function whileLocked<T> (conversationId: string, fn: () => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: server.databaseUrl })
  await c.connect()
  try {
    await c.query('BEGIN')
    await c.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [conversationId])
    return await fn()
  } finally {
    await c.query('ROLLBACK').catch(() => {})
    await c.end()
  }
}

/** The status of a request that must not wait for the lock (it would wait until the test ends). */
async function promptly (request: Promise<{ status: number }>): Promise<number> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<number>((resolve) => { timer = setTimeout(() => resolve(-1), 10_000) })
  try {
    return await Promise.race([request.then((r) => r.status), late])
  } finally {
    clearTimeout(timer)
  }
}

describe('reads and refusals that take no lock', () => {
  it('bans and invites lists, and a stranger\'s moderation write, answer while the conversation is locked', async () => {
    const [owner, member, stranger] = await registerMany(api, 3)
    const group = await createGroup(api, owner, [member], 'locked')
    const statuses = await whileLocked(group.id, async () => ({
      bansOwner: await promptly(api.get(`/v1/conversations/${group.id}/bans`, as(owner))),
      bansMember: await promptly(api.get(`/v1/conversations/${group.id}/bans`, as(member))),
      bansStranger: await promptly(api.get(`/v1/conversations/${group.id}/bans`, as(stranger))),
      invitesOwner: await promptly(api.get(`/v1/conversations/${group.id}/invites`, as(owner))),
      invitesMember: await promptly(api.get(`/v1/conversations/${group.id}/invites`, as(member))),
      invitesStranger: await promptly(api.get(`/v1/conversations/${group.id}/invites`, as(stranger))),
      muteByStranger: await promptly(api.put(`/v1/conversations/${group.id}/mutes/${member.user.id}`, undefined, as(stranger))),
      pinByStranger: await promptly(api.put(`/v1/conversations/${group.id}/pins/${randomUUID()}`, undefined, as(stranger)))
    }))
    expect(statuses).toEqual({
      bansOwner: 200, bansMember: 403, bansStranger: 404,
      invitesOwner: 200, invitesMember: 403, invitesStranger: 404,
      muteByStranger: 404, pinByStranger: 404
    })
  })
})

describe('budgets', () => {
  async function burst (send: () => Promise<{ status: number }>, n = 30): Promise<Record<number, number>> {
    const statuses: Record<number, number> = {}
    for (const r of await Promise.all(Array.from({ length: n }, () => send()))) statuses[r.status] = (statuses[r.status] ?? 0) + 1
    return statuses
  }

  it('the operator\'s writes, completing uploads, the moderation lists and logging out answer 429 past their budget', async () => {
    const [admin, mod, a, b, c] = await registerMany(api, 5)
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [admin.user.id])
    await server.sql("UPDATE users SET app_roles = '{moderator}' WHERE id = $1", [mod.user.id])
    const group = await createGroup(api, a, [b])
    const m = await post(api, b, group.id, 'spam')
    const report = (await api.post('/v1/reports', { messageId: m.id, reason: 'spam' }, as(a))).body
    const bursts = {
      deleteMessage: await burst(() => api.del(`/v1/admin/messages/${m.id}`, as(mod))),
      resolve: await burst(() => api.post(`/v1/admin/reports/${report.id}/resolve`, { resolution: 'x' }, as(mod))),
      suspend: await burst(() => api.put(`/v1/admin/users/${c.user.id}/suspension`, { reason: 'x' }, as(mod))),
      unsuspend: await burst(() => api.del(`/v1/admin/users/${c.user.id}/suspension`, as(mod))),
      deleteUser: await burst(() => api.del(`/v1/admin/users/${randomUUID()}`, as(admin))),
      complete: await burst(() => api.post(`/v1/uploads/${randomUUID()}/complete`, undefined, as(a))),
      bans: await burst(() => api.get(`/v1/conversations/${group.id}/bans`, as(a))),
      invites: await burst(() => api.get(`/v1/conversations/${group.id}/invites`, as(a))),
      logout: await burst(() => api.post('/v1/auth/logout', { refreshToken: 'x'.repeat(40) }))
    }
    for (const [route, statuses] of Object.entries(bursts)) {
      expect(statuses[429] ?? 0, `${route}: ${JSON.stringify(statuses)}`).toBeGreaterThan(0)
      expect(Object.keys(statuses).filter((s) => Number(s) >= 500), route).toEqual([])
    }
  })
})
