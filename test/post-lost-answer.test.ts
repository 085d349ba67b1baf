// A post's database connection is lost after post_messages committed but
// before its answer reached the server (found by an audit): the post answers
// 503 and the sender's retry finds the stored message, but the other members'
// sockets got no push of it, nor learnt of a gap, until the conversation's
// next event. The batcher now looks for the batch's messages once the
// database answers again and publishes what was stored
// (src/domain/post-batcher.ts, publishIfStored).
import { createServer, connect as tcpConnect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGroup, replay } from './helpers/chat.js'
import { client } from './helpers/http.js'
import { createTestDatabase, type TestDatabase } from './helpers/database.js'
import { startServer, type TestServer } from './helpers/server.js'
import { users } from './helpers/users.js'
import { connect, type TestSocket } from './helpers/ws.js'

// Forwards PostgreSQL traffic; when armed, the next connection that sends `text` has the reply dropped
// and is cut (the statement still runs and commits on the server).
async function replyDroppingProxy (target: string) {
  const t = new URL(target)
  let armed: string | undefined
  let hits = 0
  const all = new Set<Socket>()
  const server = createServer((c) => {
    const up = tcpConnect(Number(t.port), t.hostname)
    all.add(c).add(up)
    let doomed = false
    const drop = () => { c.destroy(); up.destroy() }
    c.on('error', drop).on('close', drop); up.on('error', drop).on('close', drop)
    c.on('data', (d) => {
      if (armed !== undefined && d.toString('latin1').includes(armed)) { armed = undefined; doomed = true; hits++ }
      up.write(d)
    })
    up.on('data', (d) => { if (doomed) { drop(); return } c.write(d) })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const url = new URL(target)
  url.hostname = '127.0.0.1'
  url.port = String((server.address() as { port: number }).port)
  return { url: url.toString(), arm (text: string) { armed = text }, get hits () { return hits }, close () { for (const s of all) s.destroy(); server.close() } }
}

let db: TestDatabase
let proxy: Awaited<ReturnType<typeof replyDroppingProxy>>
let server: TestServer
const sockets: TestSocket[] = []
beforeAll(async () => {
  db = await createTestDatabase()
  proxy = await replyDroppingProxy(db.url)
  server = await startServer({ databaseUrl: proxy.url })
}, 60_000)
afterAll(async () => {
  for (const s of sockets) await s.close()
  await server?.close()
  proxy?.close()
  await db?.drop()
})

describe('a post whose database reply was lost after commit', () => {
  it('is pushed to the other members once the database answers again; the retry gets the same message', async () => {
    const api = client(server.url)
    const [a, b] = await users(api, 2)
    const group = await createGroup(api, a, [b])
    const sock = await connect(server.url, b.accessToken)
    sockets.push(sock)
    await sock.next((f) => f.type === 'ready')

    proxy.arm('post_messages')
    const first = await api.post(`/v1/conversations/${group.id}/messages`, { body: 'hello', clientMessageId: 'cm-1' }, { token: a.accessToken })
    expect(proxy.hits).toBe(1)
    expect(first.status).toBe(503)
    expect(first.body.code).toBe('UNAVAILABLE')
    // Pushed without waiting for the sender's retry (it may never come: the app was closed).
    const pushed = await sock.next((f) => f.type === 'message.created', 15_000)
    expect(pushed.data.body).toBe('hello')
    const retry = await api.post(`/v1/conversations/${group.id}/messages`, { body: 'hello', clientMessageId: 'cm-1' }, { token: a.accessToken })
    expect(retry.status).toBe(200)
    expect(retry.body.seq).toBe(pushed.seq)
    const logged = (await replay(api, b, group.id, 0)).filter((e) => e.type === 'message.created')
    expect(logged.map((e) => e.seq)).toEqual([pushed.seq])
  }, 60_000)
})
