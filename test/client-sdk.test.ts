// The SDK's REST side against the real server: typed calls, errors, and the
// token lifecycle (refresh on 401, a single refresh for concurrent calls,
// clients sharing one saved session, idempotent retries of a send whose
// answer was lost).
import { describe, expect, it } from 'vitest'
import { ApiError, createClient, type FetchLike, type Session } from '../src/client/index.js'
import { client, register, uniqueName, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
let api: Client

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

/** fetch that counts calls per path and can fail on demand. */
function countingFetch (hook?: (url: string, init: any) => Promise<void> | void) {
  const calls: string[] = []
  const f: FetchLike = async (url, init) => {
    calls.push(`${init.method} ${new URL(url).pathname}`)
    await hook?.(url, init)
    return fetch(url, init)
  }
  return { f, calls, count: (what: string) => calls.filter((c) => c === what).length }
}

describe('SDK auth and REST', () => {
  it('registers, logs in and makes typed calls; errors carry API.md codes', async () => {
    const sessions: Array<Session | null> = []
    const sdk = createClient({ baseUrl: server.url, onSession: (s) => sessions.push(s) })
    const name = uniqueName()
    const session = await sdk.auth.register({ username: name, password: 'correct horse battery', displayName: 'Me' })
    expect(session.user.username).toBe(name)
    expect((await sdk.users.me()).id).toBe(session.user.id)

    const other = await register(api)
    const direct = await sdk.conversations.openDirect(other.user.id)
    expect(direct.type).toBe('direct')
    const m1 = await sdk.messages.send(direct.id, 'hello')
    const m2 = await sdk.messages.send(direct.id, { body: 'again', replyToId: m1.id })
    expect(m2.replyToId).toBe(m1.id)
    expect(m1.clientMessageId).toEqual(expect.any(String))
    const page = await sdk.messages.history(direct.id, { limit: 1 })
    expect(page.messages.map((m) => m.body)).toEqual(['again'])
    expect(page.hasMore).toBe(true)
    const older = await sdk.messages.history(direct.id, { before: page.messages[0]!.seq, limit: 10 })
    expect(older.messages.map((m) => m.body)).toEqual(['hello'])
    const events = await sdk.messages.events(direct.id, { after: 0 })
    expect(events.events.map((e) => e.type)).toEqual(['member.added', 'member.added', 'message.created', 'message.created'])
    expect((await sdk.conversations.listAll()).map((c) => c.id)).toEqual([direct.id])
    expect((await sdk.users.search(other.user.username)).users[0]).toEqual(other.user)

    const err = await sdk.messages.send(direct.id, '   ').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' })
    await expect(sdk.conversations.get('0190a000-0000-7000-8000-000000000000')).rejects.toMatchObject({ status: 404, code: 'NOT_FOUND' })
    await expect(sdk.auth.login({ username: name, password: 'wrong password' })).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' })

    await sdk.logout()
    expect(sdk.session).toBeNull()
    expect(sessions.at(-1)).toBeNull()
    await expect(sdk.users.me()).rejects.toMatchObject({ status: 401 })
  })

  it('pages all members of a group whose list entry shows only the first ones', async () => {
    const sdk = createClient({ baseUrl: server.url })
    const me = await sdk.auth.register({ username: uniqueName(), password: 'correct horse battery' })
    const others = await Promise.all(Array.from({ length: 14 }, () => register(api)))
    const group = await sdk.conversations.createGroup('fifteen', others.map((o) => o.user.id))
    expect(group.members).toHaveLength(15)
    const [listed] = await sdk.conversations.listAll()
    expect(listed).toMatchObject({ id: group.id, memberCount: 15 })
    expect(listed!.members).toHaveLength(10)
    const page = await sdk.conversations.members(group.id, { limit: 4 })
    expect(page.members).toHaveLength(4)
    expect(page.nextCursor).toEqual(expect.any(String))
    const all = await sdk.conversations.allMembers(group.id)
    expect(all.map((m) => m.user.id).sort()).toEqual([me.user.id, ...others.map((o) => o.user.id)].sort())
    expect(all.slice(0, 10)).toEqual(listed!.members)
  })

  it('refreshes on a 401 and retries; concurrent calls share one refresh', async () => {
    const account = await register(api)
    const { f, count } = countingFetch()
    // An access token the server refuses, with a valid refresh token.
    const stale: Session = { user: account.user, accessToken: 'not.a.token', refreshToken: account.refreshToken, expiresAt: Date.now() + 600_000 }
    const sdk = createClient({ baseUrl: server.url, fetch: f, session: stale })
    const results = await Promise.all(Array.from({ length: 8 }, () => sdk.users.me()))
    expect(results.every((u) => u.id === account.user.id)).toBe(true)
    expect(count('POST /v1/auth/refresh')).toBe(1)
    expect(sdk.session!.refreshToken).not.toBe(account.refreshToken)
    // The session is intact (a second refresh with the rotated token would have revoked it).
    await sdk.auth.refresh()
    expect((await sdk.users.me()).id).toBe(account.user.id)
  })

  it('refreshes ahead of a locally known expiry', async () => {
    const account = await register(api)
    const { f, count } = countingFetch()
    const sdk = createClient({
      baseUrl: server.url,
      fetch: f,
      session: { user: account.user, accessToken: account.accessToken, refreshToken: account.refreshToken, expiresAt: Date.now() - 1 }
    })
    await sdk.users.me()
    expect(count('POST /v1/auth/refresh')).toBe(1)
    expect(count('GET /v1/me')).toBe(1)
  })

  it('reports unauthenticated when the refresh is refused', async () => {
    const account = await register(api)
    await api.post('/v1/auth/logout', { refreshToken: account.refreshToken })
    const sdk = createClient({
      baseUrl: server.url,
      session: { user: account.user, accessToken: 'x.y.z', refreshToken: account.refreshToken, expiresAt: Date.now() + 600_000 }
    })
    let unauthenticated = 0
    sdk.on('unauthenticated', () => { unauthenticated++ })
    await expect(sdk.users.me()).rejects.toMatchObject({ status: 401 })
    expect(unauthenticated).toBe(1)
    expect(sdk.session).toBeNull()
  })

  it('clients sharing one saved session (tabs) read the newest before refreshing, under a shared lock: neither is logged out', async () => {
    const account = await register(api)
    // The store both clients save to (localStorage of a browser's tabs), and a lock they share (navigator.locks).
    let saved: Session | null = { user: account.user, accessToken: account.accessToken, refreshToken: account.refreshToken, expiresAt: Date.now() + 600_000 }
    let queue: Promise<unknown> = Promise.resolve()
    const refreshLock = <T>(fn: () => Promise<T>): Promise<T> => {
      const run = queue.then(fn)
      queue = run.catch(() => {})
      return run
    }
    const tab = () => {
      const counting = countingFetch()
      const writes: Array<Session | null> = []
      const sdk = createClient({
        baseUrl: server.url,
        fetch: counting.f,
        session: saved,
        onSession: (s) => { writes.push(s); saved = s },
        loadSession: () => saved,
        refreshLock
      })
      let unauthenticated = 0
      sdk.on('unauthenticated', () => { unauthenticated++ })
      const events: Array<Session | null> = []
      sdk.on('session', (s) => events.push(s))
      return { sdk, writes, events, count: counting.count, unauthenticated: () => unauthenticated }
    }
    const a = tab()
    const b = tab()
    /** Both clients' access tokens are due (as after a while in the background). */
    const expireHeld = () => {
      for (const t of [a, b]) t.sdk.adoptSession({ ...t.sdk.session!, expiresAt: Date.now() - 1 })
      saved = { ...saved!, expiresAt: Date.now() - 1 }
    }

    // One after the other: a refreshes; b then takes a's saved tokens instead of presenting the rotated one.
    expireHeld()
    await a.sdk.users.me()
    expect(a.count('POST /v1/auth/refresh')).toBe(1)
    await b.sdk.users.me()
    expect(b.count('POST /v1/auth/refresh')).toBe(0)
    expect(b.sdk.session).toEqual(saved)
    // Taken from the store: reported as the session event, not saved again.
    expect(b.events.at(-1)).toEqual(saved)
    expect(b.writes).toEqual([])

    // At the same moment, several rounds: one refresh per round (the lock), the other client reads its result.
    for (let round = 0; round < 3; round++) {
      expireHeld()
      const before = a.count('POST /v1/auth/refresh') + b.count('POST /v1/auth/refresh')
      await Promise.all([a.sdk.users.me(), b.sdk.users.me(), a.sdk.conversations.list(), b.sdk.conversations.list()])
      expect(a.count('POST /v1/auth/refresh') + b.count('POST /v1/auth/refresh'), `round ${round}`).toBe(before + 1)
      expect(a.sdk.session!.refreshToken).toBe(saved!.refreshToken)
      expect(b.sdk.session!.refreshToken).toBe(saved!.refreshToken)
    }

    // Neither was logged out, and the session is alive on the server.
    expect([a.unauthenticated(), b.unauthenticated()]).toEqual([0, 0])
    expect((await b.sdk.auth.refresh()).user.id).toBe(account.user.id)
    expect((await a.sdk.users.me()).id).toBe(account.user.id)
    // Logged out in one: the other's refresh is refused (nothing newer saved), and it logs out too.
    await a.sdk.logout()
    expect(saved).toBeNull()
    b.sdk.adoptSession({ ...b.sdk.session!, expiresAt: Date.now() - 1 })
    await expect(b.sdk.users.me()).rejects.toMatchObject({ status: 401 })
    expect(b.unauthenticated()).toBe(1)
    expect(b.sdk.session).toBeNull()
  })

  it('retries a send whose answer was lost, without posting twice', async () => {
    const [me, other] = await Promise.all([register(api), register(api)])
    let lose = 1
    const f: FetchLike = async (url, init) => {
      const res = await fetch(url, init)
      if (init.method === 'POST' && url.endsWith('/messages') && lose-- > 0) {
        await res.text()
        throw new TypeError('fetch failed') // the message was stored, the answer lost
      }
      return res
    }
    const sdk = createClient({ baseUrl: server.url, fetch: f, session: { ...me, expiresAt: Date.now() + 600_000 } })
    const direct = await sdk.conversations.openDirect(other.user.id)
    const sent = await sdk.messages.send(direct.id, 'exactly once')
    const history = await sdk.messages.history(direct.id)
    expect(history.messages.map((m) => m.id)).toEqual([sent.id])
  })

  it('answers a network failure with status 0', async () => {
    const sdk = createClient({ baseUrl: 'http://127.0.0.1:1' })
    await expect(sdk.auth.login({ username: 'nobody', password: 'whatever1' })).rejects.toMatchObject({ status: 0, code: 'NETWORK_ERROR', transient: true })
  })
})
