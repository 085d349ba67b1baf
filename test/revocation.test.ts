// Every cached authorization fact against a concurrent revocation: the live
// session cache (REST), the open socket (WebSocket) and the membership behind
// typing frames. Once the revoking request has answered, nothing the
// revocation took away may still work on this process (test/multiprocess.test.ts
// checks the same across processes).
import { afterAll, describe, expect, it } from 'vitest'
import { createGroup } from './helpers/chat.js'
import { client, type Client } from './helpers/http.js'
import { raceLogouts } from './helpers/races.js'
import { test, type TestServer } from './helpers/server.js'
import { users } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []

const open = (token: string) => connectReady(server.url, token, sockets)

test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

describe('logout racing the session\'s first requests and upgrades', () => {
  it('leaves no socket of the ended session open (they close with 4001) and its token gets 401 once logout answered', async () => {
    const accounts = await users(api, 4)
    const result = await raceLogouts({ authUrl: server.url, raceUrl: server.url, accounts, rounds: 25 })
    expect(result.unexpected).toEqual([])
    expect(result.logouts).toBe(100)
    expect(result.socketsOpened).toBeGreaterThan(0)
    expect({
      answeredAfterLogout: result.answeredAfterLogout,
      stillWorking: result.stillWorking,
      socketsLeftOpen: result.socketsLeftOpen,
      otherCloseCodes: result.otherCloseCodes
    }).toEqual({ answeredAfterLogout: 0, stillWorking: 0, socketsLeftOpen: 0, otherCloseCodes: [] })
  }, 120_000)
})

describe('typing after removal', () => {
  it('a removed member\'s typing frame gets NOT_FOUND at once and reaches nobody', async () => {
    const [owner, member, removed] = await users(api, 3)
    const group = await createGroup(api, owner, [member, removed])
    const os = await open(owner.accessToken)
    const ms = await open(member.accessToken)
    const rs = await open(removed.accessToken)
    const typingOf = (userId: string) => (f: Record<string, any>) => f.type === 'typing' && f.data.userId === userId

    // While a member, typing is relayed (and whatever was learnt about membership is warm).
    rs.send({ type: 'typing', conversationId: group.id })
    await os.next(typingOf(removed.user.id))
    await ms.next(typingOf(removed.user.id))

    const res = await api.del(`/v1/conversations/${group.id}/members/${removed.user.id}`, { token: owner.accessToken })
    expect(res.status).toBe(204)
    rs.send({ type: 'typing', conversationId: group.id })
    expect(await rs.next((f) => f.type === 'error')).toMatchObject({ type: 'error', code: 'NOT_FOUND' })
    // A frame relayed would have been published before the error was sent;
    // a ping answered afterwards by the others' sockets shows their queue was drained.
    for (const s of [os, ms]) {
      s.send({ type: 'ping' })
      await s.next((f) => f.type === 'pong')
    }
    await Promise.all([os, ms].map((s) => s.none(typingOf(removed.user.id), 300)))
    expect([...os.frames, ...ms.frames].filter(typingOf(removed.user.id))).toHaveLength(2)
  })
})
