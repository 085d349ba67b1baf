// Presence shared through the database by two app instances (BROKER=postgres):
// a graceful shutdown (a rolling restart) leaves its users' entries for the
// grace period, so those who reconnect elsewhere never show offline, while
// those who do not are swept offline by the other instance.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDirect } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'
import { users } from './helpers/users.js'
import { connect, type Frame, type TestSocket } from './helpers/ws.js'

const GRACE = 1500
const TTL = 2000

let s1: TestServer
let s2: TestServer | undefined
let api1: Client
let api2: Client
const sockets: TestSocket[] = []

async function open (server: TestServer, token: string) {
  const s = await connect(server.url, token)
  sockets.push(s)
  await s.next((f) => f.type === 'ready')
  return s
}

/** Each test server signs with its own key: log in there for a token it accepts. */
async function tokenOn (api: Client, who: Account): Promise<string> {
  const res = await api.post('/v1/auth/login', { username: who.user.username, password: who.password })
  return res.body.accessToken as string
}

beforeAll(async () => {
  const config = { broker: 'postgres' as const, brokerChannel: `t_${randomBytes(4).toString('hex')}`, presenceGraceMs: GRACE, presenceTtlMs: TTL }
  s1 = await startServer({ config })
  s2 = await startServer({ config, databaseUrl: s1.databaseUrl })
  api1 = client(s1.url)
  api2 = client(s2.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
  await s2?.close()
  await s1.close()
})

describe('shared presence', () => {
  it('a graceful shutdown: users who reconnect to another instance never show offline, the others go offline', async () => {
    const [a, b, c] = await users(api1, 3)
    await createDirect(api1, a, b)
    await createDirect(api1, a, c)
    const as = await open(s1, a.accessToken)
    await open(s2!, await tokenOn(api2, b))
    await open(s2!, await tokenOn(api2, c))
    const presence = (userId: string) => (f: Frame) => f.type === 'presence' && f.data.userId === userId
    await as.next((f) => presence(b.user.id)(f) && f.data.online === true)
    await as.next((f) => presence(c.user.id)(f) && f.data.online === true)

    await s2!.close()
    s2 = undefined
    await open(s1, b.accessToken)

    const offline = await as.next(presence(c.user.id), GRACE + TTL + 2000)
    expect(offline.data).toMatchObject({ online: false, lastSeenAt: expect.any(String) })
    await as.none(presence(b.user.id), 1000)
    expect(as.frames.filter(presence(b.user.id))).toHaveLength(1)
    const profile = await api1.get(`/v1/users/${b.user.id}`, { token: a.accessToken })
    expect(profile.body.online).toBe(true)
  }, 30_000)
})
