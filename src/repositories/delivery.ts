// Delivery positions: how far each member's devices have acknowledged
// receiving a conversation. One statement on the pool per (coalesced) ack.
import type { Database } from './db.js'

export function createDeliveryRepository ({ pool }: Database) {
  return {
    /**
     * Moves the delivery position forward to `seq` (at most lastSeq), when that
     * is past both the stored position and the read position (reading implies
     * delivery). The new position, or null when it did not move or the user is
     * not a current member.
     */
    async advance (conversationId: string, userId: string, seq: number): Promise<number | null> {
      const { rows } = await pool.query<{ last_delivered_seq: number }>({
        name: 'delivery-advance',
        text: `UPDATE memberships m SET last_delivered_seq = LEAST($3::int, c.last_seq)
                 FROM conversations c
                WHERE c.id = m.conversation_id AND m.conversation_id = $1::uuid AND m.user_id = $2::uuid AND m.left_at IS NULL
                  AND GREATEST(m.last_delivered_seq, m.last_read_seq) < LEAST($3::int, c.last_seq)
               RETURNING m.last_delivered_seq`,
        values: [conversationId, userId, seq]
      })
      return rows[0]?.last_delivered_seq ?? null
    }
  }
}
