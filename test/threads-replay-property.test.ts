// Property test (issue 17): a client that replays the log from seq 0 ends with
// exactly what a client live on the WebSocket the whole time saw: the same
// messages (their last version), the same thread summaries and the same reply
// list per thread. Random sequences of top-level posts (some with a type and
// metadata), thread replies, edits (bodies and metadata) and deletions by
// several users run against one real server, a few at a time so that they
// share group commits; a refused write (a reply to a root deleted meanwhile)
// is an outcome like any other. Both clients keep threads by the SDK's
// ThreadTracker; the server's own summaries and thread pages must agree too.
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { ThreadTracker, type ChatEvent } from '../src/client/index.js'
import { createGroup, replay } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connect, type TestSocket } from './helpers/ws.js'

const WAIT = 20_000
const USERS = 4

let server: TestServer
let api: Client
let people: Account[]
const sockets: TestSocket[] = []

const as = (a: Account) => ({ token: a.accessToken })

test.beforeAll(async ({ server: started }) => {
  server = started
  api = client(server.url)
  people = await registerMany(api, USERS)
})
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
})

type Op =
  | { kind: 'post', who: number, poll: boolean }
  | { kind: 'reply', who: number, pick: number, mention: number | null }
  | { kind: 'edit', pick: number, metadata: boolean }
  | { kind: 'delete', pick: number, byOwner: boolean }

const who = fc.integer({ min: 0, max: USERS - 1 })
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('post' as const), who, poll: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('reply' as const), who, pick: fc.nat(), mention: fc.option(who) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('edit' as const), pick: fc.nat(), metadata: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat(), byOwner: fc.boolean() }), weight: 1 }
)

interface Known { id: string, senderId: string, root: boolean }

/** What a client ends with: every message (last version, summaries from replies) and every thread's replies. */
function fold (events: ChatEvent[]) {
  const tracker = new ThreadTracker()
  const ids: string[] = []
  for (const e of events) {
    tracker.apply(e)
    if (e.type === 'message.created') ids.push(e.data.id)
  }
  return {
    messages: ids.map((id) => tracker.message(id)),
    threads: Object.fromEntries(tracker.roots().sort().map((root) => [root, { summary: tracker.summary(root), replies: tracker.replies(root) }]))
  }
}

async function run (chunks: Op[][]): Promise<void> {
  const [owner] = people as [Account]
  // Live from before the conversation exists: they see its whole log.
  const live = await Promise.all(people.map(async (a) => {
    const s = await connect(server.url, a.accessToken)
    sockets.push(s)
    await s.next((f) => f.type === 'ready')
    return s
  }))
  const group = await createGroup(api, owner, people.slice(1))
  const conv = group.id as string
  const known: Known[] = []
  let n = 0
  const path = `/v1/conversations/${conv}/messages`

  const apply = async (o: Op): Promise<void> => {
    n++
    switch (o.kind) {
      case 'post': {
        const author = people[o.who]!
        const res = await api.post(path, o.poll ? { type: 'poll', metadata: { q: `q${n}`, votes: {} } } : { body: `p${n}` }, as(author))
        expect(res.status).toBe(201)
        known.push({ id: res.body.id, senderId: author.user.id, root: true })
        break
      }
      case 'reply': {
        const roots = known.filter((k) => k.root)
        if (roots.length === 0) return
        const root = roots[o.pick % roots.length]!
        const author = people[o.who]!
        const body = o.mention === null ? `r${n}` : `r${n} @${people[o.mention]!.user.username}`
        const res = await api.post(path, { body, threadRootId: root.id, ...(n % 3 === 0 ? { type: 'note', metadata: { n } } : {}) }, as(author))
        // The root may have been deleted by a write of the same chunk.
        if (res.status === 400 && res.body.code === 'INVALID_THREAD_ROOT') return
        expect(res.status).toBe(201)
        known.push({ id: res.body.id, senderId: author.user.id, root: false })
        break
      }
      case 'edit': {
        if (known.length === 0) return
        const m = known[o.pick % known.length]!
        const sender = people.find((p) => p.user.id === m.senderId)!
        const res = await api.patch(`${path}/${m.id}`, o.metadata ? { metadata: { edited: n } } : { body: `e${n}` }, as(sender))
        if (res.status === 409) return // deleted meanwhile
        expect(res.status).toBe(200)
        break
      }
      case 'delete': {
        if (known.length === 0) return
        const m = known[o.pick % known.length]!
        const actor = o.byOwner ? owner : people.find((p) => p.user.id === m.senderId)!
        expect((await api.del(`${path}/${m.id}`, as(actor))).status).toBe(200)
        break
      }
    }
  }

  for (const chunk of chunks) await Promise.all(chunk.map(apply))
  // A last message: every live client has everything before it once it has it.
  const final = (await api.post(path, { body: 'final' }, as(owner))).body
  await Promise.all(live.map((s) => s.next((f) => f.conversationId === conv && f.seq === final.seq, WAIT)))

  for (const [i, person] of people.entries()) {
    const pushed = live[i]!.frames.filter((f) => f.conversationId === conv && typeof f.seq === 'number') as unknown as ChatEvent[]
    const seqs = pushed.map((e) => e.seq)
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    const replayed = await replay(api, person, conv, 0) as ChatEvent[]
    expect(replayed.map((e) => e.seq)).toEqual(seqs)
    const seenLive = fold(pushed)
    const seenReplay = fold(replayed)
    expect(seenReplay).toEqual(seenLive)

    // The server agrees: exact summaries on the roots, and the same replies per thread.
    if (i !== 0) continue
    const history = await api.get(`${path}?limit=100`, as(person))
    for (const root of history.body.messages) {
      const kept = seenLive.threads[root.id]
      expect(root.thread, `summary of ${root.id}`).toEqual(kept?.summary ?? null)
      if (kept === undefined) continue
      const page = await api.get(`${path}/${root.id}/thread?after=0&limit=100`, as(person))
      expect(page.body.messages).toEqual(kept.replies)
    }
  }
}

describe('threads replay', () => {
  it('a client replaying the log from seq 0 ends with the messages, thread summaries and replies a live client saw', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { minLength: 4, maxLength: 12 }), run),
      { numRuns: 8, endOnFailure: true })
  }, 300_000)
})
