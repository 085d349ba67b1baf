// Writes racing an account's deletion (DELETE /v1/me), in parallel over real
// HTTP: others opening direct conversations with the account or adding it to
// groups, the account's own joins, invite links and invitations, and what it
// writes of itself (display name, email, blocks, report notes). Each write
// either commits before the erasure, and the deletion's later steps undo it,
// or finds the account deleted and is refused (401 for the account's own
// requests, 404 for others naming it): after the 204, the deleted account is
// a member of nothing and nothing it wrote in flight is left.
// (src/domain/live-accounts.ts.) Whether a round hits the window depends on
// timing; what is asserted holds in every round.
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { setTimeout as sleep } from 'node:timers/promises'
import { client, type Account, type Client, type Response } from './helpers/http.js'
import { createGroup, post } from './helpers/chat.js'
import { startServer, type TestServer } from './helpers/server.js'
import { test, type TestSmtp } from './helpers/smtp.js'
import { users } from './helpers/users.js'

test.override('serverOptions', { scope: 'file' }, ({ smtp }) => ({
  config: { smtpUrl: smtp.url, mailFrom: 'Switchboard <no-reply@switchboard.test>', inviteRateLimitPerMinute: 100_000 }
}))

let server: TestServer
let smtp: TestSmtp
let api: Client

test.beforeAll(({ server: started, smtp: mail }) => {
  server = started
  smtp = mail
  api = client(server.url)
})

const ROUNDS = 3
const as = (who: Account) => ({ token: who.accessToken })

/**
 * DELETE /v1/me of `victim` and `n` writes started `stepMs` apart from the
 * same moment on, so that some arrive while the deletion checks the password,
 * some while it erases and some after. The deletion must answer 204.
 */
async function raceDeletion (on: Client, victim: Account, n: number, stepMs: number, write: (i: number) => Promise<Response>): Promise<Response[]> {
  const writes = Array.from({ length: n }, async (_, i) => { await sleep(i * stepMs); return write(i) })
  const [deleted, ...results] = await Promise.all([on.request('DELETE', '/v1/me', { body: { password: victim.password }, token: victim.accessToken }), ...writes])
  expect(deleted.status).toBe(204)
  return results
}

/** The answers that are neither of `allowed` ("201" or "404 NOT_FOUND"). */
const unexpected = (results: Response[], allowed: string[]) =>
  results.map((r) => r.body?.code === undefined ? `${r.status}` : `${r.status} ${r.body.code}`).filter((s) => !allowed.includes(s))

async function liveMemberships (on: TestServer, userId: string): Promise<number> {
  const [{ n }] = await on.sql('SELECT count(*)::int AS n FROM memberships WHERE user_id = $1 AND left_at IS NULL', [userId])
  return n
}

describe('others naming an account while it is deleted', () => {
  test('directs opened with it: none is left with the deleted account, and none opens once it is gone', async () => {
    const openers = await users(api, 24)
    for (let round = 0; round < ROUNDS; round++) {
      const [victim] = await users(api, 1)
      const results = await raceDeletion(api, victim, openers.length, 4, (i) =>
        api.post('/v1/conversations', { type: 'direct', userId: victim.user.id }, as(openers[i]!)))
      expect(unexpected(results, ['201', '404 NOT_FOUND'])).toEqual([])
      expect(await liveMemberships(server, victim.user.id)).toBe(0)
      const late = await api.post('/v1/conversations', { type: 'direct', userId: victim.user.id }, as(openers[round]!))
      expect(late.status).toBe(404)
    }
  })

  test('groups adding it or created with it: the deleted account is a member of none', async () => {
    const [owner] = await users(api, 1)
    for (let round = 0; round < ROUNDS; round++) {
      const [victim] = await users(api, 1)
      const groups = await Promise.all(Array.from({ length: 15 }, () => createGroup(api, owner, [])))
      const results = await raceDeletion(api, victim, 30, 4, (i) => i % 2 === 0
        ? api.post(`/v1/conversations/${groups[i / 2]!.id}/members`, { userIds: [victim.user.id] }, as(owner))
        : api.post('/v1/conversations', { type: 'group', title: `with ${i}`, memberIds: [victim.user.id] }, as(owner)))
      expect(unexpected(results, ['200', '201', '404 NOT_FOUND'])).toEqual([])
      expect(await liveMemberships(server, victim.user.id)).toBe(0)
    }
  })
})

describe('the account joining while it is deleted', () => {
  test('joins of channels and accepted invite links: the deleted account is a member of none', async () => {
    const [owner] = await users(api, 1)
    for (let round = 0; round < ROUNDS; round++) {
      const [victim] = await users(api, 1)
      const channels = await Promise.all(Array.from({ length: 15 }, async () =>
        (await api.post('/v1/conversations', { type: 'group', title: 'channel', memberIds: [], public: true }, as(owner))).body))
      const codes = await Promise.all(Array.from({ length: 15 }, async () => {
        const g = await createGroup(api, owner, [])
        return (await api.post(`/v1/conversations/${g.id}/invites`, {}, as(owner))).body.code as string
      }))
      const results = await raceDeletion(api, victim, 30, 4, (i) => i % 2 === 0
        ? api.post(`/v1/conversations/${channels[i / 2]!.id}/join`, undefined, as(victim))
        : api.post(`/v1/invites/${codes[(i - 1) / 2]!}/accept`, undefined, as(victim)))
      expect(unexpected(results, ['200', '401 UNAUTHORIZED'])).toEqual([])
      expect(await liveMemberships(server, victim.user.id)).toBe(0)
    }
  })

  describe('GROUP_ADDS=invite', () => {
    let inviting: TestServer
    let on: Client
    beforeAll(async () => {
      inviting = await startServer({ config: { groupAdds: 'invite' } })
      on = client(inviting.url)
    })
    afterAll(async () => { await inviting?.close() })

    test('accepted invitations, and invitations sent meanwhile: none is left to the deleted account', async () => {
      const [owner] = await users(on, 1)
      for (let round = 0; round < ROUNDS; round++) {
        const [victim] = await users(on, 1)
        const groups = await Promise.all(Array.from({ length: 30 }, () => createGroup(on, owner, [])))
        // Half invite it before (it accepts during the deletion), half during the deletion.
        for (const g of groups.slice(0, 15)) expect((await on.post(`/v1/conversations/${g.id}/members`, { userIds: [victim.user.id] }, as(owner))).status).toBe(200)
        const results = await raceDeletion(on, victim, 30, 4, (i) => i % 2 === 0
          ? on.post(`/v1/me/invitations/${groups[i / 2]!.id}/accept`, undefined, as(victim))
          : on.post(`/v1/conversations/${groups[15 + (i - 1) / 2]!.id}/members`, { userIds: [victim.user.id] }, as(owner)))
        expect(unexpected(results.filter((_, i) => i % 2 === 0), ['200', '401 UNAUTHORIZED'])).toEqual([])
        expect(unexpected(results.filter((_, i) => i % 2 === 1), ['200', '404 NOT_FOUND'])).toEqual([])
        expect(await liveMemberships(inviting, victim.user.id)).toBe(0)
        const [{ n }] = await inviting.sql('SELECT count(*)::int AS n FROM group_invitations WHERE user_id = $1', [victim.user.id])
        expect(n).toBe(0)
      }
    })
  })
})

describe('the account writing of itself while it is deleted', () => {
  test('display name changes in flight: the name stays erased', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [victim] = await users(api, 1)
      const results = await raceDeletion(api, victim, 40, 3, (i) => api.patch('/v1/me', { displayName: `Jane Realname ${i}` }, as(victim)))
      expect(unexpected(results, ['200', '401 UNAUTHORIZED'])).toEqual([])
      const [row] = await server.sql('SELECT display_name FROM users WHERE id = $1', [victim.user.id])
      expect(row.display_name).toBe('Deleted user')
    }
  })

  test('email requests in flight: no address stays, and only the accepted ones were mailed', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [victim] = await users(api, 1)
      const address = (i: number) => `jane.${i}.${victim.user.username}@example.com`
      const results = await raceDeletion(api, victim, 20, 6, (i) => api.post('/v1/me/email', { email: address(i), password: victim.password }, as(victim)))
      expect(unexpected(results, ['202', '401 UNAUTHORIZED'])).toEqual([])
      const [row] = await server.sql('SELECT email, pending_email FROM users WHERE id = $1', [victim.user.id])
      expect(row).toEqual({ email: null, pending_email: null })
      // A mail goes out before its 202; a refused request sends none.
      const mailed = smtp.mails.filter((m) => m.to.some((to) => to.endsWith(`.${victim.user.username}@example.com`))).length
      expect(mailed).toBe(results.filter((r) => r.status === 202).length)
    }
  })

  test('thread reads in flight: no thread position of it stays', async () => {
    const [other] = await users(api, 1)
    for (let round = 0; round < ROUNDS; round++) {
      const [victim] = await users(api, 1)
      const group = await createGroup(api, other, [victim])
      const roots = await Promise.all(Array.from({ length: 8 }, (_, i) => post(api, other, group.id, `root ${i}`)))
      for (const root of roots) await post(api, other, group.id, 'a reply', { threadRootId: root.id })
      const results = await raceDeletion(api, victim, 40, 3, (i) =>
        api.post(`/v1/conversations/${group.id}/messages/${roots[i % roots.length]!.id}/thread/read`, { seq: 1_000 }, as(victim)))
      expect(unexpected(results, ['204', '401 UNAUTHORIZED', '404 NOT_FOUND'])).toEqual([])
      const [row] = await server.sql('SELECT count(*)::int AS n FROM thread_members WHERE user_id = $1', [victim.user.id])
      expect(row.n).toBe(0)
    }
  })

  test('uploads created in flight: none of it stays but to be removed', async () => {
    const [other] = await users(api, 1)
    for (let round = 0; round < ROUNDS; round++) {
      const [victim] = await users(api, 1)
      const group = await createGroup(api, other, [victim])
      const results = await raceDeletion(api, victim, 30, 4, (i) =>
        api.post('/v1/uploads', { conversationId: group.id, filename: `holiday ${i}.txt`, contentType: 'text/plain', size: 10 }, as(victim)))
      expect(unexpected(results, ['201', '401 UNAUTHORIZED', '404 NOT_FOUND'])).toEqual([])
      const [row] = await server.sql("SELECT count(*)::int AS n FROM uploads WHERE owner_id = $1 AND state <> 'deleting'", [victim.user.id])
      expect(row.n).toBe(0)
    }
  })

  test('blocks and reports in flight, its own and others\': no block, note or message body of it stays', async () => {
    const others = await users(api, 10)
    for (let round = 0; round < ROUNDS; round++) {
      const [victim] = await users(api, 1)
      const group = await createGroup(api, others[0]!, [victim])
      const messages = await Promise.all(Array.from({ length: 8 }, (_, i) => post(api, victim, group.id, `secret words ${i}`)))
      const results = await raceDeletion(api, victim, 40, 3, (i) => {
        const other = others[i % others.length]!
        switch (i % 4) {
          case 0: return api.put(`/v1/me/blocks/${other.user.id}`, undefined, as(victim))
          case 1: return api.post('/v1/reports', { userId: other.user.id, reason: 'other', note: `private note ${i}` }, as(victim))
          case 2: return api.put(`/v1/me/blocks/${victim.user.id}`, undefined, as(other))
          default: return api.post('/v1/reports', { messageId: messages[i % messages.length]!.id, reason: 'spam' }, as(others[0]!))
        }
      })
      const own = results.filter((_, i) => i % 4 < 2)
      expect(unexpected(own, ['201', '204', '401 UNAUTHORIZED'])).toEqual([])
      expect(unexpected(results.filter((_, i) => i % 4 >= 2), ['201', '204', '404 NOT_FOUND'])).toEqual([])
      const [row] = await server.sql(`SELECT
          (SELECT count(*)::int FROM blocks WHERE blocker_id = $1 OR blocked_id = $1) AS blocks,
          (SELECT count(*)::int FROM reports WHERE reporter_id = $1 AND note IS NOT NULL) AS notes,
          (SELECT count(*)::int FROM reports WHERE target_user_id = $1 AND snapshot IS NOT NULL) AS bodies`, [victim.user.id])
      expect(row).toEqual({ blocks: 0, notes: 0, bodies: 0 })
    }
  })
})
