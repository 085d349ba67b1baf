// One client socket: sending with the slow-consumer rule, heartbeat state,
// and the per-connection budgets (frame rate, typing rate, abuse strikes).
import type { WebSocket } from 'ws'
import { CloseCode, type ServerFrame } from './protocol.js'

export interface ConnectionLimits {
  maxBacklogBytes: number
  /** Client frames of any type per second (twice that as a burst): WS_FRAMES_PER_SECOND. */
  framesPerSecond: number
  typingPerSecond: number
  /** How long a peer has to complete the close handshake before it is cut. */
  closeGraceMs: number
}

const STRIKE_LIMIT = 20
/** Frames are JSON text, also when handed over already encoded (a Buffer shared by many sockets). */
const TEXT = { binary: false }
const STRIKE_WINDOW_MS = 60_000

/** The byte stream under a WebSocket (its TCP socket), for coalescing writes. */
export interface Corkable { cork (): void, uncork (): void }

export class Connection {
  alive = true
  private closing = false
  private corked = false
  /** Unsent bytes when this turn's cork began: the backlog a slow reader left. */
  private backlogAtCork = 0
  // Allocated on first use: most sockets never send a typing frame or a bad
  // one, and every byte here is multiplied by the idle connections held.
  private strikes: number[] | undefined
  private frameTokens: number
  private framesRefilledAt = Date.now()
  private typingTokens: number
  private typingRefilledAt = Date.now()
  /** Frames sent before the ready frame (holdUntilReady), and their bytes: they follow it. */
  private early: Array<string | Buffer> | undefined
  private earlyBytes = 0
  /** Sends the ready frame at once (without its cursor), for a close that comes before it; dropped once it is sent. */
  private readyNow: (() => void) | undefined

  constructor (
    readonly socket: WebSocket,
    readonly id: string,
    readonly userId: string,
    readonly sessionId: string,
    private readonly limits: ConnectionLimits,
    private readonly stream?: Corkable
  ) {
    this.frameTokens = limits.framesPerSecond * 2
    this.typingTokens = limits.typingPerSecond * 2
  }

  get open (): boolean {
    return !this.closing && this.socket.readyState === this.socket.OPEN
  }

  /**
   * Queues a frame. A peer whose unsent backlog passes the bound is closed
   * with 4008 instead: the client reconnects and replays, and this process
   * does not buffer without limit for one slow reader.
   */
  send (data: string | Buffer): void {
    if (!this.open) return
    if (this.early !== undefined) return this.hold(data)
    // While corked, the frames of this turn sit in the buffer too; they say
    // nothing about the reader, so the bound applies to what was left before.
    const backlog = this.corked ? this.backlogAtCork : this.socket.bufferedAmount
    if (backlog > this.limits.maxBacklogBytes) {
      this.close(CloseCode.slowConsumer, 'slow consumer: replay from your last seq')
      return
    }
    this.socket.send(data, TEXT)
  }

  /**
   * Until ready(): frames sent to this socket wait, so that the ready frame is its first. A close before it
   * (a broker that overflowed, a revoked session, a shutdown) calls `readyNow` first, which sends it as it can.
   */
  holdUntilReady (readyNow: () => void): void {
    this.early ??= []
    this.readyNow = readyNow
  }

  /** Sends the ready frame, then the frames held until it (or, when they overflowed, closes with 4008 after it). Once. */
  ready (frame: ServerFrame): void {
    if (this.early === undefined) return
    const early = this.early
    const overflowed = this.earlyBytes > this.limits.maxBacklogBytes
    this.early = undefined
    this.earlyBytes = 0
    this.readyNow = undefined
    this.sendJson(frame)
    if (overflowed) return this.close(CloseCode.slowConsumer, 'slow consumer: replay from your last seq')
    for (const data of early) this.send(data)
  }

  private hold (data: string | Buffer): void {
    // The same bound as a backlog: a socket waiting for its ready frame does not buffer without limit either. Past
    // it the frames are dropped, and the socket closes with 4008 right after its ready frame (the client replays).
    if (this.earlyBytes > this.limits.maxBacklogBytes) return
    this.earlyBytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length
    if (this.earlyBytes > this.limits.maxBacklogBytes) this.early!.length = 0
    else this.early!.push(data)
  }

  /**
   * Holds this socket's writes until uncork(), so that the frames it gets in
   * one turn of the event loop leave in one write (one system call, the main
   * cost of a push) instead of one each. False when already held.
   */
  cork (): boolean {
    if (this.corked || this.stream === undefined) return false
    this.backlogAtCork = this.socket.bufferedAmount
    this.stream.cork()
    this.corked = true
    return true
  }

  uncork (): void {
    if (!this.corked) return
    this.corked = false
    this.stream!.uncork()
  }

  sendJson (frame: ServerFrame): void {
    this.send(JSON.stringify(frame))
  }

  close (code: number, reason: string): void {
    if (this.closing) return
    if (this.early !== undefined) {
      this.readyNow?.()
      // Frames held past the bound close the socket (4008) right after its ready frame.
      if (this.closing) return
    }
    this.closing = true
    this.socket.close(code, reason)
    // A peer that does not read will not read the close frame either.
    setTimeout(() => this.socket.terminate(), this.limits.closeGraceMs).unref()
  }

  /** Records a rejected frame; true when the peer has misbehaved too often. */
  strike (): boolean {
    const now = Date.now()
    this.strikes = (this.strikes ?? []).filter((t) => now - t < STRIKE_WINDOW_MS)
    this.strikes.push(now)
    return this.strikes.length > STRIKE_LIMIT
  }

  /**
   * Token bucket for every client frame, whatever its type or validity: a
   * burst of two seconds' worth, then the rate. Each frame costs a parse and
   * an answer (a pong, an error, a database call), so none is free.
   */
  takeFrameToken (): boolean {
    const now = Date.now()
    const cap = this.limits.framesPerSecond * 2
    this.frameTokens = Math.min(cap, this.frameTokens + ((now - this.framesRefilledAt) / 1000) * this.limits.framesPerSecond)
    this.framesRefilledAt = now
    if (this.frameTokens < 1) return false
    this.frameTokens -= 1
    return true
  }

  /** Token bucket for typing frames: a burst of two seconds' worth, then the rate. */
  takeTypingToken (): boolean {
    const now = Date.now()
    const cap = this.limits.typingPerSecond * 2
    this.typingTokens = Math.min(cap, this.typingTokens + ((now - this.typingRefilledAt) / 1000) * this.limits.typingPerSecond)
    this.typingRefilledAt = now
    if (this.typingTokens < 1) return false
    this.typingTokens -= 1
    return true
  }
}
