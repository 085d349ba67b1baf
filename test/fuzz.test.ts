// Property-based fuzzing of every documented REST route (params, query, body)
// and of WebSocket frames: never a 5xx, always the documented error shape,
// and the server answers a valid request right after. Inputs are taken where
// the database is strict and JavaScript is lenient: every spelling of every
// format a request schema accepts, strings that are not valid Unicode (lone
// surrogates) or that PostgreSQL cannot store (U+0000) in every string slot,
// and list cursors that decode to times PostgreSQL cannot hold. What is
// accepted must come back exactly as sent.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, register, uniqueName, type Account, type Client, type Response } from './helpers/http.js'
import type { TestServer } from './helpers/server.js'
import { test } from './helpers/smtp.js'
import { connect, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
let owner: Account
let other: Account
let group: { id: string }
let message: { id: string }
let routes: Array<{ method: string, path: string }>
let slots: Slot[]

interface Schema { type?: string, format?: string, items?: Schema, anyOf?: Schema[], properties?: Record<string, Schema> }
/** One place a request carries a value: a path or query parameter, or a body property (`array`: its items). */
interface Slot { method: string, path: string, in: 'params' | 'querystring' | 'body', name: string, schema: Schema, array: boolean }
interface Operation { parameters?: Array<{ in: string, name: string, schema: Schema }>, requestBody?: { content: Record<string, { schema: Schema }> } }

/** The string branch of a schema (`anyOf: [string, null]` included). */
const stringSchema = (s: Schema): Schema | undefined => s.type === 'string' ? s : s.anyOf?.find((b) => b.type === 'string')

function slotsOf (doc: { paths: Record<string, Record<string, Operation>> }): Slot[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).flatMap(([m, op]) => {
    const method = m.toUpperCase()
    const params = (op.parameters ?? []).map((p) => ({ method, path, in: p.in === 'path' ? 'params' as const : 'querystring' as const, name: p.name, schema: p.schema, array: false }))
    const props = Object.entries(op.requestBody?.content['application/json']?.schema.properties ?? {}).map(([name, schema]) => {
      const array = schema.type === 'array'
      return { method, path, in: 'body' as const, name, schema: array ? schema.items! : schema, array }
    })
    return [...params, ...props]
  }))
}

// Characters that are not Unicode (lone surrogates) or that PostgreSQL text
// cannot hold (U+0000): refused wherever they are. And valid characters that
// are easy to mangle (noncharacters, BOM, NEL, bidi and combining marks,
// astral): stored and answered exactly.
const INVALID = ['\ud800', '\udbff', '\udc00', '\udfff', '\u0000']
const ODD = ['\ufffe', '\uffff', '\ufeff', '\u0085', '\u200f', '\u0301', '\u{1f600}', '\u{10ffff}', ' ']
const unit = fc.oneof(fc.constantFrom(...INVALID, ...ODD), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }))
const text = fc.string({ unit, minLength: 1, maxLength: 12 })
/** A string with at least one character that must be refused, anywhere in it. */
const invalidText = fc.tuple(fc.string({ unit, maxLength: 6 }), fc.constantFrom(...INVALID), fc.string({ unit, maxLength: 6 }))
  .map(([a, bad, b]) => `${a}${bad}${b}`)
  // A high surrogate before a low one is a valid pair, not a lone one.
  .filter((v) => !survivesUtf8(v) || v.includes('\0'))
/** True when the string is valid Unicode: UTF-8 (the wire and the database) carries it unchanged. */
function survivesUtf8 (v: string) { return Buffer.from(v, 'utf8').toString('utf8') === v }
const storable = (v: string) => survivesUtf8(v) && !v.includes('\0')

// Every spelling of a valid value that some parser (PostgreSQL's uuid input,
// JavaScript's Date) reads, per format a request schema uses. A request schema
// with a format missing here fails the test: add its spellings.
const FORMAT_SPELLINGS: Record<string, { valid: () => string, spellings: (v: string) => string[] }> = {
  uuid: {
    valid: () => group.id,
    spellings: (id) => {
      const hex = id.replaceAll('-', '')
      return [`urn:uuid:${id}`, `{${id}}`, id.toUpperCase(), `${id.slice(0, 9)}${id.slice(9).toUpperCase()}`, hex, `{${hex}}`,
        hex.replace(/(.{4})(?!$)/g, '$1-'), ` ${id}`, `${id} `, `${id}\n`, id.slice(0, 35), `${id}0`, id.replace(/^./, 'g'), `${id}\u0000`]
    }
  },
  'date-time': {
    valid: () => '2026-01-01T00:00:00.000Z',
    spellings: () => ['0000-01-01T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', '2026-02-30T00:00:00Z',
      '2026-01-01T24:00:00Z', '2026-01-01T23:59:60Z', '2026-01-01t00:00:00z', '2026-01-01 00:00:00Z', '2026-01-01T00:00:00+14:00', '2026-01-01T00:00:00.1234567Z']
  }
}

// Mail routes answer 503 MAIL_NOT_CONFIGURED without a mail server; this one takes the mail.
test.override('serverOptions', { scope: 'file' }, ({ smtp }) => ({ config: { smtpUrl: smtp.url, mailFrom: 'fuzz@switchboard.test' } }))

test.beforeAll(async ({ server: started }) => {
  server = started
  api = client(server.url)
  ;[owner, other] = await Promise.all([register(api), register(api)])
  group = await createGroup(api, owner, [other], 'fuzz')
  message = await post(api, owner, group.id, 'fuzz target')
  const doc = (await api.get('/docs/json')).body as { paths: Record<string, Record<string, unknown>> }
  routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })))
  slots = slotsOf(doc as unknown as { paths: Record<string, Record<string, Operation>> })
})

function checkShape (res: Response) {
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(500)
  if (res.status >= 400) {
    expect(Object.keys(res.body).sort()).toEqual(['code', 'error', 'message', 'statusCode'])
    expect(res.body.statusCode).toBe(res.status)
    expect(res.body.code).toMatch(/^[A-Z_]+$/)
  }
}

const idLike = fc.oneof(
  fc.constantFrom('GROUP', 'MESSAGE', 'USER', '0', '-1', '99999999999999999999', '%00', '..%2F..', 'null', '{}'),
  // A real id in a spelling PostgreSQL may read: marked here, spelled in resolve().
  fc.tuple(fc.constantFrom('GROUP', 'MESSAGE', 'USER'), fc.nat(20)).map(([what, n]) => `SPELL:${what}:${n}`),
  fc.uuid(),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 20 })
)
const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ unit: 'grapheme', maxLength: 300 }), text, invalidText, fc.integer(), fc.double(), fc.constant(null))
const fieldNames = ['username', 'password', 'displayName', 'refreshToken', 'type', 'title', 'memberIds', 'userId', 'userIds', 'body', 'clientMessageId', 'replyToId', 'seq', 'role']
const body = fc.oneof(
  fc.dictionary(fc.constantFrom(...fieldNames), value, { maxKeys: 5 }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ maxLength: 200 }).map((raw) => ({ raw }))
)
const queryArb = fc.dictionary(fc.constantFrom('before', 'after', 'limit', 'cursor', 'query', 'x'), fc.oneof(fc.string({ maxLength: 40 }), fc.integer().map(String), fc.constantFrom('1e400', 'NaN', '-0', '')), { maxKeys: 3 })

describe('REST fuzzing', () => {
  it('never answers 5xx on any route, whatever the params, query and body', async () => {
    for (const route of routes) {
      await fc.assert(fc.asyncProperty(idLike, idLike, queryArb, fc.option(body, { nil: undefined }), async (id, sub, q, b) => {
        const real = (v: string) => v === 'GROUP' ? group.id : v === 'MESSAGE' ? message.id : v === 'USER' ? other.user.id : undefined
        const resolve = (v: string) => {
          const [, what, n] = /^SPELL:(\w+):(\d+)$/.exec(v) ?? []
          if (what !== undefined) {
            const all = FORMAT_SPELLINGS.uuid!.spellings(real(what)!)
            return encodeURIComponent(all[Number(n) % all.length]!)
          }
          return real(v) ?? encodeURIComponent(v)
        }
        const path = route.path.replace('{id}', resolve(id)).replace('{messageId}', resolve(sub)).replace('{userId}', resolve(sub))
        const qs = new URLSearchParams(q).toString()
        const opts = b === undefined || route.method === 'GET' || route.method === 'DELETE'
          ? {}
          : typeof b === 'object' && b !== null && 'raw' in b && typeof b.raw === 'string' ? { rawBody: b.raw } : { body: b }
        const res = await api.request(route.method, `${path}${qs === '' ? '' : `?${qs}`}`, { ...opts, token: owner.accessToken })
        checkShape(res)
      }), { numRuns: 30 })
    }
    // Still serving. (The fuzzer acts as the group's owner, so it may legitimately
    // have removed the other member or deleted the message; the owner stays.)
    expect((await api.get('/v1/me', { token: owner.accessToken })).status).toBe(200)
    expect((await api.post(`/v1/conversations/${group.id}/messages`, { body: 'after fuzz' }, { token: owner.accessToken })).status).toBe(201)
  }, 120_000)
})

/** The path of a slot's route with real ids, `value` (already encoded) at `name` if it is a path parameter. */
function pathOf (slot: Pick<Slot, 'path'>, name?: string, value?: string) {
  return slot.path.replace(/\{(\w+)\}/g, (_, p: string) => p === name ? value! : p === 'messageId' ? message.id : p === 'userId' ? other.user.id : slot.path.startsWith('/v1/users') ? other.user.id : group.id)
}

/** One request with `value` in the slot; other parts are plain but need not be valid. */
function send (slot: Slot, value: unknown): Promise<Response> {
  const encoded = slot.in === 'body' ? '' : encodeURIComponent(String(value))
  const path = pathOf(slot, slot.in === 'params' ? slot.name : undefined, encoded)
  const query = slot.in === 'querystring' ? `?${slot.name}=${encoded}` : ''
  const body = slot.in === 'body' ? { [slot.name]: slot.array ? [value] : value } : undefined
  const auth = slot.path.startsWith('/v1/auth') ? {} : { token: owner.accessToken }
  return api.request(slot.method, path + query, { ...(body === undefined ? {} : { body }), ...auth })
}

describe('formats against the database', () => {
  it('refuses every spelling but the canonical one of every format a request accepts, on every route', async () => {
    // The members as this test finds them (the fuzzing test before it may have removed one, as the owner may).
    const membersOf = async () => (await api.get(`/v1/conversations/${group.id}`, { token: owner.accessToken })).body.members
      .map((m: { user: { id: string } }) => m.user.id).sort()
    const before = await membersOf()
    const formatted = slots.filter((s) => stringSchema(s.schema)?.format !== undefined)
    expect(formatted.length).toBeGreaterThanOrEqual(15)
    for (const slot of formatted) {
      const format = stringSchema(slot.schema)!.format!
      const table = FORMAT_SPELLINGS[format]
      expect(table, `no spellings for format "${format}" (${slot.method} ${slot.path} ${slot.in}/${slot.name}): add them`).toBeDefined()
      for (const spelled of table!.spellings(table!.valid())) {
        const res = await send(slot, spelled)
        const where = { route: `${slot.method} ${slot.path}`, slot: `${slot.in}/${slot.name}`, spelled }
        checkShape(res)
        expect({ ...where, status: res.status }).toEqual({ ...where, status: 400 })
      }
    }
    // Nothing was changed by the refused calls.
    expect(await membersOf()).toEqual(before)
  }, 60_000)
})

describe('text the database cannot store', () => {
  it('refuses a lone surrogate or U+0000 in any string of any route with 400 naming the field', async () => {
    // Only body strings can carry a lone surrogate: a URL is UTF-8, so one cannot be percent-encoded.
    const stringSlots = slots.filter((s) => s.in !== 'body' || stringSchema(s.schema) !== undefined)
    const withExtraKey = [...new Set(slots.filter((s) => s.in === 'body').map((s) => `${s.method} ${s.path}`))]
      .map((r) => ({ method: r.split(' ')[0]!, path: r.split(' ')[1]!, in: 'body' as const, name: 'extra', schema: { type: 'string' }, array: false }))
    for (const slot of [...stringSlots, ...withExtraKey]) {
      const bad = slot.in === 'body' ? invalidText : fc.tuple(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 })).map(([a, b]) => `${a}\u0000${b}`)
      await fc.assert(fc.asyncProperty(bad, async (v) => {
        const res = await send(slot, v)
        const field = `${slot.in}/${slot.name}${slot.array ? '/0' : ''}`
        const where = { route: `${slot.method} ${slot.path}`, field, v: JSON.stringify(v) }
        expect({ ...where, status: res.status, code: res.body.code }).toEqual({ ...where, status: 400, code: 'VALIDATION_FAILED' })
        expect(res.body.message).toMatch(new RegExp(`^${field} must not contain`))
      }), { numRuns: 3 })
    }
    // A key is a string too.
    const res = await api.post(`/v1/conversations/${group.id}/messages`, { body: 'x', ['k\ud800']: 1 }, { token: owner.accessToken })
    expect({ status: res.status, message: res.body.message }).toEqual({ status: 400, message: expect.stringMatching(/^body must not contain/) })
  }, 60_000)

  it('stores what it accepts exactly as sent: message bodies, clientMessageIds, titles, display names', async () => {
    const as = { token: owner.accessToken }
    const messages = `/v1/conversations/${group.id}/messages`
    // Either refused with a 4xx, or answered and read back exactly; text that is not storable is always refused.
    const accepted = (res: Response, sent: string, echoed: unknown, trimmed = true) => {
      checkShape(res)
      if (!storable(sent)) expect({ sent: JSON.stringify(sent), status: res.status }).toEqual({ sent: JSON.stringify(sent), status: 400 })
      if (res.status >= 400) return false
      expect({ sent: JSON.stringify(sent), echoed: JSON.stringify(echoed) }).toEqual({ sent: JSON.stringify(sent), echoed: JSON.stringify(trimmed ? sent.trim() : sent) })
      return true
    }
    // Keys are never reused across runs: a key posted before is a retry by design.
    const used = new Set<string>()
    await fc.assert(fc.asyncProperty(text, text, text, async (body, k1, k2) => {
      fc.pre(k1 !== k2 && !used.has(k1) && !used.has(k2))
      used.add(k1).add(k2)
      const a = await api.post(messages, { body: `b ${body}`, clientMessageId: k1 }, as)
      if (accepted(a, `b ${body}`, a.body.body)) {
        const [stored] = (await api.get(`${messages}?after=${a.body.seq - 1}&limit=1`, as)).body.messages
        expect(JSON.stringify(stored.body)).toBe(JSON.stringify(a.body.body))
      }
      if (a.status < 400) expect(JSON.stringify(a.body.clientMessageId)).toBe(JSON.stringify(k1))
      // A different key is a different message, never the first one's retry.
      const b = await api.post(messages, { body: 'second', clientMessageId: k2 }, as)
      accepted(b, k2, b.body.clientMessageId, false)
      if (a.status === 201 && b.status < 400) expect({ status: b.status, same: b.body.id === a.body.id }).toEqual({ status: 201, same: false })
    }), { numRuns: 25 })
    await fc.assert(fc.asyncProperty(text, async (title) => {
      const renamed = await api.patch(`/v1/conversations/${group.id}`, { title }, as)
      accepted(renamed, title, renamed.body.title)
      const created = await api.post('/v1/conversations', { type: 'group', title, memberIds: [] }, as)
      accepted(created, title, created.body.title)
    }), { numRuns: 20 })
    await fc.assert(fc.asyncProperty(text, async (displayName) => {
      const res = await api.post('/v1/auth/register', { username: uniqueName(), password: 'correct horse battery', displayName })
      if (accepted(res, displayName, res.body.user?.displayName)) {
        const me = await api.get('/v1/me', { token: res.body.accessToken })
        expect(JSON.stringify(me.body.displayName)).toBe(JSON.stringify(res.body.user.displayName))
      }
    }), { numRuns: 10 })
  }, 60_000)
})

describe('access token claims', () => {
  it('answers a correctly signed token whose sub or sid is not a canonical id with 401 on REST and at the upgrade, never 5xx', async () => {
    const { sid } = JSON.parse(Buffer.from(owner.accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string }
    const claim = (real: string) => fc.oneof(fc.constant(real), fc.constantFrom(...FORMAT_SPELLINGS.uuid!.spellings(real)), fc.uuid(), text)
    await fc.assert(fc.asyncProperty(claim(owner.user.id), claim(sid), async (sub, s) => {
      const token = server.app.jwt.sign({ sub, sid: s })
      const canonical = [sub, s].every((v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(v))
      const res = await api.get('/v1/me', { token })
      checkShape(res)
      // Only the server signs, so canonical ids of no live pair are moot: they just must not fail.
      if (!canonical) {
        expect({ sub, sid: s, status: res.status }).toEqual({ sub, sid: s, status: 401 })
        await expect(connect(server.url, token)).rejects.toMatchObject({ statusCode: 401 })
      }
    }), { numRuns: 30 })
  })
})

describe('list cursors', () => {
  it('answers any cursor with 200 or 400, never 5xx, whatever time or id it decodes to', async () => {
    const b64 = (v: string) => Buffer.from(v).toString('base64url')
    const time = fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom(...FORMAT_SPELLINGS['date-time']!.spellings(''), 'Infinity', '-1', '1e400', 'NaN', ''),
      fc.string({ maxLength: 30 })
    )
    const id = fc.oneof(fc.uuid(), fc.constantFrom(...FORMAT_SPELLINGS.uuid!.spellings(group.id)), fc.string({ maxLength: 40 }))
    const cursor = fc.oneof(
      fc.tuple(time, id).map(([t, i]) => b64(`${t}|${i}`)),
      fc.tuple(time, id, fc.string({ maxLength: 5 })).map(([t, i, x]) => b64(`${t}|${i}|${x}`)),
      fc.string({ minLength: 1, maxLength: 200 })
    )
    await fc.assert(fc.asyncProperty(cursor, async (c) => {
      const res = await api.get(`/v1/conversations?cursor=${encodeURIComponent(c)}`, { token: owner.accessToken })
      checkShape(res)
      expect([200, 400]).toContain(res.status)
    }), { numRuns: 80 })
  })
})

describe('WebSocket fuzzing', () => {
  it('answers any frame with an error frame or a close of 1008/1009, never a crash', async () => {
    let sock: TestSocket = await connect(server.url, owner.accessToken)
    const frame = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.record({ type: fc.constantFrom('typing', 'ping', 'message', 'TYPING', ''), conversationId: fc.oneof(fc.uuid(), fc.string({ maxLength: 40 }), fc.constant(group.id)) }).map((v) => JSON.stringify(v)),
      fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(text, invalidText), { maxKeys: 3 }).map((d) => JSON.stringify({ type: 'ping', ...d }))
    )
    await fc.assert(fc.asyncProperty(frame, async (f) => {
      if (sock.ws.readyState !== sock.ws.OPEN) {
        const { code } = await sock.closed
        expect([1008, 1009]).toContain(code)
        sock = await connect(server.url, owner.accessToken)
      }
      sock.send(f)
    }), { numRuns: 300 })
    await new Promise((r) => setTimeout(r, 200))
    for (const f of sock.frames) if (f.type === 'error') expect(Object.keys(f).sort()).toEqual(['code', 'message', 'type'])
    const fresh = await connect(server.url, owner.accessToken)
    fresh.send({ type: 'ping' })
    await fresh.next((f) => f.type === 'pong')
    await fresh.close()
    await sock.close()
  }, 60_000)
})

describe('WebSocket frames holding text the database cannot store', () => {
  it('answers each with error VALIDATION_FAILED naming the field, at any depth, and stays usable', async () => {
    let sock: TestSocket | undefined
    let sent = 0
    const key = fc.constantFrom('type', 'conversationId', 'note', 'data')
    await fc.assert(fc.asyncProperty(fc.constantFrom('ping', 'typing'), key, fc.boolean(), invalidText, async (type, name, nested, bad) => {
      // Refused frames count toward the abuse limit (a close with 1008): a fresh socket now and then.
      if (sock === undefined || sent++ % 15 === 0) {
        await sock?.close()
        sock = await connect(server.url, owner.accessToken)
      }
      const frame = { type, conversationId: group.id, [name]: nested ? { inner: bad } : bad }
      sock.send(JSON.stringify(frame))
      const field = `frame/${name}${nested ? '/inner' : ''}`
      const answer = await sock.next((f) => f.type === 'error' || f.type === 'pong')
      expect({ field, answer }).toEqual({ field, answer: { type: 'error', code: 'VALIDATION_FAILED', message: expect.stringMatching(new RegExp(`^${field} must not contain`)) } })
    }), { numRuns: 40 })
    sock!.send({ type: 'ping' })
    await sock!.next((f) => f.type === 'pong')
    await sock!.close()
  }, 60_000)
})
