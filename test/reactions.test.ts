// Reactions (issue 17): PUT/DELETE .../messages/:messageId/reactions/:emoji.
// One emoji grapheme or a configured :name:; idempotent both ways; a limit per
// user per message; only members who can see the message, under the rules of
// posting; history shows { emoji, count, me }; reaction.added/removed events
// reach exactly the members who see the message, live and on replay; counts
// stay exact under concurrent reacting; a deleted message keeps none.
import { afterAll, describe, expect, it } from 'vitest'
import { normalizeReaction } from '../src/domain/reactions.js'
import { createDirect, createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'
import { recordingClient, type RecordingClient } from './helpers/sdk.js'
import { ApiError } from '../src/client/index.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []
const sdks: RecordingClient[] = []

test.override('serverOptions', { config: { reactionsCustom: 'party,shipit', reactionsPerUserPerMessage: 3, reactionsDistinctPerMessage: 4 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
  for (const c of sdks) c.sdk.realtime.close()
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const path = (conversationId: string, messageId: string, emoji: string) =>
  `/v1/conversations/${conversationId}/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`
const react = (who: Account, c: string, m: string, emoji: string) => api.put(path(c, m, emoji), undefined, as(who))
const unreact = (who: Account, c: string, m: string, emoji: string) => api.del(path(c, m, emoji), as(who))
const lastSeq = async (who: Account, c: string) => (await api.get(`/v1/conversations/${c}`, as(who))).body.lastSeq as number
async function historyOf (who: Account, c: string, messageId: string): Promise<any> {
  const res = await api.get(`/v1/conversations/${c}/messages?limit=100`, as(who))
  expect(res.status).toBe(200)
  return res.body.messages.find((m: any) => m.id === messageId)
}

describe('what a reaction is', () => {
  it('one RGI emoji grapheme (with its presentation selector added when left out), or a configured :name:', () => {
    const custom = ['party']
    for (const ok of ['👍', '❤️', '👨‍👩‍👧‍👦', '🇫🇷', '👍🏽', '#️⃣', ':party:']) expect(normalizeReaction(ok, custom)).toBe(ok)
    expect(normalizeReaction('❤', custom)).toBe('❤️')
    for (const bad of ['', 'a', '1', '👍👍', '👍 ', ':nope:', ':Party:', 'party', '\u200d', 'x'.repeat(65)]) expect(normalizeReaction(bad, custom)).toBeUndefined()
  })
})

describe('reactions', () => {
  it('are added and taken back idempotently, shown per viewer in history, and pushed as events with the message seq', async () => {
    const [owner, b, c] = await users(3)
    const group = await createGroup(api, owner, [b, c])
    const message = await post(api, owner, group.id, 'react to me')
    const watcher = await connectReady(server.url, c.accessToken, sockets)

    const first = await react(b, group.id, message.id, '👍')
    expect(first.status).toBe(200)
    expect(first.body).toEqual({ messageId: message.id, emoji: '👍', reactions: [{ emoji: '👍', count: 1, me: true }] })
    const pushed = await watcher.next((f) => f.type === 'reaction.added', 20_000)
    expect(pushed.data).toEqual({ messageId: message.id, messageSeq: message.seq, userId: b.user.id, emoji: '👍' })
    expect(pushed.conversationId).toBe(group.id)

    // Again: the same answer, and nothing written.
    const seq = await lastSeq(owner, group.id)
    expect((await react(b, group.id, message.id, '👍')).body).toEqual(first.body)
    expect(await lastSeq(owner, group.id)).toBe(seq)

    // The text form of ❤ is the same reaction as the emoji form; custom names work.
    expect((await react(c, group.id, message.id, '❤')).body.emoji).toBe('❤️')
    expect((await react(c, group.id, message.id, '❤️')).status).toBe(200)
    expect((await react(c, group.id, message.id, '👍')).status).toBe(200)
    expect((await react(owner, group.id, message.id, ':party:')).status).toBe(200)

    expect((await historyOf(b, group.id, message.id)).reactions).toEqual([
      { emoji: '👍', count: 2, me: true }, { emoji: '❤️', count: 1, me: false }, { emoji: ':party:', count: 1, me: false }
    ])
    expect((await historyOf(owner, group.id, message.id)).reactions).toEqual([
      { emoji: '👍', count: 2, me: false }, { emoji: '❤️', count: 1, me: false }, { emoji: ':party:', count: 1, me: true }
    ])

    const removed = await unreact(b, group.id, message.id, '👍')
    // In the order of each emoji's oldest reaction still there: c's 👍 came after its ❤️.
    expect(removed.body.reactions).toEqual([{ emoji: '❤️', count: 1, me: false }, { emoji: '👍', count: 1, me: false }, { emoji: ':party:', count: 1, me: false }])
    const gone = await watcher.next((f) => f.type === 'reaction.removed', 20_000)
    expect(gone.data).toEqual({ messageId: message.id, messageSeq: message.seq, userId: b.user.id, emoji: '👍' })
    // Absent: the same answer as success, no event.
    const seq2 = await lastSeq(owner, group.id)
    const again = await unreact(b, group.id, message.id, '👍')
    expect(again.status).toBe(200)
    expect(again.body).toEqual(removed.body)
    expect(await lastSeq(owner, group.id)).toBe(seq2)

    // The log says the same: replay has every change, in order.
    const events = (await replay(api, c, group.id)).filter((e) => e.type.startsWith('reaction.'))
    expect(events.map((e) => [e.type, e.data.userId, e.data.emoji])).toEqual([
      ['reaction.added', b.user.id, '👍'], ['reaction.added', c.user.id, '❤️'], ['reaction.added', c.user.id, '👍'],
      ['reaction.added', owner.user.id, ':party:'], ['reaction.removed', b.user.id, '👍']
    ])
    // A message without reactions has no reactions field (it reads as the message posted).
    const plain = await post(api, owner, group.id, 'nobody reacts')
    expect(await historyOf(b, group.id, plain.id)).toEqual(plain)
  })

  it('refuse what is not one emoji or a configured name: 400 INVALID_REACTION', async () => {
    const [owner] = await users(1)
    const group = await createGroup(api, owner, [])
    const message = await post(api, owner, group.id, 'x')
    for (const bad of ['a', '👍👍', ':nope:', 'party', '🙂🙂', '%F0%9F']) {
      expectError(await react(owner, group.id, message.id, bad), 400, 'INVALID_REACTION')
    }
    expectError(await api.put(path(group.id, message.id, 'x'.repeat(65)), undefined, as(owner)), 400, 'VALIDATION_FAILED')
  })

  it('a user puts at most REACTIONS_PER_USER_PER_MESSAGE different ones on a message: 409 TOO_MANY_REACTIONS', async () => {
    const [owner, b] = await users(2)
    const group = await createGroup(api, owner, [b])
    const message = await post(api, owner, group.id, 'x')
    for (const e of ['👍', '🎉', '🚀']) expect((await react(b, group.id, message.id, e)).status).toBe(200)
    expectError(await react(b, group.id, message.id, '😀'), 409, 'TOO_MANY_REACTIONS')
    // Another user has their own allowance; an existing one is still fine.
    expect((await react(b, group.id, message.id, '🚀')).status).toBe(200)
    expect((await react(owner, group.id, message.id, '😀')).status).toBe(200)
    expect((await unreact(b, group.id, message.id, '🎉')).status).toBe(200)
    expect((await react(b, group.id, message.id, '😀')).status).toBe(200)
  })

  it('a message carries at most REACTIONS_DISTINCT_PER_MESSAGE different ones from all users, even added at once: 409 TOO_MANY_REACTIONS; one already there is always allowed', async () => {
    const people = await users(6)
    const [owner, ...others] = people
    const group = await createGroup(api, owner, others)
    const message = await post(api, owner, group.id, 'pile on')
    const emojis = ['😀', '🎉', '🚀', '👍', '❤️', '🔥']
    // Six users add six different emoji at once: four fit, two are refused.
    const answers = await Promise.all(people.map((p, i) => react(p, group.id, message.id, emojis[i]!)))
    const refused = people.filter((_, i) => answers[i]!.status !== 200)
    expect(refused).toHaveLength(2)
    for (const res of answers.filter((r) => r.status !== 200)) {
      expectError(res, 409, 'TOO_MANY_REACTIONS')
      expect(res.body.message).toMatch(/4 different reactions/)
    }
    const shown = async () => (await historyOf(owner, group.id, message.id)).reactions as Array<{ emoji: string, count: number }>
    const kept = (await shown()).map((r) => r.emoji)
    expect(kept).toHaveLength(4)
    // The log has exactly the four that were added.
    const added = (await replay(api, owner, group.id)).filter((e) => e.type === 'reaction.added')
    expect(new Set(added.map((e) => e.data.emoji))).toEqual(new Set(kept))

    // An emoji already there is always allowed; a new one is not, until one goes away.
    expect((await react(refused[0]!, group.id, message.id, kept[0]!)).status).toBe(200)
    expectError(await react(refused[1]!, group.id, message.id, '🌈'), 409, 'TOO_MANY_REACTIONS')
    const lone = people[emojis.indexOf(kept[1]!)]!
    expect((await unreact(lone, group.id, message.id, kept[1]!)).status).toBe(200)
    expect((await react(refused[1]!, group.id, message.id, '🌈')).status).toBe(200)
    expect((await shown()).map((r) => r.emoji).sort()).toEqual([kept[0], kept[2], kept[3], '🌈'].sort())
  })

  it('only members who see the message: strangers, removed members and later joiners get 404; events skip those who cannot see it', async () => {
    const [owner, b, late, stranger] = await users(4)
    const group = await createGroup(api, owner, [b])
    const message = await post(api, owner, group.id, 'before late joined')
    expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [late.user.id] }, as(owner))).status).toBe(200)
    const lateSocket = await connectReady(server.url, late.accessToken, sockets)

    expectError(await react(stranger, group.id, message.id, '👍'), 404, 'NOT_FOUND')
    expectError(await react(late, group.id, message.id, '👍'), 404, 'NOT_FOUND')
    expectError(await react(b, group.id, '01900000-0000-7000-8000-000000000000', '👍'), 404, 'NOT_FOUND')
    expect((await react(b, group.id, message.id, '👍')).status).toBe(200)
    const after = await post(api, owner, group.id, 'after late joined')
    expect((await react(b, group.id, after.id, '🎉')).status).toBe(200)

    // The late joiner gets the reaction to the message they see, not the other, live and on replay.
    const seen = await lateSocket.next((f) => f.type === 'reaction.added', 20_000)
    expect(seen.data.messageId).toBe(after.id)
    const replayed = (await replay(api, late, group.id)).filter((e) => e.type.startsWith('reaction.'))
    expect(replayed.map((e) => e.data.messageId)).toEqual([after.id])

    expect((await api.del(`/v1/conversations/${group.id}/members/${b.user.id}`, as(owner))).status).toBe(204)
    expectError(await react(b, group.id, message.id, '🎉'), 404, 'NOT_FOUND')
    // Their reaction stays: it was made while they were a member.
    expect((await historyOf(owner, group.id, message.id)).reactions).toEqual([{ emoji: '👍', count: 1, me: false }])
  })

  it('follow the rules of posting: 403 MUTED, 403 FROZEN for plain members, 403 BLOCKED in a direct conversation', async () => {
    const [owner, b, c] = await users(3)
    const group = await createGroup(api, owner, [b, c])
    const message = await post(api, owner, group.id, 'x')
    expect((await react(c, group.id, message.id, '👍')).status).toBe(200)
    expect((await api.put(`/v1/conversations/${group.id}/mutes/${c.user.id}`, undefined, as(owner))).status).toBe(204)
    expectError(await react(c, group.id, message.id, '🎉'), 403, 'MUTED')
    expectError(await unreact(c, group.id, message.id, '👍'), 403, 'MUTED')
    expect((await api.put(`/v1/conversations/${group.id}/freeze`, undefined, as(owner))).status).toBe(204)
    expectError(await react(b, group.id, message.id, '🎉'), 403, 'FROZEN')
    expect((await react(owner, group.id, message.id, '🎉')).status).toBe(200)

    const direct = await createDirect(api, owner, b)
    const dm = await post(api, owner, direct.id, 'hi')
    expect((await react(b, direct.id, dm.id, '👍')).status).toBe(200)
    expect((await api.put(`/v1/me/blocks/${b.user.id}`, undefined, as(owner))).status).toBe(204)
    expectError(await react(b, direct.id, dm.id, '🎉'), 403, 'BLOCKED')
    // The blocker may still react.
    expect((await react(owner, direct.id, dm.id, '🎉')).status).toBe(200)
  })

  it('a deleted message loses its reactions and takes no more: 409 CONFLICT', async () => {
    const [owner, b] = await users(2)
    const group = await createGroup(api, owner, [b])
    const message = await post(api, b, group.id, 'soon gone')
    expect((await react(owner, group.id, message.id, '👍')).status).toBe(200)
    expect((await api.del(`/v1/conversations/${group.id}/messages/${message.id}`, as(b))).status).toBe(200)
    expect((await historyOf(owner, group.id, message.id)).reactions).toBeUndefined()
    expect(await server.sql('SELECT 1 FROM message_reactions WHERE message_id = $1', [message.id])).toEqual([])
    expectError(await react(owner, group.id, message.id, '🎉'), 409, 'CONFLICT')
  })

  it('counts stay exact when many users react and take back at once, and agree with the event log', async () => {
    const people = await users(12)
    const [owner, ...others] = people
    const group = await createGroup(api, owner, others)
    const message = await post(api, owner, group.id, 'pile on')
    const emojis = ['👍', '🎉', '🚀']
    // Every user adds all three at once, then takes 🎉 back while others still add.
    await Promise.all(people.flatMap((p) => emojis.map(async (e) => expect((await react(p, group.id, message.id, e)).status).toBe(200))))
    await Promise.all(people.flatMap((p, i) => [
      unreact(p, group.id, message.id, '🎉'),
      ...(i % 2 === 0 ? [unreact(p, group.id, message.id, '🚀'), react(p, group.id, message.id, '👍')] : [])
    ]).map(async (r) => expect((await r).status).toBe(200)))

    // others[0] is people[1]: it kept its 🚀. (Which emoji came first depends on the race: compare as sets.)
    const shown = (await historyOf(others[0]!, group.id, message.id)).reactions
    expect(new Set(shown.map((r: any) => JSON.stringify(r)))).toEqual(new Set([{ emoji: '👍', count: 12, me: true }, { emoji: '🚀', count: 6, me: true }].map((r) => JSON.stringify(r))))
    const tally = new Map<string, number>()
    for (const e of await replay(api, owner, group.id)) {
      if (e.type === 'reaction.added') tally.set(e.data.emoji, (tally.get(e.data.emoji) ?? 0) + 1)
      if (e.type === 'reaction.removed') tally.set(e.data.emoji, (tally.get(e.data.emoji) ?? 0) - 1)
    }
    expect(Object.fromEntries(tally)).toEqual({ '👍': 12, '🎉': 0, '🚀': 6 })
  }, 60_000)
})

describe('SDK', () => {
  it('conversations.react / unreact answer the reactions; the realtime client gets typed reaction events', async () => {
    const [a, b] = await users(2)
    const group = await createGroup(api, a, [b])
    const message = await post(api, a, group.id, 'x')
    const rec = recordingClient(server.url)
    sdks.push(rec)
    await rec.sdk.auth.login({ username: b.user.username, password: b.password })
    rec.sdk.realtime.connect()
    await rec.until(() => rec.synced >= 1, 10_000, 'first sync')

    expect((await rec.sdk.conversations.react(group.id, message.id, '🎉')).reactions).toEqual([{ emoji: '🎉', count: 1, me: true }])
    await rec.until(() => rec.events.some((e) => e.type === 'reaction.added'), 20_000, 'reaction.added')
    const added = rec.events.find((e) => e.type === 'reaction.added')
    if (added?.type !== 'reaction.added') throw new Error('no reaction.added')
    expect(added.data).toEqual({ messageId: message.id, messageSeq: message.seq, userId: b.user.id, emoji: '🎉' })
    expect((await rec.sdk.conversations.unreact(group.id, message.id, '🎉')).reactions).toEqual([])
    const refused = await rec.sdk.conversations.react(group.id, message.id, 'no').catch((err: unknown) => err)
    expect(refused).toBeInstanceOf(ApiError)
    expect((refused as ApiError).code).toBe('INVALID_REACTION')
    const history = await rec.sdk.messages.history(group.id)
    expect(history.messages[0]!.reactions).toBeUndefined()
  })
})
