// GROUP_ADDS=invite, bounded: a pending invitation holds a place in its group
// (members and pending invitations stay within GROUP_MAX_MEMBERS, so every
// invitation sent can be accepted, and joins by invite link leave the places
// held), and a user has at most INVITATIONS_MAX_PENDING invitations pending
// (409 TOO_MANY_INVITATIONS past it), also under concurrent inviters.
import { describe, expect, it } from 'vitest'
import { createGroup } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

const MAX_MEMBERS = 4
const MAX_PENDING = 3
test.override('serverOptions', { config: { groupAdds: 'invite', groupMaxMembers: MAX_MEMBERS, invitationsMaxPending: MAX_PENDING } })

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const pending = async (who: Account) => (await api.get('/v1/me/invitations', as(who))).body.invitations as any[]
const invite = (owner: Account, groupId: string, invitees: Account[]) =>
  api.post(`/v1/conversations/${groupId}/members`, { userIds: invitees.map((u) => u.user.id) }, as(owner))
const acceptInvitation = (who: Account, groupId: string) => api.post(`/v1/me/invitations/${groupId}/accept`, undefined, as(who))

describe('pending invitations hold places in their group', () => {
  it('members and pending invitations stay within GROUP_MAX_MEMBERS, so every invitation sent can be accepted', async () => {
    const [owner, a, b, c, d, e] = await users(6)
    const g = await createGroup(api, owner, [a, b], 'places')
    // One member and two pending: one place left.
    expectError(await invite(owner, g.id, [c, d]), 400, 'VALIDATION_FAILED')
    expect(await pending(c)).toEqual([])
    expect((await invite(owner, g.id, [c])).status).toBe(200)
    // Inviting again someone pending takes no new place.
    expect((await invite(owner, g.id, [a])).status).toBe(200)
    expectError(await invite(owner, g.id, [d]), 400, 'VALIDATION_FAILED')
    // An invite link does not take a place an invitation holds.
    const link = (await api.post(`/v1/conversations/${g.id}/invites`, {}, as(owner))).body
    expectError(await api.post(`/v1/invites/${link.code}/accept`, undefined, as(e)), 400, 'VALIDATION_FAILED')
    // A declined invitation frees its place.
    expect((await api.post(`/v1/me/invitations/${g.id}/decline`, undefined, as(b))).status).toBe(204)
    expect((await api.post(`/v1/invites/${link.code}/accept`, undefined, as(e))).status).toBe(200)
    for (const who of [a, c]) expect((await acceptInvitation(who, g.id)).status).toBe(200)
    expect((await api.get(`/v1/conversations/${g.id}`, as(owner))).body.memberCount).toBe(MAX_MEMBERS)
  })

  it('concurrent invitations to one group stop at its size', async () => {
    const [owner, ...invitees] = await users(7)
    const g = await createGroup(api, owner, [], 'racing inviters')
    const answers = await Promise.all(invitees.map((u) => invite(owner, g.id, [u])))
    expect(answers.filter((r) => r.status === 200)).toHaveLength(MAX_MEMBERS - 1)
    for (const r of answers.filter((r) => r.status !== 200)) expectError(r, 400, 'VALIDATION_FAILED')
    const rows = await server.sql('SELECT count(*)::int AS n FROM group_invitations WHERE conversation_id = $1', [g.id])
    expect(rows[0].n).toBe(MAX_MEMBERS - 1)
  })
})

describe('pending invitations of one user', () => {
  it('are at most INVITATIONS_MAX_PENDING: the next inviter gets 409 TOO_MANY_INVITATIONS, and a declined one makes room', async () => {
    const [victim, spammer, friend] = await users(3)
    const groups = []
    for (let i = 0; i < MAX_PENDING; i++) groups.push(await createGroup(api, spammer, [victim], `spam ${i}`))
    // Neither creating a group with them nor adding them to one invites them past it; nothing is written.
    expectError(await api.post('/v1/conversations', { type: 'group', title: 'one more', memberIds: [victim.user.id] }, as(spammer)), 409, 'TOO_MANY_INVITATIONS')
    const wanted = await createGroup(api, friend, [], 'a friend\'s')
    expectError(await invite(friend, wanted.id, [victim]), 409, 'TOO_MANY_INVITATIONS')
    expect((await pending(victim)).map((i) => i.conversationId).sort()).toEqual(groups.map((g) => g.id).sort())
    expect((await api.get('/v1/conversations', as(spammer))).body.conversations).toHaveLength(MAX_PENDING)
    // Inviting again to a group they are invited to already changes nothing and is no refusal.
    expect((await invite(spammer, groups[0].id, [victim])).status).toBe(200)
    expect((await api.post(`/v1/me/invitations/${groups[0].id}/decline`, undefined, as(victim))).status).toBe(204)
    expect((await invite(friend, wanted.id, [victim])).status).toBe(200)
    expect((await acceptInvitation(victim, wanted.id)).status).toBe(200)
  })

  it('stay at the limit when many groups invite the same user at once', async () => {
    const [victim, ...inviters] = await users(8)
    const groups = await Promise.all(inviters.map((o, i) => createGroup(api, o, [], `racing ${i}`)))
    const answers = await Promise.all(groups.map((g, i) => invite(inviters[i]!, g.id, [victim])))
    expect(answers.filter((r) => r.status === 200)).toHaveLength(MAX_PENDING)
    for (const r of answers.filter((r) => r.status !== 200)) expectError(r, 409, 'TOO_MANY_INVITATIONS')
    expect(await pending(victim)).toHaveLength(MAX_PENDING)
  })
})

describe('places freed by withdrawal and expiry', () => {
  const age = (groupId: string, who: Account) =>
    server.sql("UPDATE group_invitations SET created_at = created_at - interval '31 days' WHERE conversation_id = $1 AND user_id = $2", [groupId, who.user.id])
  const listed = async (owner: Account, groupId: string) =>
    ((await api.get(`/v1/conversations/${groupId}/invitations`, as(owner))).body.invitations as any[]).map((i) => i.user.id).sort()

  it('a withdrawn invitation frees its place in a full group: a new invitation fits, the withdrawn one answers 404', async () => {
    const [owner, a, b, c, d] = await users(5)
    const g = await createGroup(api, owner, [a, b, c], 'full of invitations')
    expectError(await invite(owner, g.id, [d]), 400, 'VALIDATION_FAILED')
    expect((await api.del(`/v1/conversations/${g.id}/invitations/${b.user.id}`, as(owner))).status).toBe(204)
    expect((await invite(owner, g.id, [d])).status).toBe(200)
    expectError(await acceptInvitation(b, g.id), 404, 'NOT_FOUND')
    expect(await listed(owner, g.id)).toEqual([a, c, d].map((u) => u.user.id).sort())
    for (const who of [a, c, d]) expect((await acceptInvitation(who, g.id)).status).toBe(200)
    expect((await api.get(`/v1/conversations/${g.id}`, as(owner))).body.memberCount).toBe(MAX_MEMBERS)
  })

  it('an expired invitation (INVITATION_TTL_DAYS) is neither listed, nor acceptable, nor holding a place; it can be sent afresh', async () => {
    const [owner, a, b, c, d] = await users(5)
    const g = await createGroup(api, owner, [a, b, c], 'expiring')
    expectError(await invite(owner, g.id, [d]), 400, 'VALIDATION_FAILED')
    await age(g.id, a)
    expect(await pending(a)).toEqual([])
    expect(await listed(owner, g.id)).toEqual([b, c].map((u) => u.user.id).sort())
    expectError(await acceptInvitation(a, g.id), 404, 'NOT_FOUND')
    expectError(await api.post(`/v1/me/invitations/${g.id}/decline`, undefined, as(a)), 404, 'NOT_FOUND')
    // Its place is free: another invitation fits.
    expect((await invite(owner, g.id, [d])).status).toBe(200)
    expectError(await invite(owner, g.id, [a]), 400, 'VALIDATION_FAILED')
    expect((await api.del(`/v1/conversations/${g.id}/invitations/${d.user.id}`, as(owner))).status).toBe(204)
    // Sent again, it is a new invitation with a new expiry, and it is accepted.
    expect((await invite(owner, g.id, [a])).status).toBe(200)
    const [fresh] = await pending(a)
    expect(Date.parse(fresh.expiresAt)).toBeGreaterThan(Date.now() + 29 * 86_400_000)
    expect((await acceptInvitation(a, g.id)).status).toBe(200)
  })

  it('expired invitations no longer count toward a user\'s INVITATIONS_MAX_PENDING', async () => {
    const [victim, inviter, friend] = await users(3)
    const groups = []
    for (let i = 0; i < MAX_PENDING; i++) groups.push(await createGroup(api, inviter, [victim], `old ${i}`))
    const wanted = await createGroup(api, friend, [], 'a friend\'s, later')
    expectError(await invite(friend, wanted.id, [victim]), 409, 'TOO_MANY_INVITATIONS')
    await age(groups[0].id, victim)
    expect(await pending(victim)).toHaveLength(MAX_PENDING - 1)
    expect((await invite(friend, wanted.id, [victim])).status).toBe(200)
    expect((await acceptInvitation(victim, wanted.id)).status).toBe(200)
  })
})
