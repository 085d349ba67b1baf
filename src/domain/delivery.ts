// Delivery receipts: a member's devices acknowledge receiving a conversation
// up to a seq (WebSocket frame or REST). Each membership keeps a monotonic
// lastDeliveredSeq (never down, at most lastSeq, shown as at least
// lastReadSeq), and the other members get a `delivered` frame: ephemeral, not
// in the event log, to the current members but those the acknowledging user
// has blocked, as read receipts go (read in the transaction of the move).
// Acks of one member in one conversation are coalesced: the first is stored
// and announced at once, later ones within DELIVERY_COALESCE_MS wait and go
// as one, with the highest seq, so a client that acknowledges every message
// costs one write and one frame per window.
import type { DeliveryPublisher } from './events.js'
import { createRepositories, type Database } from '../repositories/index.js'
import { createDeliveryRepository } from '../repositories/delivery.js'
import { notFound } from './errors.js'

export interface DeliveryDeps extends Database {
  publisher: DeliveryPublisher
  coalesceMs: number
}

interface Waiter { resolve: () => void, reject: (err: unknown) => void }
/** A (conversation, member) within its window: the acks that came since its last write, if any. */
interface Slot { next: { seq: number, waiters: Waiter[] } | undefined, timer: NodeJS.Timeout | undefined }

export function createDeliveryService (deps: DeliveryDeps) {
  const repos = createRepositories(deps)
  const delivery = createDeliveryRepository(deps)
  const slots = new Map<string, Slot>()
  let closed = false

  /** Stores one position and announces it; NOT_FOUND for a non-member. */
  async function write (userId: string, conversationId: string, seq: number): Promise<void> {
    // Who is told is read with the move, under the member list's lock (repositories/receipts.ts): a member removed
    // meanwhile is either not told, or told before their member.removed is published.
    const moved = await delivery.advance(conversationId, userId, seq)
    if (moved === null) {
      if ((await repos.conversations.findMember(conversationId, userId)) === null) throw notFound('Conversation')
      return
    }
    if (moved.recipients.length > 0) deps.publisher.publishDelivered({ conversationId, userId, seq: moved.seq }, moved.recipients)
  }

  function settle (waiters: Waiter[], err: unknown) {
    for (const w of waiters) if (err === undefined) w.resolve(); else w.reject(err)
  }

  /** Runs a write, then holds the slot for the window; what arrived meanwhile is written when it ends. */
  function run (key: string, userId: string, conversationId: string, seq: number, waiters: Waiter[]) {
    const slot: Slot = slots.get(key) ?? { next: undefined, timer: undefined }
    slots.set(key, slot)
    write(userId, conversationId, seq).then(() => settle(waiters, undefined), (err: unknown) => settle(waiters, err)).finally(() => {
      if (closed) return
      slot.timer = setTimeout(() => {
        slot.timer = undefined
        const next = slot.next
        slot.next = undefined
        if (next === undefined) {
          slots.delete(key)
          return
        }
        run(key, userId, conversationId, next.seq, next.waiters)
      }, deps.coalesceMs)
      slot.timer.unref()
    })
  }

  return {
    /**
     * Acknowledges receipt up to `seq`; resolves once the position that covers
     * it is stored (rejects with NOT_FOUND for a non-member).
     */
    delivered (userId: string, conversationId: string, seq: number): Promise<void> {
      const key = `${conversationId}:${userId}`
      return new Promise<void>((resolve, reject) => {
        const slot = slots.get(key)
        if (slot === undefined) return run(key, userId, conversationId, seq, [{ resolve, reject }])
        slot.next ??= { seq, waiters: [] }
        slot.next.seq = Math.max(slot.next.seq, seq)
        slot.next.waiters.push({ resolve, reject })
      })
    },

    /** Stops the windows (shutdown): acks still waiting are written now. */
    async close (): Promise<void> {
      closed = true
      const pending = [...slots].map(([key, slot]) => {
        clearTimeout(slot.timer)
        const next = slot.next
        if (next === undefined) return undefined
        const [conversationId, userId] = key.split(':') as [string, string]
        return write(userId, conversationId, next.seq).then(() => settle(next.waiters, undefined), (err: unknown) => settle(next.waiters, err))
      })
      slots.clear()
      await Promise.all(pending)
    }
  }
}

export type DeliveryService = ReturnType<typeof createDeliveryService>
