// Replays of single conversations over GET /v1/conversations/:id/events, from
// the position the tracker holds: one loop per conversation at a time, each
// until the tracker has nothing held past a gap (realtime.ts and catch-up.ts start them).
import type { Api } from './api.js'
import { ApiError } from './errors.js'
import type { SeqTracker } from './tracker.js'
import type { ChatEvent } from './types.js'

const MAX_REPLAY_ROUNDS = 10

export interface ReplayerHost {
  /** The tracker now (a reset replaces it). */
  tracker (): SeqTracker<ChatEvent>
  /** A replay failed: report it and resync on a fresh connection. */
  failed (err: unknown): void
}

export class Replayer {
  private readonly running = new Map<string, { tracker: SeqTracker<ChatEvent>, done: Promise<boolean> }>()

  constructor (private readonly api: Api, private readonly host: ReplayerHost, private readonly pageSize = 100) {}

  /**
   * Replays one conversation from its position; true once caught up (or forgotten: no longer readable).
   * A replay already running for the same tracker is joined, then run again from where it ended (events may have
   * come after its last page); one failed answers false; one for a tracker from before a reset is not joined.
   */
  replay (conversationId: string, begun = false): Promise<boolean> {
    const tracker = this.host.tracker()
    const running = this.running.get(conversationId)
    if (running !== undefined && running.tracker === tracker) return running.done.then((ok) => ok && this.replay(conversationId))
    if (!begun) tracker.beginReplay(conversationId)
    const entry = { tracker, done: Promise.resolve(false) }
    entry.done = this.run(conversationId, tracker).finally(() => {
      if (this.running.get(conversationId) === entry) this.running.delete(conversationId)
    })
    this.running.set(conversationId, entry)
    return entry.done
  }

  private async run (conversationId: string, tracker: SeqTracker<ChatEvent>): Promise<boolean> {
    try {
      for (let round = 0; round < MAX_REPLAY_ROUNDS; round++) {
        for (;;) {
          const after = tracker.position(conversationId) ?? 0
          // minSeq: a server reading from a replica answers from one that has what was pushed already.
          const known = tracker.known(conversationId)
          const page = await this.api.messages.events(conversationId, { after, limit: this.pageSize, ...(known > after ? { minSeq: known } : {}) })
          for (const e of page.events) tracker.replayed(e as ChatEvent)
          if (!page.hasMore || page.events.length === 0) break
        }
        if (!tracker.endReplay(conversationId)) return true
        tracker.beginReplay(conversationId)
      }
      throw new Error(`replay of ${conversationId} did not catch up`)
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        tracker.forget(conversationId)
        return true
      }
      tracker.abortReplay(conversationId)
      // A replay for the user before a reset resyncs nothing of the new one's.
      if (this.host.tracker() === tracker) this.host.failed(err)
      return false
    }
  }
}
