// Delivery positions: how far each member's devices have acknowledged
// receiving a conversation. One transaction on the pool per (coalesced) ack:
// the move and who is told of it, under the member list's lock (receipts.ts).
import type { Database } from './db.js'
import { advanceReceipt, type Receipt } from './receipts.js'

const DELIVERY_MOVE = {
  name: 'delivery-advance',
  update: `UPDATE memberships m SET last_delivered_seq = LEAST($3::int, c.last_seq)
             FROM conversations c
            WHERE c.id = m.conversation_id AND m.conversation_id = $1::uuid AND m.user_id = $2::uuid AND m.left_at IS NULL
              AND GREATEST(m.last_delivered_seq, m.last_read_seq) < LEAST($3::int, c.last_seq)
           RETURNING m.last_delivered_seq AS seq`,
  excludeSelf: true
}

export function createDeliveryRepository ({ pool }: Database) {
  return {
    /**
     * Moves the delivery position forward to `seq` (at most lastSeq), when that
     * is past both the stored position and the read position (reading implies
     * delivery). The new position and the other members to tell (but those the
     * user has blocked), or null when it did not move or the user is not a
     * current member.
     */
    advance: (conversationId: string, userId: string, seq: number): Promise<Receipt | null> => advanceReceipt(pool, DELIVERY_MOVE, conversationId, userId, seq)
  }
}
