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

/** Where a page may be read: the primary, and a streaming replica if there is one. */
export interface PageSources { pool: pg.Pool, replica?: pg.Pool | undefined }

// A replica that cannot be reached is not a reason to fail a read: the primary answers.
const unreachable = (err: unknown) => {
  const code = (err as { code?: string }).code ?? ''
  return /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|57P0[1-3]|08\d\d\d)$/.test(code) || /timeout|terminated|Connection ended/i.test(String((err as Error).message))
}

/**
 * A member's page, from the replica when it can answer as the primary would
 * for this reader: it has replayed the conversation at least up to
 * `knownSeq` (the highest seq the reader knows of: a replay's `after`, or
 * what the client says it saw), so a page never ends before what the reader
 * already knows. Otherwise, and when the replica does not know the reader as
 * a member yet (a join it has not replayed), or cannot be reached, the
 * primary answers. A replica only moves forward, so what it had at the check
 * it still has for the page.
 */
export async function readMemberWindowFrom<T extends { seq: number | null }> (sources: PageSources, conversationId: string, knownSeq: number, sql: string, params: unknown[]): Promise<T[] | null> {
  const { pool, replica } = sources
  if (replica === undefined) return readMemberWindow(pool, sql, params)
  try {
    if (knownSeq > 0) {
      const { rows } = await replica.query<{ last_seq: number }>('SELECT last_seq FROM conversations WHERE id = $1', [conversationId])
      if (rows[0] === undefined || rows[0].last_seq < knownSeq) return await readMemberWindow(pool, sql, params)
    }
    return await readMemberWindow(replica, sql, params) ?? await readMemberWindow(pool, sql, params)
  } catch (err) {
    if (!unreachable(err)) throw err
    return readMemberWindow(pool, sql, params)
  }
}
