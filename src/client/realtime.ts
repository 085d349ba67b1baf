// The push channel, kept alive: reconnects with backoff and jitter, and after
// every (re)connect catches up (catch-up.ts), so the app sees each event
// exactly once, in order. With a sync cursor that is GET /v1/sync from it (a
// few requests whatever the number of conversations); without one (the first
// connect of a fresh client, or `sync: false`), GET /v1/conversations compared
// with the local lastSeqs and a replay per conversation that moved.
import { backoffDelay } from './backoff.js'
import { Emitter } from './emitter.js'
import { ApiError } from './errors.js'
import type { Api } from './api.js'
import { SeqTracker } from './tracker.js'
import type { Transport } from './transport.js'
import type { ChatEvent, DeliveredFrame, ErrorFrame, InvitationFrame, InvitationWithdrawnFrame, PresenceFrame, ReadFrame, ReadyFrame, ThreadReadFrame, TypingFrame, UserUpdatedFrame } from './types.js'
import { DeliveryAcks } from './acks.js'
import { Replayer } from './replayer.js'
import { CatchUp } from './catch-up.js'
import type { ConnectionState, RealtimeEvents, RealtimeOptions, WebSocketConstructor, WebSocketLike } from './realtime-types.js'

export type { ConnectionState, RealtimeEvents, RealtimeOptions, SyncedInfo, WebSocketConstructor, WebSocketLike } from './realtime-types.js'

const OPEN = 1
const TYPING_INTERVAL_MS = 2_000
export class RealtimeConnection extends Emitter<RealtimeEvents> {
  private tracker: SeqTracker<ChatEvent>
  private readonly WS: WebSocketConstructor
  private ws: WebSocketLike | null = null
  private stateNow: ConnectionState = 'idle'
  private stopped = true
  /** Moves on every connect() and close(): an open() begun before them (awaiting a token) opens nothing. */
  private generation = 0
  private failures = 0
  private checkAuth = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  private lastFrameAt = 0
  private readonly typingSentAt = new Map<string, number>()
  private readonly acks = new DeliveryAcks((conversationId, seq) => this.sendFrame({ type: 'delivered', conversationId, seq }))
  private readonly replayer: Replayer
  private readonly catchUp: CatchUp

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
    this.catchUp = new CatchUp(api, this.replayer, {
      tracker: () => this.tracker,
      socket: () => this.ws,
      stopped: () => this.stopped,
      live: () => this.stateNow === 'live',
      emit: (event, ...args) => this.emit(event, ...args),
      drop: (code, reason) => this.drop(code, reason),
      synced: (via) => {
        this.failures = 0
        this.setState('live')
        this.emit('synced', { via })
      }
    }, options, positions.length > 0 ? options.cursor : undefined)
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
    return this.catchUp.cursor
  }

  /**
   * Forgets all positions and the cursor (another user logged in, or the session ended): the socket, the old
   * user's, is dropped and opened again with the new session (none: the connection ends `unauthenticated`).
   */
  reset (): void {
    this.tracker = new SeqTracker<ChatEvent>((event) => this.applied(event))
    this.catchUp.reset()
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
    this.catchUp.stopRebase()
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
      case 'invitation.withdrawn': return this.emit('invitationWithdrawn', (frame as unknown as InvitationWithdrawnFrame).data)
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
    void this.catchUp.run(frame.cursor)
  }

  /** A tracker delivered an event to the app. */
  private applied (event: ChatEvent): void {
    this.catchUp.applied(event)
    this.emit('event', event)
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

