// Receipts racing a member's removal. Who is told of a read, a delivery or a
// thread read is read in the transaction that moves the position, under the
// conversation's lock that every change of the member list takes
// (src/repositories/receipts.ts). So a member removed (by an admin, by
// leaving, by a ban) while the others read gets no read or delivered frame
// after their own member.removed; their own reads stop moving (404 from then
// on) and nobody is told of them after that member.removed; and no thread.read
// of theirs reaches their own sockets after it. Before, the members were read
// after the move, outside its transaction, and a removal committing in
// between had its member.removed pushed before the receipt.
//
// Each case races many rounds; what is checked is the order of frames on one
// socket and the answers, never how long anything took.
import { afterAll, describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, type Account, type Client, type Response } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type Frame, type TestSocket } from './helpers/ws.js'

let server: TestServer
let api: Client
const sockets: TestSocket[] = []

// Every acknowledgement is a write of its own, as a read is: more receipts in flight when the removal commits.
test.override('serverOptions', { config: { deliveryCoalesceMs: 0 } })
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

// Every pairing of a removal (3 ways) and a receipt (2 kinds) three times; each round has a group of its own.
const ROUNDS = 18
const MESSAGES = 10
const WAIT = 20_000

const as = (who: Account) => ({ token: who.accessToken })
const users = (n: number) => registerMany(api, n)
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

type Removal = 'removed' | 'left' | 'banned'
const REMOVALS: Removal[] = ['removed', 'left', 'banned']

/** Takes `victim` out of the group as `how` says; each answers 204. */
function takeOut (how: Removal, conversationId: string, owner: Account, victim: Account): Promise<Response> {
  if (how === 'left') return api.del(`/v1/conversations/${conversationId}/members/${victim.user.id}`, as(victim))
  if (how === 'banned') return api.put(`/v1/conversations/${conversationId}/bans/${victim.user.id}`, undefined, as(owner))
  return api.del(`/v1/conversations/${conversationId}/members/${victim.user.id}`, as(owner))
}

const isRemoval = (c: string, who: Account) => (f: Frame) => f.type === 'member.removed' && f.conversationId === c && f.data.userId === who.user.id
const isReceipt = (c: string) => (f: Frame) => (f.type === 'read' || f.type === 'delivered') && f.conversationId === c

/** The frames a socket got after the one that matches `mark` (none when it never came). */
function framesAfter (socket: TestSocket, mark: (f: Frame) => boolean): Frame[] {
  const i = socket.frames.findIndex(mark)
  return i === -1 ? [] : socket.frames.slice(i + 1)
}

/** Statuses of one user's sequential requests: 204s while a member, then only 404s. */
function stopsOnce (statuses: number[]): boolean {
  const firstRefusal = statuses.indexOf(404)
  const head = firstRefusal === -1 ? statuses : statuses.slice(0, firstRefusal)
  const tail = firstRefusal === -1 ? [] : statuses.slice(firstRefusal)
  return head.every((s) => s === 204) && tail.every((s) => s === 404)
}

describe('receipts racing a removal', () => {
  it('read and delivered: a removed member gets none after their member.removed, and none of theirs is told after it; the others get every position', async () => {
    const problems: string[] = []
    const [owner, victim, r1, r2, r3, r4] = await users(6)
    const readers = [r1, r2, r3, r4]
    for (let round = 0; round < ROUNDS; round++) {
      const how = REMOVALS[round % REMOVALS.length]!
      const group = await createGroup(api, owner, [victim, ...readers])
      const posted: Array<{ seq: number }> = []
      for (let i = 0; i < MESSAGES; i++) posted.push(await post(api, owner, group.id, `m${i}`))
      const last = posted.at(-1)!.seq
      const victimSocket = await connectReady(server.url, victim.accessToken, sockets)
      const ownerSocket = await connectReady(server.url, owner.accessToken, sockets)

      // Everyone reads (or acknowledges) message by message; the victim too, until refused.
      const kindOf = (i: number) => (i + round) % 2 === 0 ? 'read' : 'delivered'
      const victimKind = round % 2 === 0 ? 'read' : 'delivered'
      const victimStatuses: number[] = []
      const readersDone = Promise.all(readers.map(async (r, i) => {
        for (const m of posted) {
          const res = await api.post(`/v1/conversations/${group.id}/${kindOf(i)}`, { seq: m.seq }, as(r))
          if (res.status !== 204) problems.push(`round ${round}: reader ${kindOf(i)} ${m.seq} answered ${res.status}`)
        }
      }))
      const victimDone = (async () => {
        for (const m of posted) {
          const res = await api.post(`/v1/conversations/${group.id}/${victimKind}`, { seq: m.seq }, as(victim))
          victimStatuses.push(res.status)
        }
      })()
      await pause(Math.random() * 30)
      const removal = await takeOut(how, group.id, owner, victim)
      expect(removal.status, `round ${round}: ${how}`).toBe(204)
      await Promise.all([readersDone, victimDone])

      await victimSocket.next(isRemoval(group.id, victim), WAIT)
      await ownerSocket.next(isRemoval(group.id, victim), WAIT)
      // The remaining members are still told: the owner sees every reader's last position.
      for (const [i, r] of readers.entries()) {
        await ownerSocket.next((f) => f.type === kindOf(i) && f.conversationId === group.id && f.data.userId === r.user.id && f.data.seq === last, WAIT)
      }
      await victimSocket.none(() => false, 300)

      for (const f of framesAfter(victimSocket, isRemoval(group.id, victim)).filter(isReceipt(group.id))) {
        problems.push(`round ${round} (${how}): the removed member got ${JSON.stringify(f)}`)
      }
      for (const f of framesAfter(ownerSocket, isRemoval(group.id, victim)).filter(isReceipt(group.id))) {
        if (f.data.userId === victim.user.id) problems.push(`round ${round} (${how}): told of the removed member's ${JSON.stringify(f)}`)
      }
      if (!stopsOnce(victimStatuses)) problems.push(`round ${round} (${how}): the removed member's ${victimKind} answered ${victimStatuses.join(',')}`)
      await Promise.all([victimSocket.close(), ownerSocket.close()])
    }
    expect(problems).toEqual([])
  }, 600_000)

  it('thread.read: a removed member gets none on their own sockets after their member.removed', async () => {
    const problems: string[] = []
    const [owner, victim] = await users(2)
    for (let round = 0; round < ROUNDS; round++) {
      const how = REMOVALS[round % REMOVALS.length]!
      const group = await createGroup(api, owner, [victim])
      const root = await post(api, owner, group.id, 'root')
      const replies: Array<{ seq: number }> = []
      for (let i = 0; i < MESSAGES; i++) replies.push(await post(api, owner, group.id, `r${i}`, { threadRootId: root.id }))
      const victimSocket = await connectReady(server.url, victim.accessToken, sockets)

      const statuses: number[] = []
      const reading = (async () => {
        for (const m of replies) {
          const res = await api.post(`/v1/conversations/${group.id}/messages/${root.id}/thread/read`, { seq: m.seq }, as(victim))
          statuses.push(res.status)
        }
      })()
      await pause(Math.random() * 30)
      expect((await takeOut(how, group.id, owner, victim)).status, `round ${round}: ${how}`).toBe(204)
      await reading

      await victimSocket.next(isRemoval(group.id, victim), WAIT)
      await victimSocket.none(() => false, 300)
      for (const f of framesAfter(victimSocket, isRemoval(group.id, victim)).filter((f) => f.type === 'thread.read')) {
        problems.push(`round ${round} (${how}): the removed member got ${JSON.stringify(f)}`)
      }
      if (!stopsOnce(statuses)) problems.push(`round ${round} (${how}): thread/read answered ${statuses.join(',')}`)
      await victimSocket.close()
    }
    expect(problems).toEqual([])
  }, 600_000)
})
