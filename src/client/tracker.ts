// Exactly once, in order: per conversation, the highest seq handed to the app
// (its position), and the pushed events that cannot be applied yet. Pure
// logic, no I/O: the realtime connection feeds it pushes, sync pages and REST
// replays and does the replaying it asks for (README "Reconnect and replay").

export interface Sequenced { conversationId: string, seq: number }

/** What became of a pushed event. `replay`: the caller must replay that conversation. */
export type PushOutcome = 'applied' | 'duplicate' | 'held' | 'replay'

/** Pushes kept per conversation while it replays; past this they are dropped and the replay runs again. */
const MAX_HELD = 5_000

interface Lane<E> {
  position: number | undefined
  held: Map<number, E>
  replaying: boolean
  overflowed: boolean
}

export class SeqTracker<E extends Sequenced> {
  private readonly lanes = new Map<string, Lane<E>>()
  /** Forgotten conversations' last positions: a re-add starts there, not at 0 (the log before it was delivered). */
  private readonly gone = new Map<string, number>()
  private holdingAll = false

  constructor (private readonly apply: (event: E) => void, private readonly maxHeld = MAX_HELD) {}

  private lane (conversationId: string): Lane<E> {
    let lane = this.lanes.get(conversationId)
    if (lane === undefined) {
      this.lanes.set(conversationId, lane = { position: this.gone.get(conversationId), held: new Map(), replaying: false, overflowed: false })
      this.gone.delete(conversationId)
    }
    return lane
  }

  position (conversationId: string): number | undefined {
    return this.lanes.get(conversationId)?.position
  }

  /** The highest seq known of a conversation: its position, or a push held beyond it. */
  known (conversationId: string): number {
    const lane = this.lanes.get(conversationId)
    if (lane === undefined) return 0
    let max = lane.position ?? 0
    for (const seq of lane.held.keys()) if (seq > max) max = seq
    return max
  }

  positions (): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [id, lane] of this.lanes) if (lane.position !== undefined) out[id] = lane.position
    return out
  }

  /** Sets where a conversation starts (events up to `seq` count as seen). */
  setPosition (conversationId: string, seq: number): void {
    this.lane(conversationId).position = seq
  }

  /** Forgets a conversation (the user left it); a later re-add resumes after its last position. */
  forget (conversationId: string): void {
    const position = this.lanes.get(conversationId)?.position
    if (position !== undefined) this.gone.set(conversationId, position)
    this.lanes.delete(conversationId)
  }

  /** True while the conversation is tracked (not forgotten). */
  has (conversationId: string): boolean {
    return this.lanes.has(conversationId)
  }

  /** Drops held events up to `seq` (a removal: the gap before it cannot be filled). */
  dropHeldThrough (conversationId: string, seq: number): void {
    const lane = this.lanes.get(conversationId)
    if (lane !== undefined) for (const held of [...lane.held.keys()]) if (held <= seq) lane.held.delete(held)
  }

  conversations (): string[] {
    return [...this.lanes.keys()]
  }

  isReplaying (conversationId: string): boolean {
    return this.lanes.get(conversationId)?.replaying ?? false
  }

  /** A pushed event. */
  push (event: E): PushOutcome {
    const lane = this.lane(event.conversationId)
    if (lane.position !== undefined && event.seq <= lane.position) return 'duplicate'
    if (this.holdingAll || lane.replaying) {
      this.hold(lane, event)
      return 'held'
    }
    if (lane.position !== undefined && event.seq === lane.position + 1) {
      this.advance(lane, event)
      return this.drain(lane) ? 'replay' : 'applied'
    }
    // A gap, or a conversation never seen: replay fills in first.
    this.hold(lane, event)
    return 'replay'
  }

  /** Holds every push (while the conversation list is compared after a reconnect). */
  holdAll (): void {
    this.holdingAll = true
  }

  /** Ends holdAll: applies what can be, returns the conversations that need a replay. */
  releaseAll (): string[] {
    this.holdingAll = false
    const needReplay: string[] = []
    for (const [id, lane] of this.lanes) {
      if (!lane.replaying && (lane.held.size > 0 || lane.overflowed) && (lane.overflowed || this.drain(lane))) needReplay.push(id)
    }
    return needReplay
  }

  /** Marks a conversation as replaying; pushes for it are held. Returns the seq to replay after. */
  beginReplay (conversationId: string): number {
    const lane = this.lane(conversationId)
    lane.replaying = true
    lane.overflowed = false
    return lane.position ?? 0
  }

  /**
   * An event from REST replay. The log is complete and ascending for what the
   * user may see, so anything newer than the position is applied, even past
   * a jump (events from before the user re-joined are not theirs to see).
   */
  replayed (event: E): boolean {
    const lane = this.lane(event.conversationId)
    if (lane.position !== undefined && event.seq <= lane.position) return false
    this.advance(lane, event)
    return true
  }

  /**
   * An event from GET /v1/sync (a range of the log after the sync cursor).
   * Applied when it follows the position, or when the conversation has none
   * (new here: the range starts where the user's window does); a duplicate
   * drops out; past a gap it is held like a push, and releaseAll (or
   * endReplay) then asks for the replay that fills the gap.
   */
  synced (event: E): 'applied' | 'duplicate' | 'held' {
    const lane = this.lane(event.conversationId)
    if (lane.position !== undefined && event.seq <= lane.position) return 'duplicate'
    if (lane.replaying || (lane.position !== undefined && event.seq !== lane.position + 1)) {
      this.hold(lane, event)
      return 'held'
    }
    this.advance(lane, event)
    return 'applied'
  }

  /** The replay reached the end of the log: applies held pushes. True when it must run again. */
  endReplay (conversationId: string): boolean {
    const lane = this.lane(conversationId)
    lane.replaying = false
    if (lane.overflowed) return true
    return this.drain(lane)
  }

  /** The replay failed: pushes stay held until the next attempt. */
  abortReplay (conversationId: string): void {
    const lane = this.lanes.get(conversationId)
    if (lane !== undefined) lane.replaying = false
  }

  private advance (lane: Lane<E>, event: E): void {
    lane.position = event.seq
    lane.held.delete(event.seq)
    this.apply(event)
  }

  private hold (lane: Lane<E>, event: E): void {
    if (lane.overflowed) return
    if (lane.held.size >= this.maxHeld) {
      // The log has them all: drop the pushes and replay them instead.
      lane.held.clear()
      lane.overflowed = true
      return
    }
    lane.held.set(event.seq, event)
  }

  /** Applies held events that follow on; true when a gap (or an unknown start) remains. */
  private drain (lane: Lane<E>): boolean {
    if (lane.held.size === 0) return false
    for (const seq of [...lane.held.keys()].sort((a, b) => a - b)) {
      if (lane.position !== undefined && seq <= lane.position) {
        lane.held.delete(seq)
        continue
      }
      if (lane.position === undefined || seq !== lane.position + 1) return true
      this.advance(lane, lane.held.get(seq)!)
    }
    return false
  }
}
