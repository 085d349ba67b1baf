// The push channel, kept alive: reconnects with backoff and jitter, and after
// every (re)connect compares each conversation's lastSeq with the local one
// and replays what moved, so the app sees each event exactly once, in order.
import { backoffDelay, type BackoffOptions } from './backoff.js'
import { Emitter } from './emitter.js'
import { ApiError } from './errors.js'
import type { Api } from './api.js'
import { SeqTracker } from './tracker.js'
import type { Transport } from './transport.js'
import type { ChatEvent, DeliveredFrame, ErrorFrame, InvitationFrame, PresenceFrame, ReadFrame, ReadyFrame, ThreadReadFrame, TypingFrame, UserUpdatedFrame } from './types.js'

/** What the SDK needs of a WebSocket: the browser's, React Native's and the `ws` package's all fit. */
export interface WebSocketLike {
  readonly readyState: number
  send (data: string): void
  close (code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number, reason: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
}
/** A WebSocket class, e.g. globalThis.WebSocket or `import WebSocket from 'ws'`. */
export type WebSocketConstructor = new (url: string) => object

export type ConnectionState = 'idle' | 'connecting' | 'syncing' | 'live' | 'reconnecting' | 'closed'

export interface RealtimeEvents {
  /** A conversation event, exactly once and in seq order per conversation. */
  event: [ChatEvent]
  presence: [PresenceFrame['data']]
  /** A contact changed their profile (display name). */
  userUpdated: [UserUpdatedFrame['data']]
  /** You were invited to a group (GROUP_ADDS=invite). */
  invitation: [InvitationFrame['data']]
  typing: [TypingFrame]
  read: [ReadFrame]
  /** You read a thread on one of your devices (this one too): your position and counts after it. */
  threadRead: [ThreadReadFrame]
  /** Another member's devices received a conversation up to a seq (two ticks). */
  delivered: [DeliveredFrame]
  ready: [ReadyFrame]
  /** Caught up after a (re)connect: every conversation replayed to its lastSeq. */
  synced: []
  state: [ConnectionState]
  /** Closed for good: the session is gone; log in again, then connect(). */
  unauthenticated: []
  /** Error frames (ErrorFrame) and failures the connection recovers from. */
  error: [unknown]
}

export interface RealtimeOptions {
  WebSocket?: WebSocketConstructor
  backoff?: Partial<BackoffOptions>
  /**
   * Saved positions (conversationId -> last seq the app has). Without one, a
   * conversation known at the first connect starts at its current lastSeq
   * (load its history over REST); one that appears later is replayed from its start.
   */
  positions?: Record<string, number>
  /** Events per replay request (1-100). */
  replayPageSize?: number
}

const OPEN = 1
const TYPING_INTERVAL_MS = 2_000
const MAX_REPLAY_ROUNDS = 10

export class RealtimeConnection extends Emitter<RealtimeEvents> {
  private tracker: SeqTracker<ChatEvent>
  private readonly WS: WebSocketConstructor
  private ws: WebSocketLike | null = null
  private stateNow: ConnectionState = 'idle'
  private stopped = true
  private failures = 0
  private firstSync = true
  private checkAuth = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  private lastFrameAt = 0
  private readonly replays = new Map<string, Promise<void>>()
  private readonly typingSentAt = new Map<string, number>()

  constructor (private readonly transport: Transport, private readonly api: Api, private readonly options: RealtimeOptions = {}) {
    super()
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (WS === undefined) throw new Error('No WebSocket available: pass options.WebSocket (e.g. the `ws` package)')
    this.WS = WS
    this.tracker = new SeqTracker<ChatEvent>((event) => this.emit('event', event))
    for (const [id, seq] of Object.entries(options.positions ?? {})) this.tracker.setPosition(id, seq)
  }

  get state (): ConnectionState {
    return this.stateNow
  }

  /** conversationId -> last seq delivered to the app; save it to resume after a restart. */
  positions (): Record<string, number> {
    return this.tracker.positions()
  }

  /** Forgets all positions (another user logged in): the next connect starts afresh. */
  reset (): void {
    this.tracker = new SeqTracker<ChatEvent>((event) => this.emit('event', event))
    this.firstSync = true
  }

  /** Starts (or restarts) the connection; it stays up until close(). */
  connect (): void {
    if (!this.stopped) return
    this.stopped = false
    this.failures = 0
    void this.open()
  }

  /** Closes for good (until connect()). */
  close (): void {
    this.stopped = true
    clearTimeout(this.timer)
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
   * Acknowledges that this device received a conversation up to `seq` (the
   * server coalesces acks; sending one per message is fine). False when not
   * connected: acknowledge again after the next sync, or use
   * conversations.delivered over REST.
   */
  delivered (conversationId: string, seq: number): boolean {
    return this.sendFrame({ type: 'delivered', conversationId, seq })
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
    this.setState(this.failures === 0 ? 'connecting' : 'reconnecting')
    let token: string
    try {
      // After a refused upgrade (browsers cannot see its 401), an
      // authenticated call refreshes the token or proves the session gone.
      if (this.checkAuth) await this.api.users.me()
      token = await this.transport.accessToken()
      this.checkAuth = false
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.unauthenticated()
      this.emit('error', err)
      return this.retry()
    }
    if (this.stopped) return
    const url = `${this.transport.baseUrl.replace(/^http/, 'ws')}/v1/ws?access_token=${encodeURIComponent(token)}`
    const ws = new this.WS(url) as WebSocketLike
    this.ws = ws
    let opened = false
    ws.onopen = () => { opened = true }
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
    if (this.tracker.push(event) === 'replay') this.replay(event.conversationId)
  }

  private onReady (frame: ReadyFrame): void {
    this.emit('ready', frame)
    this.startHeartbeat(frame.heartbeatMs)
    this.setState('syncing')
    void this.sync()
  }

  /** Steps 3-4 of the README recipe: compare lastSeqs, replay what moved, then apply the held pushes. */
  private async sync (): Promise<void> {
    const ws = this.ws
    this.tracker.holdAll()
    let list
    try {
      list = await this.api.conversations.listAll()
    } catch (err) {
      this.tracker.releaseAll()
      this.emit('error', err)
      if (this.ws === ws) this.drop(4000, 'resync')
      return
    }
    const listed = new Set<string>()
    const moved: string[] = []
    for (const c of list) {
      listed.add(c.id)
      const local = this.tracker.position(c.id)
      if (local === undefined && this.firstSync) this.tracker.setPosition(c.id, c.lastSeq)
      else if (local === undefined || c.lastSeq > local) moved.push(c.id)
    }
    // Left while away: the log is no longer readable, nothing more will come.
    for (const id of this.tracker.conversations()) {
      if (!listed.has(id) && !this.tracker.isReplaying(id) && this.tracker.position(id) !== undefined) this.tracker.forget(id)
    }
    this.firstSync = false
    for (const id of moved) this.tracker.beginReplay(id)
    const gaps = this.tracker.releaseAll()
    const done = await Promise.all([...moved, ...gaps].map((id) => this.replay(id, true)))
    if (this.ws !== ws || this.stopped) return
    if (done.every(Boolean)) {
      this.failures = 0
      this.setState('live')
      this.emit('synced')
    }
  }

  /** Replays one conversation from its position; one loop per conversation at a time. */
  private replay (conversationId: string, begun = false): Promise<boolean> {
    const running = this.replays.get(conversationId)
    if (running !== undefined) return running.then(() => true)
    if (!begun) this.tracker.beginReplay(conversationId)
    const run = this.runReplay(conversationId).finally(() => this.replays.delete(conversationId))
    this.replays.set(conversationId, run.then(() => undefined))
    return run
  }

  private async runReplay (conversationId: string): Promise<boolean> {
    const limit = this.options.replayPageSize ?? 100
    try {
      for (let round = 0; round < MAX_REPLAY_ROUNDS; round++) {
        for (;;) {
          const after = this.tracker.position(conversationId) ?? 0
          // minSeq: a server reading from a replica answers from one that has what was pushed already.
          const known = this.tracker.known(conversationId)
          const page = await this.api.messages.events(conversationId, { after, limit, ...(known > after ? { minSeq: known } : {}) })
          for (const e of page.events) this.tracker.replayed(e as ChatEvent)
          if (!page.hasMore || page.events.length === 0) break
        }
        if (!this.tracker.endReplay(conversationId)) return true
        this.tracker.beginReplay(conversationId)
      }
      throw new Error(`replay of ${conversationId} did not catch up`)
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        this.tracker.forget(conversationId)
        return true
      }
      this.tracker.abortReplay(conversationId)
      this.emit('error', err)
      // A full resync on a fresh connection retries everything.
      this.drop(4000, 'resync')
      return false
    }
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
