// History and replay: keyset pages over (conversation, seq) in both
// directions, every seq exactly once, and their validation.
import { describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, expectError, register, type Account, type Client } from './helpers/http.js'
import { seedMessages } from './helpers/seed.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client
let owner: Account
let reader: Account
let group: any
let range: { first: number, last: number }

const as = (who: Account) => ({ token: who.accessToken })

test.beforeAll(async ({ server: started }) => {
  server = started
  api = client(server.url)
  ;[owner, reader] = await Promise.all([register(api), register(api)])
  group = await createGroup(api, owner, [reader])
  range = await seedMessages(server, group.id, owner.user.id, 1000)
})

const seqs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe('message history', () => {
  it('walks 1,000 messages backwards with before: newest first, each seq exactly once', async () => {
    const seen: number[] = []
    let res = await api.get(`/v1/conversations/${group.id}/messages?limit=100`, as(reader))
    for (;;) {
      expect(res.status).toBe(200)
      const page = res.body.messages.map((m: any) => m.seq)
      expect(page).toEqual([...page].sort((x: number, y: number) => y - x))
      seen.push(...page)
      if (!res.body.hasMore) break
      res = await api.get(`/v1/conversations/${group.id}/messages?before=${page[page.length - 1]}&limit=100`, as(reader))
    }
    expect(seen).toEqual(seqs(range.first, range.last).reverse())
  })

  it('walks 1,000 messages forwards with after: oldest first, each seq exactly once (odd page size)', async () => {
    const seen: number[] = []
    let after = 0
    let pages = 0
    for (;;) {
      const res = await api.get(`/v1/conversations/${group.id}/messages?after=${after}&limit=37`, as(reader))
      const page = res.body.messages.map((m: any) => m.seq)
      seen.push(...page)
      pages++
      if (!res.body.hasMore) break
      after = page[page.length - 1]
    }
    expect(pages).toBe(Math.ceil(1000 / 37))
    expect(seen).toEqual(seqs(range.first, range.last))
  })

  it('defaults to the newest 50; hasMore is false exactly on the last page', async () => {
    const res = await api.get(`/v1/conversations/${group.id}/messages`, as(reader))
    expect(res.body.messages).toHaveLength(50)
    expect(res.body.messages[0]).toMatchObject({ seq: range.last, body: `m${range.last}`, senderId: owner.user.id, conversationId: group.id, deletedAt: null })
    expect(res.body.hasMore).toBe(true)
    const tail = await api.get(`/v1/conversations/${group.id}/messages?before=${range.first + 3}`, as(reader))
    expect(tail.body).toMatchObject({ hasMore: false })
    expect(tail.body.messages.map((m: any) => m.seq)).toEqual([range.first + 2, range.first + 1, range.first])
    const end = await api.get(`/v1/conversations/${group.id}/messages?after=${range.last - 1}&limit=1`, as(reader))
    expect(end.body).toMatchObject({ hasMore: false, messages: [{ seq: range.last }] })
    expect((await api.get(`/v1/conversations/${group.id}/messages?after=${range.last}`, as(reader))).body).toEqual({ messages: [], hasMore: false })
  })

  it.each([
    'before=10&after=5', 'limit=0', 'limit=101', 'before=-1', 'after=abc', 'before=1.5', `after=${2 ** 31}`
  ])('rejects ?%s with VALIDATION_FAILED', async (query) => {
    expectError(await api.get(`/v1/conversations/${group.id}/messages?${query}`, as(reader)), 400, 'VALIDATION_FAILED')
  })
})

describe('event replay', () => {
  it('replays every event once, ascending, from any seq, in pages', async () => {
    const last = await post(api, owner, group.id, 'newest')
    const seen: number[] = []
    let after = 0
    for (;;) {
      const res = await api.get(`/v1/conversations/${group.id}/events?after=${after}&limit=100`, as(reader))
      expect(res.status).toBe(200)
      seen.push(...res.body.events.map((e: any) => e.seq))
      if (!res.body.hasMore) break
      after = seen[seen.length - 1]!
    }
    expect(seen).toEqual(seqs(1, last.seq))
    const tail = await api.get(`/v1/conversations/${group.id}/events?after=${last.seq - 1}`, as(reader))
    expect(tail.body).toEqual({
      events: [{ conversationId: group.id, seq: last.seq, type: 'message.created', createdAt: last.createdAt, data: last }],
      hasMore: false
    })
    expect((await api.get(`/v1/conversations/${group.id}/events?after=${last.seq}`, as(reader))).body).toEqual({ events: [], hasMore: false })
  })

  it('defaults to after=0 and limit 50', async () => {
    const res = await api.get(`/v1/conversations/${group.id}/events`, as(reader))
    expect(res.body.events.map((e: any) => e.seq)).toEqual(seqs(1, 50))
    expect(res.body.hasMore).toBe(true)
  })

  it.each(['after=-1', 'after=x', 'limit=0', 'limit=101'])('rejects ?%s with VALIDATION_FAILED', async (query) => {
    expectError(await api.get(`/v1/conversations/${group.id}/events?${query}`, as(reader)), 400, 'VALIDATION_FAILED')
  })
})
