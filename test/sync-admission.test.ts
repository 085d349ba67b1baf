// GET /v1/sync in a reconnect storm (issue 19): each process reads
// SYNC_CONCURRENCY syncs at once and queues the others in arrival order
// (src/domain/admission.ts). A sync that finds the queue full, or that waited
// SYNC_QUEUE_TIMEOUT_MS for its turn, answers 503 UNAVAILABLE with a
// Retry-After; one whose client left while it waited is not read at all; the
// SDK asks again after the Retry-After on the same socket. The server here
// reads one sync at a time and queues one: the test holds that turn itself
// (through the server's own queue), so what waits and what is refused does not
// depend on the machine's speed.
import { afterAll, describe, expect, it } from 'vitest'
import { createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { recordingClient, type RecordingClient } from './helpers/sdk.js'
import { startServer, test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

let server: TestServer
let api: Client
const upgrades: string[] = []
const clients: RecordingClient[] = []
const QUEUE_TIMEOUT_MS = 1_000

test.override('serverOptions', {
  config: { syncRateLimitPerMinute: 100_000, syncConcurrency: 1, syncQueueMax: 1, syncQueueTimeoutMs: QUEUE_TIMEOUT_MS },
  extend: (app) => {
    app.addHook('onRequest', async (request) => { if (request.url.startsWith('/v1/ws')) upgrades.push(request.url) })
  }
})
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(() => { for (const c of clients) c.sdk.realtime.close() })

const as = (who: Account) => ({ token: who.accessToken })
const admission = () => server.app.chat.syncAdmission

/** Takes a turn of the server's sync queue until released (the first call takes the running one, the next waits). */
function hold (): { release: () => void, done: Promise<unknown> } {
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  return { release, done: admission().run(() => held).catch((err: unknown) => err) }
}

async function until (check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A cursor that starts now, and a change after it. */
async function changedSince (): Promise<{ me: Account, cursor: string, group: { id: string } }> {
  const [me, other] = await registerMany(api, 2)
  const group = await createGroup(api, other, [me], 'queued')
  const res = await api.get('/v1/sync', as(me))
  expect(res.status).toBe(200)
  await post(api, other, group.id, 'after the cursor')
  return { me, cursor: res.body.cursor, group }
}

describe('GET /v1/sync: syncs in turn', () => {
  it('waits for its turn and is then read; past the queue it answers 503 UNAVAILABLE with a Retry-After, at once', async () => {
    const { me, cursor, group } = await changedSince()
    const running = hold()
    await until(() => admission().active === 1, 'the held turn')
    const waiting = api.get(`/v1/sync?since=${cursor}`, as(me))
    await until(() => admission().queued === 1, 'the sync to queue')

    const refusedBefore = admission().refused
    const t0 = Date.now()
    const refused = await api.get(`/v1/sync?since=${cursor}`, as(me))
    expectError(refused, 503, 'UNAVAILABLE')
    expect(Date.now() - t0).toBeLessThan(QUEUE_TIMEOUT_MS)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(refused.body.message).toMatch(/retry in \d+ s/)
    expect(admission().refused).toBe(refusedBefore + 1)

    running.release()
    await running.done
    const served = await waiting
    expect(served.status).toBe(200)
    expect(served.body.changes.map((c: { conversationId: string }) => c.conversationId)).toEqual([group.id])
    expect(served.body.changes[0].events.map((e: { type: string }) => e.type)).toEqual(['message.created'])
  })

  it('answers 503 with a Retry-After to a sync that waited longer than SYNC_QUEUE_TIMEOUT_MS, without reading it', async () => {
    const { me, cursor } = await changedSince()
    const running = hold()
    await until(() => admission().active === 1, 'the held turn')
    const waiting = api.get(`/v1/sync?since=${cursor}`, as(me))
    await until(() => admission().queued === 1, 'the sync to queue')
    await new Promise((resolve) => setTimeout(resolve, QUEUE_TIMEOUT_MS + 200))
    running.release()
    const res = await waiting
    expectError(res, 503, 'UNAVAILABLE')
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    // Its turn passed: the next sync from the same cursor runs at once and brings the change.
    const again = await api.get(`/v1/sync?since=${cursor}`, as(me))
    expect(again.status).toBe(200)
    expect(again.body.changes).toHaveLength(1)
  })

  it('does not read a sync whose client left while it waited', async () => {
    const { me, cursor } = await changedSince()
    const running = hold()
    await until(() => admission().active === 1, 'the held turn')
    const abort = new AbortController()
    const gone = fetch(`${server.url}/v1/sync?since=${cursor}`, { headers: { authorization: `Bearer ${me.accessToken}` }, signal: abort.signal })
      .catch((err: unknown) => err)
    await until(() => admission().queued === 1, 'the sync to queue')
    const droppedBefore = admission().dropped
    abort.abort()
    expect(await gone).toBeInstanceOf(Error)
    // The server sees the connection close before the turn comes.
    await new Promise((resolve) => setTimeout(resolve, 500))
    running.release()
    await until(() => admission().dropped === droppedBefore + 1 && admission().queued === 0, 'the sync to be dropped')
  })

  it('the SDK asks again after the Retry-After, on the same socket, and catches up', async () => {
    const [me, other] = await registerMany(api, 2)
    const group: { id: string, lastSeq: number } = await createGroup(api, other, [me], 'sdk in a storm')
    const rec = recordingClient(server.url)
    clients.push(rec)
    await rec.sdk.auth.login({ username: me.user.username, password: me.password })
    rec.sdk.realtime.connect()
    await rec.until(() => rec.synced >= 1, 20_000, 'first sync')

    // Away: a message it misses, then back while the server's sync queue is full.
    const before = rec.synced
    rec.control.offline = true
    rec.control.current().terminate()
    await rec.until(() => rec.sdk.realtime.state === 'reconnecting', 10_000, 'reconnecting')
    const missed = await post(api, other, group.id, 'while away')
    const running = hold()
    const queued = hold()
    await until(() => admission().active === 1 && admission().queued === 1, 'a full queue')
    const refusedBefore = admission().refused
    const upgradesBefore = upgrades.length
    rec.control.offline = false
    await until(() => admission().refused > refusedBefore, 'the SDK\'s sync to be refused')
    running.release()
    queued.release()
    await rec.until(() => rec.synced > before, 30_000, 'catch-up after the 503')

    // One socket: the refused sync was asked again, not the connection made again.
    expect(upgrades.length - upgradesBefore).toBe(1)
    expect(rec.sdk.realtime.state).toBe('live')
    // Every event after the group's creation (where the client started), once: the one it missed.
    const log = await replay(api, me, group.id, group.lastSeq)
    expect(rec.events.filter((e) => e.conversationId === group.id).map((e) => e.seq)).toEqual(log.map((e: { seq: number }) => e.seq))
    expect(log.at(-1).seq).toBe(missed.seq)
  }, 60_000)
})

describe('GET /v1/sync: a burst larger than the database pool', () => {
  let small: TestServer | undefined
  afterAll(async () => { await small?.close() })

  it('serves every sync of a burst with two pool connections and a 1 s connect timeout: none waits for the pool long enough to fail', async () => {
    small = await startServer({ config: { syncRateLimitPerMinute: 100_000, databasePoolSize: 2, databaseConnectTimeoutMs: 1_000, syncConcurrency: 2 } })
    const smallApi = client(small.url)
    const [me, other] = await registerMany(smallApi, 2)
    const groups = await Promise.all(Array.from({ length: 10 }, (_, i) => createGroup(smallApi, other, [me], `burst ${i}`)))
    const start = await smallApi.get('/v1/sync', as(me))
    for (const g of groups) await post(smallApi, other, g.id, 'to catch up')
    // 150 catch-ups at once, each several statements: queued on two connections, they would wait seconds for one.
    const answers = await Promise.all(Array.from({ length: 150 }, () => smallApi.get(`/v1/sync?since=${start.body.cursor}`, as(me))))
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200))
    for (const r of answers) expect(r.body.changes).toHaveLength(groups.length)
  }, 120_000)
})
