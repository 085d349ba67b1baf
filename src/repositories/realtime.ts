// The few reads the push channel needs, as plain SQL on the shared pool:
// they run per typing frame or presence change, so they skip the ORM.
import type pg from 'pg'
import type { ChatEvent } from '../realtime/events.js'

export function createRealtimeRepository (pool: pg.Pool) {
  return {
    async memberIds (conversationId: string): Promise<string[]> {
      const { rows } = await pool.query<{ user_id: string }>(
        'SELECT user_id FROM memberships WHERE conversation_id = $1 AND left_at IS NULL', [conversationId])
      return rows.map((r) => r.user_id)
    },
    /** Everyone who shares at least one conversation with the user. */
    async contactIds (userId: string): Promise<string[]> {
      const { rows } = await pool.query<{ user_id: string }>(
        `SELECT DISTINCT other.user_id
           FROM memberships mine
           JOIN memberships other ON other.conversation_id = mine.conversation_id
          WHERE mine.user_id = $1 AND mine.left_at IS NULL AND other.left_at IS NULL AND other.user_id <> $1`,
        [userId])
      return rows.map((r) => r.user_id)
    },
    async eventsBetween (conversationId: string, afterSeq: number, beforeSeq: number): Promise<ChatEvent[]> {
      const { rows } = await pool.query<{ seq: number, type: ChatEvent['type'], data: unknown, created_at: Date }>(
        `SELECT seq, type, data, created_at FROM events
          WHERE conversation_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq`,
        [conversationId, afterSeq, beforeSeq])
      return rows.map((r) => ({ conversationId, seq: r.seq, type: r.type, createdAt: r.created_at.toISOString(), data: r.data }))
    },
    async setLastSeen (userId: string, at: Date): Promise<void> {
      await pool.query('UPDATE users SET last_seen_at = $2 WHERE id = $1', [userId, at])
    },
    async lastSeen (userId: string): Promise<Date | null> {
      const { rows } = await pool.query<{ last_seen_at: Date | null }>('SELECT last_seen_at FROM users WHERE id = $1', [userId])
      return rows[0]?.last_seen_at ?? null
    }
  }
}

export type RealtimeRepository = ReturnType<typeof createRealtimeRepository>
