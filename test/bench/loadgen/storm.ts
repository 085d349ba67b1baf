// Load generator of the reconnect storm: one client per user, built with the
// project's own SDK (src/client: reconnect, GET /v1/conversations lastSeq,
// replay /events?after=, hold pushes meanwhile, drop duplicates), plus a
// poster that keeps messages flowing throughout. Every `event` the SDK emits
// is counted per (conversation, seq), so lost and duplicate events show.
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { createClient, type SwitchboardClient } from '../../../src/client/index.js'
import { serve } from '../harness/rpc.js'
import { summarize } from '../harness/stats.js'
import { HttpClient } from './http.js'
import { openLoop } from './loops.js'

interface StormUser { id: string, username: string, token: string }
interface StormConversation { id: string, members: number[] }

interface Client {
  sdk: SwitchboardClient
  sockets: Set<WebSocket>
  /** conversationId -> seq -> times the SDK emitted it */
  seen: Map<string, Map<number, number>>
  base: Record<string, number>
  synced: number
  onSynced?: () => void
}

let clients: Client[] = []
let users: StormUser[] = []
let groups: StormConversation[] = []
let directs: StormConversation[] = []
let http: HttpClient | undefined
let sdkErrors = 0
let lastSdkError = ''
let posting = false
let poster: Promise<void> | undefined
let posted = 0
let postFailures = 0

function makeClient (url: string, user: StormUser): Client {
  const sockets = new Set<WebSocket>()
  class TrackedWebSocket extends WebSocket {
    constructor (address: string) {
      super(address, { perMessageDeflate: false })
      sockets.add(this)
      this.on('close', () => sockets.delete(this))
    }
  }
  const sdk = createClient({
    baseUrl: url,
    WebSocket: TrackedWebSocket,
    session: {
      user: { id: user.id, username: user.username, displayName: user.username, createdAt: new Date().toISOString() },
      accessToken: user.token,
      refreshToken: 'not-used-by-the-benchmark',
      expiresAt: Date.now() + 3 * 3600_000
    }
  })
  const c: Client = { sdk, sockets, seen: new Map(), base: {}, synced: 0 }
  sdk.realtime.on('event', (e) => {
    let m = c.seen.get(e.conversationId)
    if (m === undefined) c.seen.set(e.conversationId, m = new Map())
    m.set(e.seq, (m.get(e.seq) ?? 0) + 1)
  })
  sdk.realtime.on('synced', () => {
    c.synced++
    c.onSynced?.()
  })
  sdk.realtime.on('error', (err) => {
    sdkErrors++
    lastSdkError = err instanceof Error ? err.message : JSON.stringify(err)
  })
  return c
}

/** Connects (or reconnects) every client at once; resolves with each one's time to its next `synced`. */
async function connectAll (): Promise<number[]> {
  const t0 = performance.now()
  const times = await Promise.all(clients.map((c) => new Promise<number>((resolve) => {
    c.onSynced = () => {
      c.onSynced = undefined
      resolve(performance.now() - t0)
    }
    c.sdk.realtime.connect()
  })))
  return times
}

function postLoop (rate: number): Promise<void> {
  return openLoop(rate, () => posting, (n) => {
    // Every other post into a group, the rest into direct conversations.
    const k = n >> 1
    const conv = (n & 1) === 0 ? groups[k % groups.length]! : directs[k % directs.length]!
    const sender = users[conv.members[k % conv.members.length]!]!
    http!.post(`/v1/conversations/${conv.id}/messages`, sender.token, { body: `storm ${n}`, clientMessageId: `s${n}` })
      .then((r) => { if (r.status === 201) posted++; else postFailures++ }, () => { postFailures++ })
  }, 5)
}

serve({
  async connect (p: { url: string, users: StormUser[], groups: StormConversation[], directs: StormConversation[] }) {
    users = p.users
    groups = p.groups
    directs = p.directs
    http = new HttpClient(p.url, 16)
    clients = users.map((u) => makeClient(p.url, u))
    const times = await connectAll()
    for (const c of clients) c.base = c.sdk.realtime.positions()
    return { clients: clients.length, ms: Math.max(...times) }
  },

  startPosting (p: { rate: number }) {
    posting = true
    poster = postLoop(p.rate)
  },

  async stopPosting () {
    posting = false
    await poster
    return { posted, postFailures }
  },

  /** Every client loses its connection at the same moment (sockets cut, no close handshake). */
  drop () {
    for (const c of clients) for (const ws of c.sockets) ws.terminate()
    for (const c of clients) c.sdk.realtime.close()
  },

  /** Every client reconnects at once and replays; returns how long until each (and all) caught up. */
  async reconnect () {
    const times = await connectAll()
    return { allMs: Math.max(...times), perClientMs: summarize(times) }
  },

  /** Waits until every client has every event up to `lastSeqs`, then counts lost and duplicate ones. */
  async verify (p: { lastSeqs: Record<string, number>, timeoutMs: number }) {
    const behind = () => clients.filter((c) => Object.keys(c.base).some((id) => {
      const m = c.seen.get(id)
      return (p.lastSeqs[id] ?? 0) > c.base[id]! && (m === undefined || !m.has(p.lastSeqs[id]!))
    })).length
    const deadline = performance.now() + p.timeoutMs
    while (behind() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    let expected = 0
    let delivered = 0
    let lost = 0
    let duplicates = 0
    for (const c of clients) {
      for (const [id, base] of Object.entries(c.base)) {
        const m = c.seen.get(id) ?? new Map<number, number>()
        for (let seq = base + 1; seq <= (p.lastSeqs[id] ?? base); seq++) {
          expected++
          const n = m.get(seq) ?? 0
          if (n === 0) lost++
          else duplicates += n - 1
          delivered += n
        }
      }
    }
    return { clientsBehind: behind(), expected, delivered, lost, duplicates, sdkErrors, lastSdkError }
  },

  close () {
    for (const c of clients) c.sdk.realtime.close()
    http?.close()
  }
})
