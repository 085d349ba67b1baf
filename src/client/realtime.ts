// The push channel, kept alive: reconnects with backoff and jitter, and after
// every (re)connect catches up, so the app sees each event exactly once, in
// order. With a sync cursor that is GET /v1/sync from it (a few requests
// whatever the number of conversations); without one (the first connect of a
// fresh client, or `sync: false`), GET /v1/conversations compared with the
// local lastSeqs and a replay per conversation that moved.
import { backoffDelay, type BackoffOptions } from './backoff.js'
import { Emitter } from './emitter.js'
import { ApiError } from './errors.js'
import type { Api } from './api.js'
import { SeqTracker } from './tracker.js'
import type { Transport } from './transport.js'
import type { ChatEvent, DeliveredFrame, ErrorFrame, InvitationFrame, PresenceFrame, ReadFrame, ReadyFrame, ThreadReadFrame, TypingFrame, SyncChange, UnreadTotals, UserUpdatedFrame } from './types.js'
import { DeliveryAcks } from './acks.js'
import { Replayer } from './replayer.js'
import type { ConnectionState, RealtimeEvents, RealtimeOptions, SyncedInfo, WebSocketConstructor, WebSocketLike } from './realtime-types.js'

export type { ConnectionState, RealtimeEvents, RealtimeOptions, SyncedInfo, WebSocketConstructor, WebSocketLike } from './realtime-types.js'

const OPEN = 1
const TYPING_INTERVAL_MS = 2_000
/**
 * Most `known` pairs sent with a sync (the API's limit: 150, about 7 KB of
 * the request line); above, none are sent and the server sends those events
 * again (they drop out as duplicates).
 */
const MAX_KNOWN = 150
/** While live, a sync re-bases the cursor once this many conversations got events since it, so `known` stays small. */
const REBASE_AT = 100
const REBASE_DELAY_MS = 1_000
const MAX_SYNC_PAGES = 10_000
/** Tries of one sync page answered 503 or 429 (each after its Retry-After) before the socket is dropped and reconnects. */
const SYNC_PAGE_ATTEMPTS = 5

type SyncOutcome = 'done' | 'failed' | 'fallback'

export class RealtimeConnection extends Emitter<RealtimeEvents> {
  private tracker: SeqTracker<ChatEvent>
  private readonly WS: WebSocketConstructor
  private ws: WebSocketLike | null = null
  private stateNow: ConnectionState = 'idle'
  private stopped = true
  /** Moves on every connect() and close(): an open() begun before them (awaiting a token) opens nothing. */
  private generation = 0
  private failures = 0
  private firstSync = true
  private checkAuth = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  private lastFrameAt = 0
  private readonly typingSentAt = new Map<string, number>()
  /** The sync cursor: every change after it was delivered, or is pushed on the socket, or comes with the next sync. */
  private cursorNow: string | undefined
  /** Conversations that got events since the cursor: their positions go out as `known`. */
  private touched = new Set<string>()
  /** The sync running (a catch-up or a re-base), so two never overlap. */
  private syncRun: Promise<void> | undefined
  private rebaseTimer: ReturnType<typeof setTimeout> | undefined
  /** While a sync page's own events are applied: they are older than the next cursor, so not `known` material. */
  private applyingSync = false
  /** Moves on reset(): a catch-up begun for the previous user applies nothing after it. */
  private epoch = 0
  private readonly acks = new DeliveryAcks((conversationId, seq) => this.sendFrame({ type: 'delivered', conversationId, seq }))
  private readonly replayer: Replayer

  constructor (private readonly transport: Transport, private readonly api: Api, private readonly options: RealtimeOptions = {}) {
    super()
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (WS === undefined) throw new Error('No WebSocket available: pass options.WebSocket (e.g. the `ws` package)')
    this.WS = WS
    this.replayer = new Replayer(api, {
      tracker: () => this.tracker,
      failed: (err) => {
        this.emit('error', err)
        // A full resync on a fresh connection retries everything.
        this.drop(4000, 'resync')
      }
    }, options.replayPageSize)
    this.tracker = new SeqTracker<ChatEvent>((event) => this.applied(event))
    const positions = Object.entries(options.positions ?? {})
    for (const [id, seq] of positions) this.tracker.setPosition(id, seq)
    if (this.syncEnabled && positions.length > 0) this.cursorNow = options.cursor
  }

  get state (): ConnectionState {
    return this.stateNow
  }

  /** conversationId -> last seq delivered to the app; save it to resume after a restart. */
  positions (): Record<string, number> {
    return this.tracker.positions()
  }

  /**
   * The sync cursor (undefined before the first catch-up, or with `sync:
   * false`). Save it with positions(), both at the same moment, and pass both
   * back (`cursor`, `positions` options) to resume through GET /v1/sync.
   */
  get cursor (): string | undefined {
    return this.cursorNow
  }

  private get syncEnabled (): boolean {
    return this.options.sync !== false
  }

  /**
   * Forgets all positions and the cursor (another user logged in, or the session ended): the socket, the old
   * user's, is dropped and opened again with the new session (none: the connection ends `unauthenticated`).
   */
  reset (): void {
    this.tracker = new SeqTracker<ChatEvent>((event) => this.applied(event))
    this.firstSync = true
    this.epoch++
    this.cursorNow = undefined
    this.touched = new Set()
    clearTimeout(this.rebaseTimer)
    this.rebaseTimer = undefined
    this.acks.stop()
    if (this.stopped) return
    this.failures = 0
    if (this.ws !== null) return this.drop(4000, 'session changed')
    // Between sockets: an open() awaiting the old session's token opens nothing; this one takes the new session.
    this.generation++
    clearTimeout(this.timer)
    void this.open()
  }

  /** Starts (or restarts) the connection; it stays up until close(). */
  connect (): void {
    if (!this.stopped) return
    this.stopped = false
    this.failures = 0
    this.generation++
    void this.open()
  }

  /** Closes for good (until connect()). */
  close (): void {
    this.stopped = true
    this.generation++
    this.acks.stop()
    clearTimeout(this.timer)
    clearTimeout(this.rebaseTimer)
    this.rebaseTimer = undefined
    this.drop(1000, 'client closed')
    this.setState('closed')
  }

  /** Tells the other members you are typing; throttled to one frame per 2 s per conversation. */
  typing (conversationId: string): boolean {
    const now = Date.now()
    if (now - (this.typingSentAt.get(conversationId) ?? 0) < TYPING_INTERVAL_MS) return false
    if (!this.sendFrame({ type: 'typing', conversationId })) return false
    this.typingSentAt.set(conversationId, now)
    return true
  }

  /**
   * Acknowledges that this device received a conversation up to `seq`;
   * sending one per message is fine: they are coalesced (acks.ts), the
   * highest seq per conversation a few times a second. False when not
   * connected: acknowledge again after the next sync, or use
   * conversations.delivered over REST.
   */
  delivered (conversationId: string, seq: number): boolean {
    if (this.ws === null || this.ws.readyState !== OPEN) return false
    this.acks.add(conversationId, seq)
    return true
  }

  private sendFrame (frame: object): boolean {
    const ws = this.ws
    if (ws === null || ws.readyState !== OPEN) return false
    ws.send(JSON.stringify(frame))
    return true
  }

  private setState (state: ConnectionState): void {
    if (this.stateNow === state) return
    this.stateNow = state
    this.emit('state', state)
  }

  private async open (): Promise<void> {
    if (this.stopped) return
    const generation = this.generation
    this.setState(this.failures === 0 ? 'connecting' : 'reconnecting')
    let token: string
    try {
      // After a refused upgrade (browsers cannot see its 401), an
      // authenticated call refreshes the token or proves the session gone.
      if (this.checkAuth) await this.api.users.me()
      token = await this.transport.accessToken()
      this.checkAuth = false
    } catch (err) {
      if (generation !== this.generation) return
      if (err instanceof ApiError && err.status === 401) return this.unauthenticated()
      this.emit('error', err)
      return this.retry()
    }
    if (this.stopped || generation !== this.generation || this.ws !== null) return
    const url = `${this.transport.baseUrl.replace(/^http/, 'ws')}/v1/ws?access_token=${encodeURIComponent(token)}`
    const ws = new this.WS(url) as WebSocketLike
    this.ws = ws
    let opened = false
    ws.onopen = () => {
      opened = true
      // Replaced meanwhile (close(), a reset): nobody listens to this one.
      if (this.ws !== ws) ws.close(1000, 'client closed')
    }
    ws.onmessage = (ev) => { if (this.ws === ws) this.onFrame(ev.data) }
    ws.onerror = () => {}
    ws.onclose = (ev) => { if (this.ws === ws) this.onClose(ev.code, opened) }
  }

  private onFrame (data: unknown): void {
    this.lastFrameAt = Date.now()
    let frame: { type?: unknown, [key: string]: unknown }
    try {
      frame = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer)) as typeof frame
    } catch (err) {
      this.emit('error', err)
      return
    }
    switch (frame.type) {
      case 'ready': return this.onReady(frame as unknown as ReadyFrame)
      case 'pong': return
      case 'presence': return this.emit('presence', (frame as unknown as PresenceFrame).data)
      case 'typing': return this.emit('typing', frame as unknown as TypingFrame)
      case 'read': return this.emit('read', frame as unknown as ReadFrame)
      case 'thread.read': return this.emit('threadRead', frame as unknown as ThreadReadFrame)
      case 'delivered': return this.emit('delivered', frame as unknown as DeliveredFrame)
      case 'user.updated': return this.emit('userUpdated', (frame as unknown as UserUpdatedFrame).data)
      case 'invitation': return this.emit('invitation', (frame as unknown as InvitationFrame).data)
      case 'error': return this.emit('error', frame as unknown as ErrorFrame)
    }
    if (typeof frame.conversationId !== 'string' || typeof frame.seq !== 'number') return
    const event = frame as unknown as ChatEvent
    if (this.tracker.push(event) === 'replay') this.replayer.replay(event.conversationId)
  }

  private onReady (frame: ReadyFrame): void {
    this.emit('ready', frame)
    this.startHeartbeat(frame.heartbeatMs)
    this.setState('syncing')
    void this.catchUp(frame.cursor)
  }

  /** A tracker delivered an event to the app. */
  private applied (event: ChatEvent): void {
    if (this.syncEnabled && !this.applyingSync) {
      this.touched.add(event.conversationId)
      if (this.touched.size > REBASE_AT && this.rebaseTimer === undefined && this.cursorNow !== undefined) {
        this.rebaseTimer = setTimeout(() => {
          this.rebaseTimer = undefined
          void this.rebase()
        }, REBASE_DELAY_MS)
      }
    }
    this.emit('event', event)
  }

  /** After `ready`: through the cursor when there is one, else the per-conversation flow; then live. */
  private async catchUp (readyCursor: string | null): Promise<void> {
    const ws = this.ws
    // A re-base still paging stops after its current page (its socket is gone).
    if (this.syncRun !== undefined) await this.syncRun
    if (this.ws !== ws || this.stopped) return
    let via: SyncedInfo['via'] = 'conversations'
    let done: boolean
    if (this.syncEnabled && this.cursorNow !== undefined) {
      via = 'sync'
      const outcome = await this.exclusive(() => this.syncFromCursor(ws, true))
      if (outcome === 'fallback') via = 'conversations'
      done = outcome === 'fallback' ? await this.listAndReplay(ws, readyCursor) : outcome === 'done'
    } else {
      done = await this.listAndReplay(ws, readyCursor)
    }
    if (this.ws !== ws || this.stopped) return
    if (done) {
      this.failures = 0
      this.setState('live')
      this.emit('synced', { via })
    }
  }

  /** Runs one sync at a time (a catch-up waits for a re-base to stop). */
  private exclusive<T> (run: () => Promise<T>): Promise<T> {
    const result = run()
    const tracked = result.then(() => undefined, () => undefined)
    this.syncRun = tracked
    void tracked.then(() => { if (this.syncRun === tracked) this.syncRun = undefined })
    return result
  }

  /**
   * GET /v1/sync from the cursor, every page, each change's events through
   * the tracker (duplicates drop out; past a gap they wait for a replay),
   * then `conversation` / `left` per change and `unread`; the cursor moves
   * once all of it is applied. `reconnect`: pushes are held until the end,
   * as in the per-conversation flow. `fallback`: the server refused the
   * cursor (400) or has no sync (404), which is then forgotten.
   */
  private async syncFromCursor (ws: WebSocketLike | null, reconnect: boolean): Promise<SyncOutcome> {
    const first = this.firstSync
    const epoch = this.epoch
    const current = () => this.ws === ws && !this.stopped && this.epoch === epoch
    const before = this.touched
    this.touched = new Set()
    const known = this.knownParam(before)
    const limit = this.options.syncPageSize ?? 200
    let cursor = this.cursorNow!
    let unread: UnreadTotals | null = null
    const gapped = new Set<string>()
    /** Conversations reported left -> the seq of their removal; applied once the sync is adopted (a cut sync is sent again). */
    const lefts = new Map<string, number>()
    // A left change without events (those up to `known` are not sent again) ended at or before the position here now.
    const startedAt = this.tracker.positions()
    let adopted = false
    if (reconnect) this.tracker.holdAll()
    try {
      for (let page = 0; ; page++) {
        if (page >= MAX_SYNC_PAGES) throw new Error('sync did not end')
        const res = await syncPage(this.api, { since: cursor, limit, ...(known === undefined ? {} : { known }) }, current, this.options.backoff)
        if (res === undefined || !current()) return 'failed'
        this.applyingSync = true
        try {
          for (const change of res.changes) this.applyChange(change, first, gapped, lefts, startedAt)
        } finally {
          this.applyingSync = false
        }
        if (res.unread !== null) unread = res.unread
        cursor = res.cursor
        if (!res.hasMore) break
      }
      this.firstSync = false
      if (unread !== null) this.emit('unread', unread)
      this.keepReadded(lefts, gapped)
      const replays = new Set([...gapped, ...(reconnect ? this.tracker.releaseAll() : [])])
      const done = await Promise.all([...replays].map((id) => this.replayer.replay(id)))
      if (!current() || !done.every(Boolean)) return 'failed'
      adopted = true
      this.adoptCursor(cursor)
      this.settleLefts(lefts)
      return 'done'
    } catch (err) {
      if (err instanceof ApiError && (err.status === 400 || err.status === 404)) {
        this.cursorNow = undefined
        return 'fallback'
      }
      this.emit('error', err)
      if (reconnect && this.ws === ws) this.drop(4000, 'resync')
      return 'failed'
    } finally {
      if (!adopted && this.epoch === epoch) {
        for (const id of before) this.touched.add(id)
        if (reconnect) this.tracker.releaseAll()
      }
    }
  }

  /** One change of a sync page. */
  private applyChange (change: SyncChange, first: boolean, gapped: Set<string>, lefts: Map<string, number>, startedAt: Record<string, number>): void {
    const id = change.conversationId
    if (first && this.tracker.position(id) === undefined && !this.tracker.isReplaying(id)) {
      // No saved position at the first connect: it starts at its current lastSeq, as in the per-conversation flow.
      if (change.conversation !== null) this.tracker.setPosition(id, change.conversation.lastSeq)
    } else {
      for (const event of change.events ?? []) if (this.tracker.synced(event) === 'held') gapped.add(id)
    }
    if (change.eventsContinue === true) return
    if (change.membership === 'left') {
      // The log is no longer readable: a gap before the removal (its events end the change) cannot be filled.
      lefts.set(id, change.events?.at(-1)?.seq ?? startedAt[id] ?? 0)
      gapped.delete(id)
    } else if (change.conversation !== null) {
      this.emit('conversation', change.conversation)
    }
  }

  /**
   * Conversations a sync reports left but that were re-added since (its snapshot came before the re-add): events
   * past the removal are already applied, or held (then replayed). Those stay; held events up to the removal go.
   */
  private keepReadded (lefts: Map<string, number>, gapped: Set<string>): void {
    for (const [id, removal] of lefts) {
      this.tracker.dropHeldThrough(id, removal)
      const position = this.tracker.position(id) ?? 0
      if (this.tracker.known(id) <= removal) continue
      lefts.delete(id)
      if (this.tracker.known(id) > position) gapped.add(id)
    }
  }

  /** After the cursor moved past them: forgets the conversations left for good and tells the app, once. */
  private settleLefts (lefts: Map<string, number>): void {
    for (const [id, removal] of lefts) {
      // Re-added while the replays ran: its pushes came after the removal.
      if (this.tracker.known(id) > removal || this.tracker.isReplaying(id)) continue
      this.tracker.forget(id)
      this.emit('left', id)
    }
  }

  /** `known` for a sync: the positions of the conversations that got events since the cursor, or none past MAX_KNOWN. */
  private knownParam (ids: Set<string>): string | undefined {
    const pairs: string[] = []
    for (const id of ids) {
      const position = this.tracker.position(id)
      if (position !== undefined && position > 0) pairs.push(`${id}:${position}`)
    }
    return pairs.length === 0 || pairs.length > MAX_KNOWN ? undefined : pairs.join(',')
  }

  private adoptCursor (cursor: string): void {
    if (cursor === this.cursorNow) return
    this.cursorNow = cursor
    this.emit('cursor', cursor)
  }

  /** While live: a sync that moves the cursor past the events already here, so the next `known` is small. */
  private async rebase (): Promise<void> {
    const ws = this.ws
    if (this.stateNow !== 'live' || this.syncRun !== undefined || ws === null || this.cursorNow === undefined || this.touched.size <= REBASE_AT) return
    await this.exclusive(() => this.syncFromCursor(ws, false))
  }

  /** Steps 3-4 of the README recipe: compare lastSeqs, replay what moved, then apply the held pushes. */
  private async listAndReplay (ws: WebSocketLike | null, readyCursor: string | null): Promise<boolean> {
    // Everything delivered from here on is after the ready frame's cursor.
    if (this.syncEnabled) this.touched = new Set()
    const epoch = this.epoch
    this.tracker.holdAll()
    let list
    try {
      list = await this.api.conversations.listAll()
    } catch (err) {
      this.tracker.releaseAll()
      this.emit('error', err)
      if (this.ws === ws) this.drop(4000, 'resync')
      return false
    }
    const listed = new Set<string>()
    const moved: string[] = []
    for (const c of list) {
      listed.add(c.id)
      const local = this.tracker.position(c.id)
      if (local === undefined && this.firstSync) this.tracker.setPosition(c.id, c.lastSeq)
      else if (local === undefined || c.lastSeq > local) moved.push(c.id)
    }
    // Not listed: left while away, or moved up the list (it is paged by last activity) while it was paged.
    const unlisted = this.tracker.conversations().filter((id) => !listed.has(id) && !this.tracker.isReplaying(id) && this.tracker.position(id) !== undefined)
    for (const id of await this.movedOrLeft(unlisted)) moved.push(id)
    if (this.epoch !== epoch) return false
    this.firstSync = false
    for (const id of moved) this.tracker.beginReplay(id)
    const gaps = this.tracker.releaseAll()
    const done = await Promise.all([...moved, ...gaps].map((id) => this.replayer.replay(id, true)))
    if (this.ws !== ws || this.stopped || this.epoch !== epoch || !done.every(Boolean)) return false
    // A replay answered 404: left, the log is no longer readable.
    for (const id of moved) if (!this.tracker.has(id)) this.emit('left', id)
    if (this.syncEnabled && readyCursor !== null) this.adoptCursor(readyCursor)
    return true
  }

  /**
   * Conversations missing from the paged list: one with pushes held since the listing began moved up it; the
   * others are asked for, and only a 404 means left. Returns those to replay; forgets the left and says so.
   */
  private async movedOrLeft (unlisted: string[]): Promise<string[]> {
    const moved: string[] = []
    await Promise.all(unlisted.map(async (id) => {
      const local = this.tracker.position(id) ?? 0
      if (this.tracker.known(id) > local) return moved.push(id)
      const tracker = this.tracker
      try {
        const c = await this.api.conversations.get(id)
        if (c.lastSeq > local) moved.push(id)
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) return moved.push(id)
        if (this.tracker !== tracker || tracker.known(id) > local) return moved.push(id)
        tracker.forget(id)
        this.emit('left', id)
      }
    }))
    return moved
  }

  private startHeartbeat (heartbeatMs: number): void {
    clearInterval(this.heartbeat)
    this.lastFrameAt = Date.now()
    this.heartbeat = setInterval(() => {
      // Nothing heard for two intervals: the link is dead even if no close came.
      if (Date.now() - this.lastFrameAt > 2 * heartbeatMs) this.drop(4000, 'heartbeat timeout')
      else this.sendFrame({ type: 'ping' })
    }, heartbeatMs)
  }

  /** Closes the current socket and handles it as a lost connection. */
  private drop (code: number, reason: string): void {
    const ws = this.ws
    if (ws === null) return
    try {
      ws.close(code, reason)
    } catch {
      // already closing
    }
    this.onClose(1006, true)
  }

  private onClose (code: number, opened: boolean): void {
    this.ws = null
    clearInterval(this.heartbeat)
    if (this.stopped) return
    // 4001: the token expired or the session ended; a refresh tells which.
    if (!opened || code === 4001) this.checkAuth = true
    this.retry()
  }

  private retry (): void {
    if (this.stopped) return
    this.setState('reconnecting')
    const delay = backoffDelay(this.failures++, this.options.backoff)
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { void this.open() }, delay)
  }

  private unauthenticated (): void {
    this.stopped = true
    this.drop(1000, 'unauthenticated')
    this.setState('closed')
    this.emit('unauthenticated')
  }
}

/**
 * One page of a sync. A server in a reconnect storm answers 503 (its queue of syncs is full) or 429 with a
 * Retry-After: the page is asked again after it (jittered), on the same socket, up to SYNC_PAGE_ATTEMPTS times;
 * undefined when the socket changed meanwhile.
 */
async function syncPage (api: Api, query: Parameters<Api['sync']>[0], current: () => boolean, backoff?: Partial<BackoffOptions>): Promise<Awaited<ReturnType<Api['sync']>> | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.sync(query)
    } catch (err) {
      const passing = err instanceof ApiError && (err.status === 503 || err.status === 429)
      if (!passing || attempt >= SYNC_PAGE_ATTEMPTS) throw err
      const waitMs = err.retryAfter !== undefined ? err.retryAfter * 1000 * (1 + Math.random() / 2) : backoffDelay(attempt - 1, backoff)
      await new Promise((resolve) => setTimeout(resolve, waitMs))
      if (!current()) return undefined
    }
  }
}
