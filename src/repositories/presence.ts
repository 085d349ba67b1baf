// Presence shared by all server processes, in PostgreSQL (see the
// PresenceEntry and PresenceCount models). A user is online while they have
// at least one entry. Every statement that adds or removes entries also moves
// the user's count in the same statement, and the count row's lock orders
// those statements per user, so exactly one of them sees the count reach 1
// (online) or 0 (offline), whichever process runs it. When presence changes,
// the users' last-seen times are recorded here too. All of it on the pool
// (see db.ts): these run for every socket opened or closed.
import type { Database } from './db.js'

// Any constant: the sweep's transaction-scoped advisory lock, so that two
// processes sweeping at once do not lock the same entries in different orders.
const SWEEP_LOCK = 0x5357_4250

export function createPresenceRepository ({ pool }: Database) {
  return {
    /** Adds this process's entry for the user; true when that made them online. */
    async connect (processId: string, userId: string, ttlMs: number): Promise<boolean> {
      const { rows } = await pool.query<{ processes: number }>(
        `WITH e AS (
           INSERT INTO presence_entries (user_id, process_id, expires_at)
           VALUES ($1, $2, now() + $3 * interval '1 millisecond')
           ON CONFLICT (user_id, process_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
           RETURNING (xmax = 0) AS inserted
         )
         INSERT INTO presence_counts AS c (user_id, processes)
         SELECT $1, 1 FROM e WHERE e.inserted
         ON CONFLICT (user_id) DO UPDATE SET processes = c.processes + 1
         RETURNING c.processes`,
        [userId, processId, ttlMs])
      return rows[0]?.processes === 1
    },

    /** Removes this process's entry for the user; true when that made them offline. */
    async disconnect (processId: string, userId: string): Promise<boolean> {
      const { rows } = await pool.query<{ processes: number }>(
        `WITH e AS (DELETE FROM presence_entries WHERE user_id = $1 AND process_id = $2 RETURNING user_id)
         UPDATE presence_counts c SET processes = c.processes - 1 FROM e
          WHERE c.user_id = e.user_id
         RETURNING c.processes`,
        [userId, processId])
      return rows[0]?.processes === 0
    },

    /**
     * Pushes the expiry of this process's entries for these users forward;
     * returns the users whose entry was found (the others were swept while
     * this process was stalled, and must connect again).
     */
    async refresh (processId: string, userIds: string[], ttlMs: number): Promise<Set<string>> {
      if (userIds.length === 0) return new Set()
      const { rows } = await pool.query<{ user_id: string }>(
        `UPDATE presence_entries SET expires_at = now() + $3 * interval '1 millisecond'
          WHERE process_id = $1 AND user_id = ANY($2::uuid[])
         RETURNING user_id`,
        [processId, userIds, ttlMs])
      return new Set(rows.map((r) => r.user_id))
    },

    /** Shortens this process's entries to `ms` from now (graceful shutdown: other processes sweep them). */
    async expireProcess (processId: string, ms: number): Promise<void> {
      await pool.query(
        `UPDATE presence_entries SET expires_at = LEAST(expires_at, now() + $2 * interval '1 millisecond')
          WHERE process_id = $1`,
        [processId, ms])
    },

    /** Deletes expired entries (of processes that died); returns the users that this made offline. */
    async sweep (): Promise<string[]> {
      const { rows } = await pool.query<{ user_id: string, processes: number }>(
        `WITH e AS (
           DELETE FROM presence_entries
            WHERE expires_at < now() AND (SELECT pg_try_advisory_xact_lock(${SWEEP_LOCK}))
           RETURNING user_id
         ), n AS (SELECT user_id, count(*)::int AS k FROM e GROUP BY user_id)
         UPDATE presence_counts c SET processes = c.processes - n.k FROM n
          WHERE c.user_id = n.user_id
         RETURNING c.user_id, c.processes`)
      return rows.filter((r) => r.processes === 0).map((r) => r.user_id)
    },

    async online (userIds: string[]): Promise<Set<string>> {
      if (userIds.length === 0) return new Set()
      const { rows } = await pool.query<{ user_id: string }>(
        'SELECT user_id FROM presence_counts WHERE user_id = ANY($1::uuid[]) AND processes > 0', [userIds])
      return new Set(rows.map((r) => r.user_id))
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
      // Named (prepared): parsed and planned once per connection, not per batch.
      const { rows } = await pool.query<{ id: string, last_seen_at: Date | null, contacts: string }>({
        name: 'presence-changed',
        text: `WITH seen AS (
           UPDATE users u SET last_seen_at = v.at
             FROM unnest($2::uuid[], $3::timestamptz[]) AS v(id, at)
            WHERE u.id = v.id AND u.deleted_at IS NULL
         )
         SELECT u.id, u.last_seen_at,
                array_to_string(ARRAY(SELECT DISTINCT other.user_id
                        FROM memberships mine
                        JOIN memberships other ON other.conversation_id = mine.conversation_id
                       WHERE mine.user_id = u.id AND mine.left_at IS NULL AND other.left_at IS NULL
                         AND other.user_id <> u.id
                         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = u.id AND b.blocked_id = other.user_id)), ',') AS contacts
           FROM users u WHERE u.id = ANY($1::uuid[])`,
        values: [userIds, wentOffline.map((o) => o.userId), wentOffline.map((o) => o.at)]
      })
      const byId = new Map(rows.map((r) => [r.id, r]))
      return userIds.map((id) => {
        const row = byId.get(id)
        return { lastSeenAt: row?.last_seen_at ?? null, contacts: row === undefined || row.contacts === '' ? [] : row.contacts.split(',') }
      })
    }
  }
}

export type PresenceRepository = ReturnType<typeof createPresenceRepository>
