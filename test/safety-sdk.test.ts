// The SDK's safety calls against the real server: blocks (and hiding blocked
// senders), reports, group moderation and the admin API.
import { describe, expect, it } from 'vitest'
import { ApiError, createClient, hideBlocked, type SwitchboardClient } from '../src/client/index.js'
import { client, uniqueName, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

async function signUp (): Promise<SwitchboardClient> {
  const sdk = createClient({ baseUrl: server.url })
  await sdk.auth.register({ username: uniqueName(), password: 'correct horse battery' })
  return sdk
}

const idOf = (sdk: SwitchboardClient) => sdk.session!.user.id
const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (err: unknown) => err instanceof ApiError ? err.code : String(err))

describe('SDK safety', () => {
  it('blocks, lists, hides and unblocks; reports; moderates a group; runs the admin API', async () => {
    const [owner, member, staff] = await Promise.all([signUp(), signUp(), signUp()])
    const group = await owner.conversations.createGroup('g', [idOf(member)])
    const m = await member.messages.send(group.id, 'hello')

    await owner.safety.block(idOf(member))
    expect((await owner.safety.blocks()).blocks.map((b) => b.userId)).toEqual([idOf(member)])
    const history = (await owner.messages.history(group.id)).messages
    expect(hideBlocked(history, await owner.safety.blockedIds()).map((x) => x.id)).not.toContain(m.id)
    await owner.safety.unblock(idOf(member))
    expect((await owner.safety.blockedIds()).size).toBe(0)

    expect((await owner.safety.report({ messageId: m.id, reason: 'spam' })).status).toBe('open')

    await owner.moderation.mute(group.id, idOf(member))
    expect(await codeOf(member.messages.send(group.id, 'muted?'))).toBe('MUTED')
    await owner.moderation.unmute(group.id, idOf(member))
    await owner.moderation.freeze(group.id)
    expect(await codeOf(member.messages.send(group.id, 'frozen?'))).toBe('FROZEN')
    await owner.moderation.unfreeze(group.id)
    await owner.moderation.setSlowMode(group.id, 60)
    await member.messages.send(group.id, 'one')
    expect(await codeOf(member.messages.send(group.id, 'two'))).toBe('SLOW_MODE')
    await owner.moderation.setSlowMode(group.id, 0)
    await owner.moderation.ban(group.id, idOf(member))
    expect((await owner.moderation.bans(group.id)).bans.map((b) => b.userId)).toEqual([idOf(member)])
    expect(await codeOf(owner.conversations.addMembers(group.id, [idOf(member)]))).toBe('BANNED')
    await owner.moderation.unban(group.id, idOf(member))

    expect(await codeOf(staff.admin.users())).toBe('FORBIDDEN')
    await server.sql("UPDATE users SET app_roles = '{admin}' WHERE id = $1", [idOf(staff)])
    const open = await staff.admin.reports({ status: 'open' })
    const report = open.reports.find((r) => r.messageId === m.id)!
    expect((await staff.admin.resolveReport(report.id, 'warned')).status).toBe('resolved')
    expect((await staff.admin.deleteMessage(m.id)).deletedAt).not.toBeNull()
    await staff.admin.suspend(idOf(member), 'spam')
    expect((await api.post('/v1/auth/login', { username: member.session!.user.username, password: 'correct horse battery' })).body.code).toBe('SUSPENDED')
    await staff.admin.unsuspend(idOf(member))
    expect((await staff.admin.users({ query: member.session!.user.username })).users[0]!.suspendedAt).toBeNull()
    expect((await staff.admin.audit()).entries.map((e) => e.action).slice(0, 4)).toEqual(['user.unsuspended', 'user.suspended', 'message.deleted', 'report.resolved'])
    // A data-erasure request: the operator deletes the account for the user.
    await staff.admin.deleteUser(idOf(member))
    expect((await staff.admin.audit()).entries[0]).toMatchObject({ action: 'user.deleted', targetId: idOf(member) })
    expect(await codeOf(staff.admin.deleteUser(idOf(member)))).toBe('NOT_FOUND')
  })

  it('pages blocks and bans: blocks()/bans() take limit and cursor; allBlocks, blockedIds and allBans follow every page', async () => {
    const owner = await signUp()
    const group = await owner.conversations.createGroup('g', [])
    // More than one page of 100 (the page size of the all* calls), written straight to the database.
    const prefix = uniqueName('sp')
    const others = await server.sql<{ id: string }>(`INSERT INTO users (id, username, display_name, password_hash)
      SELECT gen_random_uuid(), $1 || '_' || i, 'Other ' || i, 'not-a-hash' FROM generate_series(1, 205) AS i RETURNING id`, [prefix])
    const ids = others.map((o) => o.id)
    await server.sql('INSERT INTO blocks (blocker_id, blocked_id) SELECT $1, unnest($2::uuid[])', [idOf(owner), ids])
    await server.sql('INSERT INTO conversation_bans (conversation_id, user_id, by_id) SELECT $1, unnest($2::uuid[]), $3', [group.id, ids, idOf(owner)])

    const first = await owner.safety.blocks({ limit: 2 })
    expect(first.blocks).toHaveLength(2)
    const second = await owner.safety.blocks({ limit: 2, cursor: first.nextCursor! })
    expect(second.blocks.map((b) => b.userId)).not.toContain(first.blocks[0]!.userId)
    const blocks = await owner.safety.allBlocks()
    expect(blocks.slice(0, 4).map((b) => b.userId)).toEqual([...first.blocks, ...second.blocks].map((b) => b.userId))
    expect(blocks.map((b) => b.userId).sort()).toEqual([...ids].sort())
    expect(await owner.safety.blockedIds()).toEqual(new Set(ids))

    const page = await owner.moderation.bans(group.id, { limit: 3 })
    expect(page.bans).toHaveLength(3)
    expect(page.nextCursor).toEqual(expect.any(String))
    const bans = await owner.moderation.allBans(group.id)
    expect(bans.map((b) => b.userId).sort()).toEqual([...ids].sort())
    expect(bans.slice(0, 3)).toEqual(page.bans)
    expect(await codeOf(owner.safety.blocks({ cursor: 'garbage' }))).toBe('VALIDATION_FAILED')
  })
})
