// Threads as a client keeps them from the event log (README "Threads and
// custom message data"): every reply is a message.created with threadRootId,
// so a client that applies the events it receives (live or replayed) knows
// each thread's replies and its summary, by the rule the server keeps: the
// live (not deleted) replies, the newest one's time, the first 5 distinct
// senders in order of first reply. The summary in event data is a snapshot
// of its moment; this one follows every reply.
import type { ChatEvent, Message, ThreadSummary } from './types.js'

export class ThreadTracker {
  /** Every message seen, by id (the latest version). */
  private readonly messages = new Map<string, Message>()
  /** Reply ids by root, in seq order. */
  private readonly byRoot = new Map<string, string[]>()

  /** Applies one event (in seq order per conversation, as the SDK delivers them). */
  apply (event: ChatEvent): void {
    if (event.type !== 'message.created' && event.type !== 'message.updated' && event.type !== 'message.deleted') return
    const m = event.data
    const known = this.messages.has(m.id)
    this.messages.set(m.id, m)
    if (known || m.threadRootId === null) return
    const list = this.byRoot.get(m.threadRootId) ?? []
    list.push(m.id)
    this.byRoot.set(m.threadRootId, list)
  }

  /** The replies of a thread seen so far, tombstones included, in seq order. */
  replies (rootId: string): Message[] {
    return (this.byRoot.get(rootId) ?? []).map((id) => this.messages.get(id)!)
  }

  /** The summary of a thread from its live replies; null when it has none. */
  summary (rootId: string): ThreadSummary | null {
    const live = this.replies(rootId).filter((m) => m.deletedAt === null)
    const last = live.at(-1)
    if (last === undefined) return null
    return { replyCount: live.length, lastReplyAt: last.createdAt, participants: [...new Set(live.map((m) => m.senderId))].slice(0, 5) }
  }

  /** A message as last seen, with its thread summary kept from the replies. */
  message (id: string): Message | undefined {
    const m = this.messages.get(id)
    return m === undefined ? undefined : { ...m, thread: m.threadRootId === null ? this.summary(m.id) : null }
  }

  /** Roots with replies seen. */
  roots (): string[] {
    return [...this.byRoot.keys()]
  }
}
