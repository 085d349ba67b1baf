// Load generator of the sync storm (scenario 10): one client per user,
// written directly on `ws` and node:http so that every request it makes is
// counted, each a member of many conversations, and a poster that keeps
// messages flowing into the busy ones. A client applies each conversation's
// events in seq order and remembers its position in each. After a reconnect
// it catches up in one of two ways (the flow of the repetition):
//
// - sync: GET /v1/sync?since=<the cursor it holds>&until=<the ready frame's
//   cursor>, following hasMore, with `known` = its positions in the
//   conversations that moved since it took that cursor (events it already got
//   pushed are not sent again); it then keeps the last page's cursor (the
//   ready frame's: what came after it is pushed on the socket);
// - list: GET /v1/conversations, every page, then /events?after=<position>
//   for each conversation whose lastSeq moved (the SDK's recipe, README
//   "Reconnect and replay"); it keeps the ready frame's cursor.
//
// Either way it waits for `ready` first (the socket is in the fan-out), holds
// the pushes that arrive while it catches up and applies them after; pushes
// the catch-up already brought are dropped by seq. Lost: seqs of the
// database a client never got. Duplicates: events a catch-up answer brought
// although the client had told the server it had them (its position, or
// `known`), or that an earlier page had brought.
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { serve } from '../harness/rpc.js'
import { sleep } from '../harness/processes.js'
import { summarize } from '../harness/stats.js'
import { HttpClient, inParallel } from './http.js'
import { openLoop } from './loops.js'

type Flow = 'sync' | 'list'
interface SyncUser { id: string, token: string }
interface Group { id: string, members: number[] }
interface Ev { conversationId: string, seq: number }

interface Client {
  user: SyncUser
  ws: WebSocket | undefined
  /** Conversation -> the highest seq applied (a seq skipped on the way counts as lost). */
  have: Map<string, number>
  /** Pushes held while the client catches up. */
  held: Ev[] | undefined
  cursor: string | null
  /** Conversations whose position moved since the cursor was taken, and in the span before it. */
  recent: Set<string>
  older: Set<string>
  requests: number
  bytes: number
  /** Milliseconds from the start of the last reconnect until its ready frame. */
  readyMs: number
  onReady: ((cursor: string | null) => void) | undefined
}

/** Frames that carry a conversationId and seq but are not events of the log (as the SDK sorts them). */
const NOT_EVENTS = new Set(['ready', 'pong', 'presence', 'typing', 'read', 'thread.read', 'delivered', 'user.updated', 'invitation', 'error'])
const MAX_ATTEMPTS = 60
const LIST_PAGE = 100
const EVENTS_PAGE = 100
const MAX_IN_FLIGHT = 200

let baseUrl = ''
let clients: Client[] = []
let busy: Group[] = []
let users: SyncUser[] = []
let http: HttpClient | undefined
let postHttp: HttpClient | undefined
let flow: Flow = 'sync'
const stats = () => ({ delivered: 0, lost: 0, duplicates: 0, pushesOverlapped: 0, eventsFetched: 0 })
const byFlow: Record<Flow, ReturnType<typeof stats>> = { sync: stats(), list: stats() }
let failures = 0
let lastError = ''
let posting = false
let poster: Promise<void> | undefined
let posted = 0
let postFailures = 0
/** Posts sent and not answered yet: under the storm they queue in the poster's connections. */
let inFlight = 0
let postsSkipped = 0
let closing = false
/** Sockets that failed (before ready, or closed by the server after) during the storm, by reason: a retry opens its socket late. */
const socketFailures = new Map<string, number>()
function socketFailed (reason: string): void {
  failures++
  lastError = reason
  socketFailures.set(reason, (socketFailures.get(reason) ?? 0) + 1)
}
/** Presence frames received by all clients during the storm, by what they said: a reconnect within the grace period should bring none. */
const presenceFrames = { online: 0, offline: 0 }

function apply (c: Client, e: Ev, fromCatchUp: boolean): void {
  const at = c.have.get(e.conversationId)
  if (at === undefined) return
  const f = byFlow[flow]
  if (e.seq <= at) {
    if (fromCatchUp) f.duplicates++
    else f.pushesOverlapped++
    return
  }
  if (e.seq > at + 1) f.lost += e.seq - at - 1
  c.have.set(e.conversationId, e.seq)
  c.recent.add(e.conversationId)
  f.delivered++
  if (fromCatchUp) f.eventsFetched++
}

function onFrame (c: Client, data: WebSocket.RawData): void {
  const frame = JSON.parse(data.toString()) as { type?: string, conversationId?: unknown, seq?: unknown, cursor?: string | null }
  if (frame.type === 'presence') {
    if ((frame as { data?: { online?: unknown } }).data?.online === true) presenceFrames.online++
    else presenceFrames.offline++
    return
  }
  if (frame.type === 'ready') {
    const resolve = c.onReady
    c.onReady = undefined
    resolve?.(frame.cursor ?? null)
    return
  }
  if (typeof frame.conversationId !== 'string' || typeof frame.seq !== 'number' || NOT_EVENTS.has(frame.type ?? '')) return
  const e = { conversationId: frame.conversationId, seq: frame.seq }
  if (c.held !== undefined) c.held.push(e)
  else apply(c, e, false)
}

/** Opens the client's socket (retrying a refused upgrade); resolves with the ready frame's cursor. Pushes are held from here on. */
async function open (c: Client): Promise<string | null> {
  c.held = []
  for (let attempt = 1; ; attempt++) {
    try {
      return await new Promise<string | null>((resolve, reject) => {
        const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/v1/ws?access_token=${encodeURIComponent(c.user.token)}`, { perMessageDeflate: false })
        let ready = false
        c.ws = ws
        c.onReady = (cursor) => { ready = true; resolve(cursor) }
        ws.on('message', (d) => onFrame(c, d))
        ws.on('error', (err) => reject(err))
        ws.on('close', (code) => {
          if (c.ws !== ws) return reject(new Error(`socket cut before ready (${code})`))
          c.ws = undefined
          if (!ready) return reject(new Error(`socket closed before ready (${code})`))
          // Closed by the server (say, as a slow consumer): counted, and caught up again as a client would.
          socketFailed(`socket closed by the server (${code})`)
          if (!closing) reconnectOne(c, flow).catch((err: unknown) => { lastError = `reconnect: ${err instanceof Error ? err.message : String(err)}` })
        })
      })
    } catch (err) {
      socketFailed(`socket: ${err instanceof Error ? err.message : String(err)}`)
      c.ws?.terminate()
      if (attempt >= MAX_ATTEMPTS) throw err
      await sleep(200)
    }
  }
}

/** One counted GET; a failed one is retried (and counted again). */
async function get<T> (c: Client, path: string): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    c.requests++
    let retryAfter = NaN
    try {
      const r = await http!.get(path, c.user.token)
      c.bytes += r.body.length
      if (r.status === 200) return JSON.parse(r.body) as T
      lastError = `GET ${path.split('?')[0]!}: ${r.status} ${r.body.slice(0, 200)}`
      retryAfter = r.retryAfter
    } catch (err) {
      lastError = `GET ${path.split('?')[0]!}: ${err instanceof Error ? err.message : String(err)}`
    }
    failures++
    if (attempt >= MAX_ATTEMPTS) throw new Error(lastError)
    // Backs off as a client would when the server answers 503 or 429 under the storm: after its Retry-After (with the
    // SDK's jitter) when it gives one.
    await sleep(retryAfter > 0 ? retryAfter * 1000 * (1 + Math.random() / 2) : Math.min(200 * attempt, 5_000))
  }
}

/** From here on the client holds this cursor: what moved before it was taken may still be after it, so both spans count as known. */
function adopt (c: Client, cursor: string): void {
  c.cursor = cursor
  c.older = c.recent
  c.recent = new Set()
}

interface SyncPage { changes: Array<{ conversationId: string, events?: Array<{ seq: number }> }>, cursor: string, hasMore: boolean }

/** A sync from the cursor the client holds, up to `until` (the ready frame's cursor: what came after it is pushed on the socket). */
async function catchUpBySync (c: Client, until: string | null): Promise<void> {
  const moved = new Set([...c.older, ...c.recent])
  const known = [...moved].slice(-150).map((id) => `${id}:${c.have.get(id)!}`).join(',')
  let cursor = c.cursor!
  for (let first = true; ; first = false) {
    const page = await get<SyncPage>(c, `/v1/sync?since=${cursor}${known === '' ? '' : `&known=${known}`}${first && until !== null ? `&until=${until}` : ''}`)
    for (const ch of page.changes) for (const e of ch.events ?? []) apply(c, { conversationId: ch.conversationId, seq: e.seq }, true)
    cursor = page.cursor
    if (!page.hasMore) break
  }
  adopt(c, cursor)
}

interface ListPage { conversations: Array<{ id: string, lastSeq: number }>, nextCursor: string | null }
interface EventPage { events: Array<{ seq: number }>, hasMore: boolean }

async function catchUpByList (c: Client): Promise<void> {
  const moved: string[] = []
  let cursor: string | null = null
  do {
    const page: ListPage = await get<ListPage>(c, `/v1/conversations?limit=${LIST_PAGE}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)
    for (const conv of page.conversations) if (conv.lastSeq > (c.have.get(conv.id) ?? conv.lastSeq)) moved.push(conv.id)
    cursor = page.nextCursor
  } while (cursor !== null)
  await Promise.all(moved.map(async (id) => {
    for (;;) {
      const page = await get<EventPage>(c, `/v1/conversations/${id}/events?after=${c.have.get(id)!}&limit=${EVENTS_PAGE}`)
      for (const e of page.events) apply(c, { conversationId: id, seq: e.seq }, true)
      if (!page.hasMore || page.events.length === 0) break
    }
  }))
}

function release (c: Client): void {
  const held = c.held ?? []
  c.held = undefined
  for (const e of held) apply(c, e, false)
}

/** Reconnects (or connects) one client and catches it up by `how`; resolves when it is caught up. */
async function reconnectOne (c: Client, how: Flow | 'first'): Promise<void> {
  c.requests = 0
  c.bytes = 0
  const t0 = performance.now()
  const readyCursor = await open(c)
  c.readyMs = performance.now() - t0
  if (how === 'sync') {
    await catchUpBySync(c, readyCursor)
  } else {
    // The ready frame's cursor was taken after the socket joined the fan-out; null only when the database did not answer.
    adopt(c, readyCursor ?? (await get<{ cursor: string }>(c, '/v1/sync')).cursor)
    if (how === 'list') await catchUpByList(c)
  }
  release(c)
}

function postLoop (rate: number): Promise<void> {
  return openLoop(rate, () => posting, (n) => {
    const conv = busy[n % busy.length]!
    const sender = users[conv.members[Math.floor(n / busy.length) % conv.members.length]!]!
    // An overloaded server answers slower than the rate: past this many unanswered posts, the post is skipped (and
    // counted) rather than queued here without bound, where it would land long after (in the idle measurement).
    if (inFlight >= MAX_IN_FLIGHT) {
      postsSkipped++
      return
    }
    inFlight++
    postHttp!.post(`/v1/conversations/${conv.id}/messages`, sender.token, { body: `sync storm ${n}`, clientMessageId: `y${n}` })
      .then((r) => { if (r.status === 201) posted++; else postFailures++ }, () => { postFailures++ })
      .finally(() => { inFlight-- })
  }, 5)
}

const max = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), 0)

serve({
  /** Creates the clients and connects them (at most 200 opening at a time); nothing is posted yet. */
  async connect (p: { url: string, users: SyncUser[], groups: Group[], busy: number[] }) {
    baseUrl = p.url
    users = p.users
    busy = p.busy.map((i) => p.groups[i]!)
    http = new HttpClient(p.url, Math.max(16, p.users.length))
    postHttp = new HttpClient(p.url, 16)
    clients = p.users.map((user) => ({
      user, ws: undefined, have: new Map(), held: undefined, cursor: null, recent: new Set(), older: new Set(), requests: 0, bytes: 0, readyMs: 0, onReady: undefined
    }))
    // Seeded groups start at seq 0.
    for (const g of p.groups) for (const m of g.members) clients[m]!.have.set(g.id, 0)
    const t0 = performance.now()
    await inParallel(clients, 200, (c) => reconnectOne(c, 'first'))
    return { ms: performance.now() - t0, conversationsPerClient: max(clients.map((c) => c.have.size)) }
  },

  startPosting (p: { rate: number }) {
    posting = true
    poster = postLoop(p.rate)
  },

  /** Stops posting and waits until every post sent is answered, so that nothing lands after (in the idle measurement). */
  async stopPosting () {
    posting = false
    await poster
    const deadline = performance.now() + 60_000
    while (inFlight > 0 && performance.now() < deadline) await sleep(20)
    return { posted, postFailures, inFlight, postsSkipped }
  },

  /**
   * Waits until posting keeps up with its rate again (the last storm may have left posts unanswered): at most
   * 10 unanswered, and posts answered at 80% of the rate or more, for two seconds in a row; resolves with the
   * time waited. Every storm then starts under the same load.
   */
  async steady (p: { rate: number, timeoutMs: number }) {
    const t0 = performance.now()
    let calm = 0
    while (calm < 2 && performance.now() - t0 < p.timeoutMs) {
      const before = posted + postFailures
      await sleep(1_000)
      calm = inFlight <= 10 && posted + postFailures - before >= 0.8 * p.rate ? calm + 1 : 0
    }
    return performance.now() - t0
  },

  /**
   * Every client loses its connections at the same moment (sockets cut, no close handshake): its socket, and the
   * keep-alive connections its requests went over, as a phone that changed networks has none left. (Kept, the
   * storms after the first found up to a connection per client still open from the storm before, and paid no
   * connection set-up: the first storm was the only one that did.)
   */
  drop (p?: { clients?: number }) {
    for (const c of clients.slice(0, p?.clients ?? clients.length)) {
      const ws = c.ws
      c.ws = undefined
      ws?.terminate()
    }
    http!.cut()
  },

  /**
   * Every client (the first `clients` of them) reconnects at once and catches up by `flow`: how long until each
   * (and all) caught up, and its requests.
   */
  async reconnect (p: { flow: Flow, clients?: number }) {
    flow = p.flow
    const t0 = performance.now()
    const postedBefore = posted
    presenceFrames.online = presenceFrames.offline = 0
    socketFailures.clear()
    const storm = clients.slice(0, p.clients ?? clients.length)
    const times = await Promise.all(storm.map(async (c) => {
      await reconnectOne(c, p.flow)
      return performance.now() - t0
    }))
    const requests = storm.map((c) => c.requests)
    const allMs = max(times)
    return {
      allMs,
      /** Posts answered 201 per second from the reconnect until the last client caught up: the load the storm met. */
      postsPerSec: (posted - postedBefore) * 1000 / allMs,
      perClientMs: summarize(times),
      requests: summarize(requests),
      bytesPerClient: summarize(storm.map((c) => c.bytes)),
      readyMs: summarize(storm.map((c) => c.readyMs)),
      presenceOnline: presenceFrames.online,
      presenceOffline: presenceFrames.offline,
      // The most frequent reasons sockets failed during the storm (from its start until all caught up).
      socketFailures: [...socketFailures.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([reason, n]) => `${n} × ${reason}`)
    }
  },

  /**
   * Catch-ups with nothing to catch up (posting stopped, every client caught up), one at a time, client after
   * client, for `durationMs`: a sync from the client's cursor, or the list flow (every page of its conversations).
   */
  async idle (p: { flow: Flow, durationMs: number }) {
    flow = p.flow
    const samples: number[] = []
    let requests = 0
    const deadline = performance.now() + p.durationMs
    for (let i = 0; performance.now() < deadline || samples.length === 0; i++) {
      const c = clients[i % clients.length]!
      c.requests = 0
      c.held = []
      const t = performance.now()
      if (p.flow === 'sync') await catchUpBySync(c, null)
      else await catchUpByList(c)
      samples.push(performance.now() - t)
      requests += c.requests
      release(c)
    }
    return { latencyMs: summarize(samples), count: samples.length, requests }
  },

  /** Brings every client's cursor up to now (a sync each, 16 at a time), so that the idle syncs find nothing. */
  async freshCursors () {
    flow = 'sync'
    await inParallel(clients, 16, async (c) => {
      c.held = []
      await catchUpBySync(c, null)
      release(c)
    })
  },

  /** Waits until every client has every conversation up to `lastSeqs`, then counts what is missing. */
  async verify (p: { lastSeqs: Record<string, number>, timeoutMs: number }) {
    const behind = () => clients.filter((c) => [...c.have].some(([id, seq]) => seq < (p.lastSeqs[id] ?? 0))).length
    const deadline = performance.now() + p.timeoutMs
    while (behind() > 0 && performance.now() < deadline) await sleep(50)
    let expected = 0
    let missing = 0
    for (const c of clients) {
      for (const [id, seq] of c.have) {
        expected += p.lastSeqs[id] ?? 0
        missing += Math.max(0, (p.lastSeqs[id] ?? 0) - seq)
      }
    }
    return { clientsBehind: behind(), expected, missing, byFlow, failures, lastError, posted, postFailures, postsSkipped }
  },

  close () {
    closing = true
    for (const c of clients) c.ws?.terminate()
    http?.close()
    postHttp?.close()
  }
})

