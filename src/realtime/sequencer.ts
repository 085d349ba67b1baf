// Keeps each conversation's events in seq order on their way to the sockets.
// Commits are ordered by the database, but their notifications can overtake
// each other (two pool connections, two processes, a broker). An event that
// arrives ahead of a missing one waits briefly; if the gap does not fill, the
// missing events are read from the event log, so delivery stays in order.
// Every event goes to its own recipients: those published with it, or for an
// event read from the log, those the log's membership windows give for its
// seq. Never those of another event: a neighbour's recipients may include a
// user who was not a member when the missing event was committed.
//
// With a sharded broker a process receives, per conversation, one stream per
// user shard it subscribes to (each event once per shard that holds some of
// its recipients, carrying those recipients only). Each (conversation, shard)
// stream is put in order on its own: the same seq arrives once per shard, and
// each part must reach its own users. A gap in one is read from the log as
// above, keeping only the recipients of that shard (the others get the event
// on their own shard's stream). See node.ts for why such a gap is still read.
import { LRUCache } from 'lru-cache'
import type { EncodedEvent } from './events.js'

export interface Pending { event: EncodedEvent, userIds: string[] }
interface State { last: number, pending: Map<number, Pending>, conversationId: string, shard: number | undefined, timer?: NodeJS.Timeout | undefined, filling?: boolean }

export type Deliver = (event: EncodedEvent, userIds: string[]) => void
/** The events strictly between two seqs, ascending, each with its recipients. */
export type LoadGap = (conversationId: string, afterSeq: number, beforeSeq: number, shard: number | undefined) => Promise<Pending[]>

export class EventSequencer {
  private readonly states = new LRUCache<string, State>({
    max: 200_000,
    ttl: 30 * 60_000,
    dispose: (state) => { if (state.timer !== undefined) clearTimeout(state.timer) }
  })

  constructor (
    private readonly deliver: Deliver,
    private readonly loadGap: LoadGap,
    private readonly holdMs = 200,
    private readonly onError: (err: unknown) => void = () => {}
  ) {}

  /** `shard`: the stream these events came on, for a sharded broker (one order per conversation and shard). */
  accept (conversationId: string, events: EncodedEvent[], userIds: string[], shard?: number): void {
    if (events.length === 0) return
    const key = shard === undefined ? conversationId : `${shard}/${conversationId}`
    let state = this.states.get(key)
    if (state === undefined) {
      state = { last: events[0]!.seq - 1, pending: new Map(), conversationId, shard }
      this.states.set(key, state)
    }
    for (const event of events) {
      if (event.seq > state.last) state.pending.set(event.seq, { event, userIds })
    }
    this.flush(state)
  }

  /** Forgets every conversation's position (after messages were lost): the next event of each starts afresh. */
  reset (): void {
    this.states.clear()
  }

  /**
   * Forgets the positions of one shard's streams: this process no longer
   * receives it, and when it subscribes again the first event of each starts
   * afresh (rather than as a gap since the last one seen, read for nothing).
   */
  forgetShard (shard: number): void {
    const prefix = `${shard}/`
    for (const key of [...this.states.keys()]) if (key.startsWith(prefix)) this.states.delete(key)
  }

  private flush (state: State): void {
    let next = state.pending.get(state.last + 1)
    while (next !== undefined) {
      state.pending.delete(state.last + 1)
      state.last++
      this.deliver(next.event, next.userIds)
      next = state.pending.get(state.last + 1)
    }
    if (state.pending.size === 0) {
      if (state.timer !== undefined) clearTimeout(state.timer)
      state.timer = undefined
    } else if (state.timer === undefined && state.filling !== true) {
      // One read of a stream's gap at a time: the one in flight flushes when it ends.
      state.timer = setTimeout(() => { void this.fillGap(state) }, this.holdMs)
      state.timer.unref()
    }
  }

  private async fillGap (state: State): Promise<void> {
    state.timer = undefined
    if (state.pending.size === 0) return
    const first = Math.min(...state.pending.keys())
    state.filling = true
    try {
      const missing = await this.loadGap(state.conversationId, state.last, first, state.shard)
      for (const { event, userIds } of missing) {
        if (event.seq === state.last + 1) {
          state.last++
          this.deliver(event, userIds)
        }
      }
    } catch (err) {
      this.onError(err)
    } finally {
      state.filling = false
    }
    // Whatever could not be loaded is skipped; clients see the gap and replay.
    if (state.last < first - 1) state.last = first - 1
    // An event can arrive while its gap is read (a late publish): the log's
    // copy was delivered, so this one is dropped. Left pending, it would be
    // taken for the start of a gap that never fills, and hold back every later
    // event of the stream. (Only here does the position jump past pending ones.)
    for (const seq of state.pending.keys()) if (seq <= state.last) state.pending.delete(seq)
    this.flush(state)
  }
}
