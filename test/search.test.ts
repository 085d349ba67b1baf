// Message search (issue 18): GET /v1/search/messages over real HTTP. It finds
// whole words, parts of words, URLs, e-mail addresses and CJK text; it follows
// edits and deletions at once; it shows only what history shows (membership
// windows, deleted messages, erased accounts); it pages without loss or
// duplicates; it refuses queries it cannot answer from an index; and its
// plans read the indexes.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createClient } from '../src/client/index.js'
import { searchStatement } from '../src/repositories/search.js'
import { createDirect, createGroup, post } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { startServer, test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
/** A word nobody else in this file's database has written. */
const word = (prefix = 'w') => `${prefix}${randomBytes(4).toString('hex').replace(/\d/g, (d) => 'ghijklmnop'[Number(d)]!)}`

async function search (who: Account, q: string, extra: Record<string, string | number> = {}): Promise<{ hits: any[], nextCursor: string | null }> {
  const params = new URLSearchParams({ q, ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, String(v)])) })
  const res = await api.get(`/v1/search/messages?${params.toString()}`, as(who))
  if (res.status !== 200) throw new Error(`search ${q}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}
const found = async (who: Account, q: string, extra: Record<string, string | number> = {}) =>
  (await search(who, q, extra)).hits.map((h) => h.message.body as string)
const highlighted = (hit: any) => hit.snippet.highlights.map((r: any) => hit.snippet.text.slice(r.start, r.end))

describe('what a query finds', () => {
  it('finds whole words and parts of words, case-insensitively, all terms required, with highlights', async () => {
    const [a, b] = await users(2)
    const g = await createGroup(api, a, [b])
    const w = word()
    await post(api, a, g.id, `The Quick ${w}fox jumps`)
    await post(api, b, g.id, `a slow ${w}fox sleeps`)
    await post(api, b, g.id, 'nothing to see')
    expect(await found(a, `${w}fox`)).toEqual([`a slow ${w}fox sleeps`, `The Quick ${w}fox jumps`])
    expect(await found(b, w.slice(1).toUpperCase())).toHaveLength(2) // part of a word, other case
    expect(await found(a, `${w} quick`)).toEqual([`The Quick ${w}fox jumps`])
    expect(await found(a, `${w} quick absent`)).toEqual([])
    const [hit] = (await search(a, `QUICK ${w}fox`)).hits
    expect(hit.message).toMatchObject({ conversationId: g.id, senderId: a.user.id, body: `The Quick ${w}fox jumps` })
    expect(hit.snippet.text).toBe(`The Quick ${w}fox jumps`)
    expect(highlighted(hit)).toEqual(['Quick', `${w}fox`])
  })

  it('finds URLs, e-mail addresses and parts of them', async () => {
    const [a, b] = await users(2)
    const d = await createDirect(api, a, b)
    const host = `${word('h')}.example.com`
    await post(api, a, d.id, `docs at https://${host}/guide/start?ref=x-1 today`)
    await post(api, a, d.id, `mail ann.smith@${host} please`)
    expect(await found(b, `https://${host}/guide/start?ref=x-1`)).toEqual([`docs at https://${host}/guide/start?ref=x-1 today`])
    expect(await found(b, `${host}/guide`)).toHaveLength(1)
    expect(await found(b, `ann.smith@${host}`)).toEqual([`mail ann.smith@${host} please`])
    expect(await found(b, `smith@${host.slice(0, 5)}`)).toHaveLength(1)
    expect(await found(b, host)).toHaveLength(2)
  })

  it('finds CJK text inside a sentence (three characters) and a two-character word on its own', async () => {
    const [a, b] = await users(2)
    const d = await createDirect(api, a, b)
    await post(api, a, d.id, '我们明天去东京旅行')
    await post(api, a, d.id, '東京 はいい')
    await post(api, a, d.id, '새로운 메시지 검색 기능')
    expect(await found(b, '东京旅')).toEqual(['我们明天去东京旅行'])
    expect(await found(b, '明天去东京')).toEqual(['我们明天去东京旅行'])
    expect(await found(b, '東京')).toEqual(['東京 はいい'])
    expect(await found(b, '메시지 검색')).toEqual(['새로운 메시지 검색 기능'])
    expect(await found(b, '로운 메시지')).toEqual([]) // 로운 is a two-character term: whole words only
  })

  it('matches a two-character term as a whole word only, and takes % and _ literally', async () => {
    const [a, b] = await users(2)
    const d = await createDirect(api, a, b)
    const w = word()
    await post(api, a, d.id, `${w} ok then`)
    await post(api, a, d.id, `${w} a token`)
    await post(api, a, d.id, `${w} ok!`)
    expect(await found(b, `${w} ok`)).toEqual([`${w} ok!`, `${w} ok then`])
    expect(await found(b, `${w} "ok,"`)).toEqual([`${w} ok!`, `${w} ok then`])
    await post(api, a, d.id, `${w} 150_250 split`)
    await post(api, a, d.id, `${w} 150x250 split`)
    await post(api, a, d.id, `${w} up 100% today`)
    await post(api, a, d.id, `${w} up 1000 today`)
    expect(await found(b, '150_250')).toEqual([`${w} 150_250 split`])
    expect(await found(b, '100%')).toEqual([`${w} up 100% today`])
  })

  it('answers a snippet around the match, as plain text (not escaped), cut on characters', async () => {
    const [a, b] = await users(2)
    const d = await createDirect(api, a, b)
    const w = word()
    const body = `${'lorem ipsum '.repeat(30)}<b>${w}</b> & 😀 ${'dolor sit '.repeat(30)}`
    await post(api, a, d.id, body)
    const [hit] = (await search(b, w)).hits
    expect(hit.message.body).toBe(body.trim())
    expect(hit.snippet.text.startsWith('…')).toBe(true)
    expect(hit.snippet.text.endsWith('…')).toBe(true)
    expect(hit.snippet.text).toContain(`<b>${w}</b> & 😀`)
    expect(highlighted(hit)).toEqual([w])
    expect(hit.snippet.text.length).toBeLessThanOrEqual(162)
    expect(hit.snippet.text).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/)
  })
})

describe('what a search shows', () => {
  it('follows edits and deletions at once', async () => {
    const [a, b] = await users(2)
    const g = await createGroup(api, a, [b])
    const before = word('old')
    const after = word('new')
    const m = await post(api, a, g.id, `say ${before}`)
    expect(await found(b, before)).toEqual([`say ${before}`])
    expect((await api.patch(`/v1/conversations/${g.id}/messages/${m.id}`, { body: `say ${after}` }, as(a))).status).toBe(200)
    expect(await found(b, before)).toEqual([])
    const [hit] = (await search(b, after)).hits
    expect(hit.message).toMatchObject({ id: m.id, body: `say ${after}` })
    expect(hit.message.editedAt).not.toBeNull()
    expect((await api.del(`/v1/conversations/${g.id}/messages/${m.id}`, as(a))).status).toBe(200)
    expect(await found(b, after)).toEqual([])
    expect(await found(b, 'say')).toEqual([]) // nor the rest of its text
  })

  it('keeps to membership windows: a removed member finds nothing, a late joiner only what came after joining', async () => {
    const [owner, gone, late, outsider] = await users(4)
    const g = await createGroup(api, owner, [gone])
    const w = word()
    await post(api, owner, g.id, `${w} early`)
    expect(await found(gone, w)).toEqual([`${w} early`])
    expect((await api.del(`/v1/conversations/${g.id}/members/${gone.user.id}`, as(owner))).status).toBe(204)
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [late.user.id] }, as(owner))).status).toBe(200)
    await post(api, owner, g.id, `${w} late`)
    // As history: a removed member gets nothing of the conversation, a late joiner nothing from before.
    expect(await found(gone, w)).toEqual([])
    expectError(await api.get(`/v1/search/messages?q=${w}&conversationId=${g.id}`, as(gone)), 404, 'NOT_FOUND')
    expectError(await api.get(`/v1/conversations/${g.id}/messages`, as(gone)), 404, 'NOT_FOUND')
    expect(await found(late, w)).toEqual([`${w} late`])
    expect(await found(owner, w)).toEqual([`${w} late`, `${w} early`])
    expect(await found(outsider, w)).toEqual([])
    expectError(await api.get(`/v1/search/messages?q=${w}&conversationId=${g.id}`, as(outsider)), 404, 'NOT_FOUND')
    // Re-added: a new window from the new seq; what was posted while away stays unseen.
    await post(api, owner, g.id, `${w} while away`)
    expect((await api.post(`/v1/conversations/${g.id}/members`, { userIds: [gone.user.id] }, as(owner))).status).toBe(200)
    await post(api, owner, g.id, `${w} back`)
    expect(await found(gone, w)).toEqual([`${w} back`])
  })

  it('narrows to one conversation with conversationId', async () => {
    const [a, b, c] = await users(3)
    const g1 = await createGroup(api, a, [b])
    const g2 = await createGroup(api, a, [c])
    const w = word()
    await post(api, a, g1.id, `${w} one`)
    await post(api, a, g2.id, `${w} two`)
    expect(await found(a, w)).toEqual([`${w} two`, `${w} one`])
    expect(await found(a, w, { conversationId: g1.id })).toEqual([`${w} one`])
    expect(await found(a, `${w} two`, { conversationId: g1.id })).toEqual([])
  })

  it('applies blocks as history does: a blocked member\'s group messages stay (the client hides them), blocked posts never exist', async () => {
    const [a, b, c] = await users(3)
    const g = await createGroup(api, a, [b, c])
    const d = await createDirect(api, a, b)
    const w = word()
    await post(api, b, g.id, `${w} in the group`)
    await post(api, b, d.id, `${w} in private`)
    expect((await api.put(`/v1/me/blocks/${b.user.id}`, undefined, as(a))).status).toBe(204)
    expectError(await api.post(`/v1/conversations/${d.id}/messages`, { body: `${w} after block` }, as(b)), 403, 'BLOCKED')
    const history = (await api.get(`/v1/conversations/${g.id}/messages`, as(a))).body.messages.map((m: any) => m.body)
    expect(history).toContain(`${w} in the group`)
    expect(await found(a, w)).toEqual([`${w} in private`, `${w} in the group`])
    expect(await found(c, w)).toEqual([`${w} in the group`])
  })

  it('never shows the messages of a deleted (erased) account', async () => {
    const [a, b] = await users(2)
    const g = await createGroup(api, a, [b])
    const w = word()
    await post(api, b, g.id, `${w} from b`)
    await post(api, a, g.id, `${w} from a`)
    expect(await found(a, w)).toHaveLength(2)
    expect((await api.request('DELETE', '/v1/me', { body: { password: b.password }, token: b.accessToken })).status).toBe(204)
    expect(await found(a, w)).toEqual([`${w} from a`])
  })

  it('pages newest first without loss or duplicates, also while new messages arrive', async () => {
    const [a, b] = await users(2)
    const g1 = await createGroup(api, a, [b])
    const g2 = await createDirect(api, a, b)
    const w = word()
    const posted: string[] = []
    for (let i = 0; i < 23; i++) posted.push((await post(api, i % 3 === 0 ? b : a, i % 2 === 0 ? g1.id : g2.id, `${w} number ${i}`)).id)
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page: { hits: any[], nextCursor: string | null } = await search(b, w, { limit: 5, ...(cursor === null ? {} : { before: cursor }) })
      seen.push(...page.hits.map((h) => h.message.id))
      cursor = page.nextCursor
      // Arriving messages are newer than every cursor: they never shift the pages being read.
      if (pages++ === 1) await post(api, a, g1.id, `${w} arrived while paging`)
      expect(page.hits.length).toBeLessThanOrEqual(5)
    } while (cursor !== null)
    expect(pages).toBe(5)
    expect(seen).toEqual([...posted].reverse())
  })
})

describe('the SDK', () => {
  it('client.search.messages pages through hits, and its errors carry the codes', async () => {
    const [a, b] = await users(2)
    const g = await createGroup(api, a, [b])
    const w = word()
    for (let i = 0; i < 5; i++) await post(api, a, g.id, `${w} sdk ${i}`)
    const sdk = createClient({ baseUrl: server.url, session: { user: b.user as any, accessToken: b.accessToken, refreshToken: b.refreshToken, expiresAt: Date.now() + 600_000 } })
    const first = await sdk.search.messages({ q: `${w} SDK`, limit: 3 })
    expect(first.hits.map((h) => h.message.body)).toEqual([`${w} sdk 4`, `${w} sdk 3`, `${w} sdk 2`])
    expect(first.hits[0]!.snippet.highlights.length).toBe(2)
    const second = await sdk.search.messages({ q: `${w} SDK`, limit: 3, before: first.nextCursor!, conversationId: g.id })
    expect(second.hits.map((h) => h.message.body)).toEqual([`${w} sdk 1`, `${w} sdk 0`])
    expect(second.nextCursor).toBeNull()
    await expect(sdk.search.messages({ q: 'x' })).rejects.toMatchObject({ status: 400, code: 'INVALID_QUERY' })
  })
})

describe('queries refused', () => {
  it('answers 400 INVALID_QUERY for empty, too short, punctuation-only, too long and too many terms', async () => {
    const [a] = await users(1)
    const bad = ['', '   ', 'a', 'x y', '%%%', '__', '.-.-.', 'a.b.c', 'x'.repeat(201), 'x'.repeat(65), Array.from({ length: 9 }, (_, i) => `term${i}`).join(' ')]
    for (const q of bad) expectError(await api.get(`/v1/search/messages?q=${encodeURIComponent(q)}`, as(a)), 400, 'INVALID_QUERY')
    // Repeated terms count once.
    expect((await api.get(`/v1/search/messages?q=${encodeURIComponent(Array.from({ length: 12 }, () => 'same').join(' '))}`, as(a))).status).toBe(200)
  })

  it('answers 400 VALIDATION_FAILED for a missing q, a bad limit, a bad cursor or conversationId; 401 without a token', async () => {
    const [a] = await users(1)
    expectError(await api.get('/v1/search/messages', as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/search/messages?q=hello&limit=0', as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/search/messages?q=hello&limit=51', as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/search/messages?q=hello&before=not-a-cursor', as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.get(`/v1/search/messages?q=hello&before=${Buffer.from('x').toString('base64url')}`, as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/search/messages?q=hello&conversationId=nope', as(a)), 400, 'VALIDATION_FAILED')
    expectError(await api.get('/v1/search/messages?q=hello'), 401, 'UNAUTHORIZED')
  })
})

describe('query plans', () => {
  it('read the trigram and the full-text indexes, not the table, on a conversation of many messages', async () => {
    const [a, b] = await users(2)
    const d = await createDirect(api, a, b)
    await server.sql(`
      INSERT INTO messages (id, conversation_id, seq, sender_id, body, timeline_ord)
      SELECT gen_random_uuid(), $1, 100 + i, $2, 'bulk ' || md5(i::text) || ' ' || md5((i * 7)::text), i
        FROM generate_series(1, 30000) AS i`, [d.id, a.user.id])
    await server.sql('UPDATE conversations SET last_seq = 30100, timeline_count = 30000 WHERE id = $1', [d.id])
    await server.sql('VACUUM ANALYZE messages') // as autovacuum does: statistics, and the GIN pending lists merged
    const base = { userId: b.user.id, limit: 21, hideDeletedSenders: true }
    const plan = async (f: Parameters<typeof searchStatement>[0]) => {
      const { text, values } = searchStatement(f)
      return (await server.sql(`EXPLAIN ${text}`, values)).map((r) => r['QUERY PLAN']).join('\n')
    }
    // In the big conversation, a rare term is found through the word indexes, not by reading its 30,000 rows.
    const partial = await plan({ ...base, conversationId: d.id, patterns: ['%needlex%'], words: [] })
    expect(partial).toContain('messages_body_trgm')
    expect(partial).not.toMatch(/Seq Scan on messages/)
    const whole = await plan({ ...base, conversationId: d.id, patterns: [], words: ['ok'] })
    expect(whole).toContain('messages_body_words')
    expect(whole).not.toMatch(/Seq Scan on messages/)
    // Over all the caller's conversations the planner weighs the indexes by their statistics; never the whole table.
    for (const f of [{ patterns: ['%needlex%'], words: [] }, { patterns: [], words: ['ok'] }, { patterns: ['%needlex%'], words: ['ok'] }]) {
      expect(await plan({ ...base, ...f })).not.toMatch(/Seq Scan on messages/)
    }
    // And a search over them answers.
    const [row] = await server.sql('SELECT body FROM messages WHERE conversation_id = $1 AND seq = 12345', [d.id])
    const piece = (row.body as string).slice(8, 20)
    expect((await found(b, piece)).length).toBeGreaterThanOrEqual(1)
  }, 60_000)
})

describe('a search that runs too long', () => {
  it('is cancelled at SEARCH_STATEMENT_TIMEOUT_MS and answered 400 QUERY_TOO_BROAD, and the next search works', async () => {
    const [a, b] = await users(2)
    const d = await createDirect(api, a, b)
    await post(api, a, d.id, 'waiting for the lock')
    // The same database, with the shortest timeout; a lock on messages makes the search wait past it, whatever the machine.
    const impatient = await startServer({ databaseUrl: server.databaseUrl, config: { searchStatementTimeoutMs: 100 } })
    // Its own token secret: log in there.
    const token = (await client(impatient.url).post('/v1/auth/login', { username: a.user.username, password: a.password })).body.accessToken as string
    const locker = new pg.Client(server.databaseUrl)
    await locker.connect()
    try {
      await locker.query('BEGIN')
      await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE')
      const started = Date.now()
      expectError(await client(impatient.url).get('/v1/search/messages?q=waiting', { token }), 400, 'QUERY_TOO_BROAD')
      expect(Date.now() - started).toBeLessThan(10_000)
      await locker.query('ROLLBACK')
      const found = await client(impatient.url).get('/v1/search/messages?q=waiting', { token })
      expect(found.status).toBe(200)
      expect(found.body.hits.map((r: { message: { body: string } }) => r.message.body)).toEqual(['waiting for the lock'])
    } finally {
      await locker.end()
      await impatient.close()
    }
  })
})
