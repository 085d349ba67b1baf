// The few reads the push channel needs, as plain SQL on the shared pool:
// they run per typing frame or presence change, so they skip the ORM.
import type pg from 'pg'
import type { EventRow } from './events.js'

export function createRealtimeRepository (pool: pg.Pool) {
  return {
    async memberIds (conversationId: string, hiddenFrom?: string): Promise<string[]> {
      const { rows } = await pool.query<{ user_id: string }>(
        hiddenFrom === undefined
          ? 'SELECT user_id FROM memberships WHERE conversation_id = $1 AND left_at IS NULL'
          : `SELECT m.user_id FROM memberships m
              WHERE m.conversation_id = $1 AND m.left_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $2 AND b.blocked_id = m.user_id)`,
        hiddenFrom === undefined ? [conversationId] : [conversationId, hiddenFrom])
      return rows.map((r) => r.user_id)
    },
    /** Everyone who shares at least one conversation with the user (blocked users included). */
    async contactIds (userId: string): Promise<string[]> {
      const { rows } = await pool.query<{ user_id: string }>(
        `SELECT DISTINCT other.user_id
           FROM memberships mine
           JOIN memberships other ON other.conversation_id = mine.conversation_id
          WHERE mine.user_id = $1 AND mine.left_at IS NULL AND other.left_at IS NULL AND other.user_id <> $1`,
        [userId])
      return rows.map((r) => r.user_id)
    },
    /**
     * Events between two seqs, each with its own recipients: the users whose
     * membership window [joined_seq, left_seq] holds it (for the edit or
     * deletion of a message: holds the message), as replay decides.
     */
    async eventsBetween (conversationId: string, afterSeq: number, beforeSeq: number): Promise<Array<{ event: EventRow, userIds: string[] }>> {
      const { rows } = await pool.query<{ seq: number, type: string, data: unknown, created_at: Date, recipients: string[] }>(
        `SELECT e.seq, e.type, e.data, e.created_at,
                ARRAY(SELECT m.user_id FROM memberships m
                       WHERE m.conversation_id = e.conversation_id
                         AND m.joined_seq <= CASE WHEN e.type IN ('message.updated', 'message.deleted')
                                                  THEN (e.data->>'seq')::int ELSE e.seq END
                         AND (m.left_seq IS NULL OR m.left_seq >= e.seq)) AS recipients
           FROM events e
          WHERE e.conversation_id = $1 AND e.seq > $2 AND e.seq < $3 ORDER BY e.seq`,
        [conversationId, afterSeq, beforeSeq])
      return rows.map((r) => ({
        event: { conversationId, seq: r.seq, type: r.type, createdAt: r.created_at, data: r.data },
        userIds: r.recipients
      }))
    },
    /**
     * Of users whose presence changed: records when those who went offline
     * were last seen, and reads, per user, the last-seen time stored before
     * this statement and everyone who shares a conversation with them, but
     * for those they have blocked (who do not see their presence). One
     * statement for all the changes of a moment (a reconnect storm brings
     * thousands), in the order of `userIds`.
     */
    async presenceChanged (userIds: string[], wentOffline: Array<{ userId: string, at: Date }>): Promise<Array<{ lastSeenAt: Date | null, contacts: string[] }>> {
      // Reads the snapshot taken before the UPDATE runs (PostgreSQL's rule for data-modifying WITH).
      // Contacts come as one comma-separated string: pg parses a uuid[]
      // column character by character, which showed in the profile of a burst.
      const { rows } = await pool.query<{ id: string, last_seen_at: Date | null, contacts: string }>(
        `WITH seen AS (
           UPDATE users u SET last_seen_at = v.at
             FROM unnest($2::uuid[], $3::timestamptz[]) AS v(id, at)
            WHERE u.id = v.id
         )
         SELECT u.id, u.last_seen_at,
                array_to_string(ARRAY(SELECT DISTINCT other.user_id
                        FROM memberships mine
                        JOIN memberships other ON other.conversation_id = mine.conversation_id
                       WHERE mine.user_id = u.id AND mine.left_at IS NULL AND other.left_at IS NULL
                         AND other.user_id <> u.id
                         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = u.id AND b.blocked_id = other.user_id)), ',') AS contacts
           FROM users u WHERE u.id = ANY($1::uuid[])`,
        [userIds, wentOffline.map((o) => o.userId), wentOffline.map((o) => o.at)])
      const byId = new Map(rows.map((r) => [r.id, r]))
      return userIds.map((id) => {
        const row = byId.get(id)
        return { lastSeenAt: row?.last_seen_at ?? null, contacts: row === undefined || row.contacts === '' ? [] : row.contacts.split(',') }
      })
    }
  }
}

export type RealtimeRepository = ReturnType<typeof createRealtimeRepository>
