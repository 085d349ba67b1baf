// Delivery acknowledgements, coalesced on the client: an app may acknowledge
// every message it shows (or every event of a long replay) and the socket
// carries only the highest seq per conversation, a few times a second, within
// the server's frame budget (WS_FRAMES_PER_SECOND, 50 a second by default).
// The server coalesces too; this keeps a burst from spending the budget that
// typing and heartbeats share, which past it closes the socket (1008).

/** How long acks gather before they are sent. */
export const ACK_DELAY_MS = 200
/** Frames per send: with ACK_DELAY_MS, at most 20 acks a second leave. */
export const ACKS_PER_SEND = 4

export class DeliveryAcks {
  private readonly pending = new Map<string, number>()
  /** The highest seq sent per conversation: a lower or equal ack sends nothing. */
  private readonly sent = new Map<string, number>()
  private timer: ReturnType<typeof setTimeout> | undefined

  /** `send` writes one frame; false when the socket is not open (what was pending is dropped: the app acknowledges again after its next sync). */
  constructor (private readonly send: (conversationId: string, seq: number) => boolean) {}

  add (conversationId: string, seq: number): void {
    if (seq <= Math.max(this.pending.get(conversationId) ?? 0, this.sent.get(conversationId) ?? 0)) return
    this.pending.set(conversationId, seq)
    this.timer ??= setTimeout(() => this.flush(), ACK_DELAY_MS)
  }

  private flush (): void {
    this.timer = undefined
    let n = 0
    for (const [conversationId, seq] of this.pending) {
      if (n++ === ACKS_PER_SEND) {
        this.timer = setTimeout(() => this.flush(), ACK_DELAY_MS)
        return
      }
      this.pending.delete(conversationId)
      if (!this.send(conversationId, seq)) {
        this.pending.clear()
        return
      }
      this.sent.set(conversationId, seq)
    }
  }

  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.pending.clear()
  }
}
