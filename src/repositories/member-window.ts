// A page of a conversation's log (messages or events) as one member may read
// it, in one statement on the pool: it checks the caller's membership and
// reads the keyset page on (conversation_id, seq) from their joining on.
// These are the most frequent reads; through the ORM its per-call cost (two
// calls: membership, then the page) was most of their time.
import type pg from 'pg'

/**
 * The statement of a page: $1 conversation, $2 user, $3 cursor seq, $4 rows.
 * The outer row exists only for a current member; the page starts at their
 * joining (joined_seq). `where` narrows the rows of `table`.
 */
export const memberWindowPage = (table: string, columns: string, where: string, order: 'ASC' | 'DESC') => `
  SELECT ${columns}
    FROM memberships me
    LEFT JOIN LATERAL (
      SELECT * FROM ${table}
       WHERE conversation_id = me.conversation_id AND seq >= me.joined_seq${where}
       ORDER BY seq ${order}
       LIMIT $4::int) m ON true
   WHERE me.conversation_id = $1::uuid AND me.user_id = $2::uuid AND me.left_at IS NULL
   ORDER BY m.seq ${order}`

/** Rows of a member's page; null when the user is not a member. A member's empty page is one row of nulls. */
export async function readMemberWindow<T extends { seq: number | null }> (pool: pg.Pool, sql: string, params: unknown[]): Promise<T[] | null> {
  const { rows } = await pool.query<T>(sql, params)
  if (rows.length === 0) return null
  return rows[0]!.seq === null ? [] : rows
}
