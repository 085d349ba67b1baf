// A user put into many big groups (by others, without their consent) still
// gets a small, cheap page of the conversation list: each conversation shows
// its member count and its first few members, and the members themselves are
// paged at GET /v1/conversations/:id/members (members only, keyset cursor).
import { describe, expect, it } from 'vitest'
import { createDirect, createGroup } from './helpers/chat.js'
import { client, expectError, register, uniqueName, type Account, type Client } from './helpers/http.js'
import { countQueries, rowsRead } from './helpers/queries.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

const GROUPS = 30
const MEMBERS = 1000
const REMOVED = 20
const PREVIEW = 10 // CONVERSATION_MEMBERS_PREVIEW's default
const MISSING = '0196a1b2-0000-7000-8000-000000000000'

let server: TestServer
let api: Client
let victim: Account
let bigIds: string[]
const as = (who: Account) => ({ token: who.accessToken })
const membersPath = (id: string, query = '') => `/v1/conversations/${id}/members${query}`

/**
 * GROUPS groups of the victim and MEMBERS other users, written straight to the
 * database. Members join in runs of 7 sharing one joined_at (so the order falls
 * back to the user id), and the first group also has REMOVED former members
 * spread among them.
 */
async function seedBigGroups (): Promise<string[]> {
  const prefix = uniqueName('cm')
  await server.sql(`INSERT INTO users (id, username, display_name, password_hash, created_at)
    SELECT gen_random_uuid(), $1 || '_' || i, 'Member ' || i, 'not-a-hash', now() FROM generate_series(1, $2::int) AS i`,
  [prefix, MEMBERS + REMOVED])
  const groups = await server.sql<{ id: string }>(`INSERT INTO conversations (id, type, title, last_seq, last_activity_at, created_at)
    SELECT gen_random_uuid(), 'group', 'big ' || g, 0, now() - g * interval '1 second', now() FROM generate_series(1, $1::int) AS g
    RETURNING id`, [GROUPS])
  const ids = groups.map((g) => g.id)
  await server.sql(`INSERT INTO memberships (conversation_id, user_id, role, joined_seq, last_read_seq, joined_at)
    SELECT c, $2, 'owner', 1, 0, now() - interval '1 day' FROM unnest($1::uuid[]) AS c`, [ids, victim.user.id])
  const others = `(SELECT id, row_number() OVER (ORDER BY id) AS n FROM users WHERE username LIKE $2 || '\\_%')`
  await server.sql(`INSERT INTO memberships (conversation_id, user_id, role, joined_seq, last_read_seq, joined_at)
    SELECT c, u.id, 'member', 1, 0, now() - interval '1 hour' + (u.n / 7) * interval '1 second'
      FROM unnest($1::uuid[]) AS c, ${others} u
     WHERE u.n <= $3 OR c = $1[1]`, [ids, prefix, MEMBERS])
  // The extra members of the first group leave (an UPDATE, as the service does it).
  await server.sql(`UPDATE memberships SET left_at = now()
     WHERE conversation_id = $1 AND user_id IN (SELECT id FROM ${others} u WHERE u.n % ${Math.ceil((MEMBERS + REMOVED) / REMOVED)} = 0 LIMIT $3)`,
  [ids[0], prefix, REMOVED])
  const [live] = await server.sql('SELECT count(*)::int AS n FROM memberships WHERE conversation_id = $1 AND left_at IS NULL', [ids[0]])
  expect(live.n).toBe(MEMBERS + 1)
  return ids
}

/** Every page of /members, following nextCursor. */
async function allMembers (who: Account, id: string, limit: number) {
  const members: any[] = []
  const pages: any[] = []
  let cursor: string | null = null
  do {
    const res: any = await api.get(membersPath(id, `?limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`), as(who))
    expect(res.status).toBe(200)
    pages.push(res.body)
    members.push(...res.body.members)
    cursor = res.body.nextCursor
  } while (cursor !== null && pages.length < 1000)
  return { members, pages }
}

test.beforeAll(async ({ server: started }) => {
  server = started
  api = client(server.url)
  victim = await register(api)
  bigIds = await seedBigGroups()
}, 120_000)

describe('the conversation list of a user in many big groups', () => {
  it('is a bounded page: the member count and the first members only, in a fixed number of queries that read a bounded number of members', async () => {
    await api.get('/v1/me', as(victim)) // the session check is cached from here on
    let page: any, small: any
    const two = await countQueries(async () => { small = await api.get('/v1/conversations?limit=2', as(victim)) })
    const full = await countQueries(async () => { page = await api.get(`/v1/conversations?limit=${GROUPS}`, as(victim)) })
    expect(small.status).toBe(200)
    expect(page.status).toBe(200)
    expect(page.body.conversations.map((c: any) => c.id).sort()).toEqual([...bigIds].sort())
    // About 250 bytes per member shown: all 30,030 members would be over 7 MB.
    expect(Buffer.byteLength(JSON.stringify(page.body))).toBeLessThan(GROUPS * PREVIEW * 400)
    // Each conversation's first members and the caller's own membership, not all 30,030 rows.
    expect(await rowsRead(server.sql, full.statements, 'memberships')).toBeLessThanOrEqual(GROUPS * (PREVIEW + 2))
    expect(full.count).toBe(two.count)
    expect(full.count).toBeLessThanOrEqual(4)
    for (const c of page.body.conversations) {
      expect(c.memberCount).toBe(MEMBERS + 1)
      expect(c.members).toHaveLength(PREVIEW)
    }
  }, 60_000)

  it('shows the same first members as the first page of /members, the caller (first to join) included', async () => {
    const list = (await api.get(`/v1/conversations?limit=${GROUPS}`, as(victim))).body.conversations
    const first = list.find((c: any) => c.id === bigIds[0])
    const page = await api.get(membersPath(bigIds[0]!, `?limit=${PREVIEW}`), as(victim))
    expect(first.members).toEqual(page.body.members)
    expect(first.members[0]).toMatchObject({ user: { id: victim.user.id, username: victim.user.username }, role: 'owner', lastReadSeq: 0 })
  })

  it('keeps one conversation whole: GET /v1/conversations/:id has all its members', async () => {
    const res = await api.get(`/v1/conversations/${bigIds[1]}`, as(victim))
    expect(res.status).toBe(200)
    expect(res.body.memberCount).toBe(MEMBERS + 1)
    expect(res.body.members).toHaveLength(MEMBERS + 1)
  })
})

describe('GET /v1/conversations/:id/members', () => {
  it('pages through every current member exactly once, in joining order then user id, never a removed one', async () => {
    const { members, pages } = await allMembers(victim, bigIds[0]!, 100)
    expect(pages).toHaveLength(Math.ceil((MEMBERS + 1) / 100))
    expect(pages.at(-1).nextCursor).toBeNull()
    const ids = members.map((m) => m.user.id)
    expect(new Set(ids).size).toBe(MEMBERS + 1)
    const live = await server.sql<{ user_id: string }>(`SELECT user_id FROM memberships
      WHERE conversation_id = $1 AND left_at IS NULL ORDER BY joined_at, user_id`, [bigIds[0]])
    expect(ids).toEqual(live.map((r) => r.user_id))
    expect(members[1]).toEqual({
      user: { id: expect.any(String), username: expect.any(String), displayName: expect.stringMatching(/^Member /), avatarUrl: null, createdAt: expect.any(String) },
      role: 'member',
      lastReadSeq: 0,
      lastDeliveredSeq: 0,
      joinedAt: expect.any(String)
    })
  }, 60_000)

  it('costs the same at any depth: a deep page reads only its own members', async () => {
    const { pages } = await allMembers(victim, bigIds[0]!, 50)
    const deep = pages.at(-3).nextCursor
    let res: any
    const { statements } = await countQueries(async () => { res = await api.get(membersPath(bigIds[0]!, `?limit=50&cursor=${deep}`), as(victim)) })
    expect(res.body.members).toHaveLength(50)
    // The caller's membership and the page (plus the one that tells whether there is more).
    expect(await rowsRead(server.sql, statements, 'memberships')).toBeLessThanOrEqual(53)
  }, 60_000)

  it('defaults to pages of 50 and shows a small group or a direct conversation whole, as before, in the list too', async () => {
    const [a, b, c] = await registerMany(api, 3)
    const group = await createGroup(api, a, [b, c], 'small')
    const direct = await createDirect(api, a, b)
    const page = await api.get(membersPath(group.id), as(b))
    expect(page.body.nextCursor).toBeNull()
    expect(page.body.members.map((m: any) => m.user.id).sort()).toEqual([a, b, c].map((x) => x.user.id).sort())
    const list = (await api.get('/v1/conversations', as(a))).body.conversations
    for (const [id, count] of [[group.id, 3], [direct.id, 2]] as const) {
      const fromList = list.find((x: any) => x.id === id)
      const one = (await api.get(`/v1/conversations/${id}`, as(a))).body
      expect(fromList.memberCount).toBe(count)
      expect(fromList.members).toHaveLength(count)
      expect(fromList.members).toEqual(one.members)
      expect(one.memberCount).toBe(count)
    }
    const big = await api.get(membersPath(bigIds[2]!), as(victim))
    expect(big.body.members).toHaveLength(50)
    expect(big.body.nextCursor).toEqual(expect.any(String))
  })

  it('counts members right through adding, removing, leaving and coming back', async () => {
    const [owner, x, y, z] = await registerMany(api, 4)
    const group = await createGroup(api, owner, [x], 'counted')
    const check = async (expected: number) => {
      const one = (await api.get(`/v1/conversations/${group.id}`, as(owner))).body
      const [stored] = await server.sql('SELECT count(*)::int AS n FROM memberships WHERE conversation_id = $1 AND left_at IS NULL', [group.id])
      expect({ memberCount: one.memberCount, shown: one.members.length, stored: stored.n }).toEqual({ memberCount: expected, shown: expected, stored: expected })
    }
    await check(2)
    expect((await api.post(membersPath(group.id), { userIds: [y.user.id, z.user.id] }, as(owner))).body.memberCount).toBe(4)
    await check(4)
    expect((await api.del(membersPath(group.id, `/${y.user.id}`), as(owner))).status).toBe(204)
    expect((await api.del(membersPath(group.id, `/${z.user.id}`), as(z))).status).toBe(204)
    await check(2)
    await api.post(membersPath(group.id), { userIds: [y.user.id] }, as(owner))
    await check(3)
    await api.post(`/v1/conversations/${group.id}/read`, { seq: 100 }, as(x))
    await check(3)
  })

  it('answers a stranger, a removed member and a missing conversation with the same 404', async () => {
    const [owner, member, removed, stranger] = await registerMany(api, 4)
    const group = await createGroup(api, owner, [member, removed], 'private')
    expect((await api.del(membersPath(group.id, `/${removed.user.id}`), as(owner))).status).toBe(204)
    const missing = await api.get(membersPath(MISSING), as(stranger))
    expectError(missing, 404, 'NOT_FOUND')
    for (const who of [stranger, removed]) {
      const res = await api.get(membersPath(group.id), as(who))
      expect({ status: res.status, body: res.body }).toEqual({ status: 404, body: missing.body })
      expect(JSON.stringify(res.body)).not.toContain(owner.user.username)
    }
    // Nor can a stranger page a big group with a cursor taken from a member's page.
    const cursor = (await api.get(membersPath(bigIds[0]!, '?limit=5'), as(victim))).body.nextCursor
    expectError(await api.get(membersPath(bigIds[0]!, `?cursor=${cursor}`), as(stranger)), 404, 'NOT_FOUND')
    expectError(await api.get(membersPath(bigIds[0]!), {}), 401, 'UNAUTHORIZED')
  })

  it('refuses bad cursors and limits with 400 VALIDATION_FAILED', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64url')
    const uuid = victim.user.id
    const bad = [
      'limit=0', 'limit=101', 'limit=x', 'cursor=', 'cursor=garbage', 'cursor=%00',
      `cursor=${b64('2026-01-01T00:00:00.000Z|not-a-uuid')}`,
      `cursor=${b64(`not-a-date|${uuid}`)}`,
      `cursor=${b64(`2026-13-01T00:00:00.000Z|${uuid}`)}`,
      `cursor=${b64(`2026-02-30T00:00:00.000Z|${uuid}`)}`,
      `cursor=${b64(`0000-01-01T00:00:00.000Z|${uuid}`)}`,
      `cursor=${b64(`+275760-09-13T00:00:00.000Z|${uuid}`)}`,
      `cursor=${b64(`-271821-04-20T00:00:00.000Z|${uuid}`)}`,
      `cursor=${b64(`2026-01-01T00:00:00Z|${uuid}`)}`,
      `cursor=${b64(`2026-01-01T00:00:00.000Z|${uuid}|extra`)}`,
      `cursor=${'A'.repeat(201)}`
    ]
    for (const q of bad) {
      const res = await api.get(membersPath(bigIds[0]!, `?${q}`), as(victim))
      expect({ q, status: res.status, code: res.body?.code }).toEqual({ q, status: 400, code: 'VALIDATION_FAILED' })
    }
    expectError(await api.get(membersPath('not-a-uuid'), as(victim)), 400, 'VALIDATION_FAILED')
  })
})
