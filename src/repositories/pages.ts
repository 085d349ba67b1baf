// History and replay pages as plain SQL on the pool. They are the most
// frequent reads; through the ORM, its per-call cost (two calls: membership,
// then the page) was most of their time. One statement here checks the
// caller's membership and reads the keyset page on (conversation_id, seq).
import type pg from 'pg'
import type { EventRow } from './events.js'
import type { HistoryCursor, MessageRow } from './messages.js'

const MESSAGE_COLUMNS = `m.id, m.conversation_id AS "conversationId", m.seq, m.sender_id AS "senderId", m.body,
  m.client_message_id AS "clientMessageId", m.reply_to_id AS "replyToId", m.created_at AS "createdAt",
  m.edited_at AS "editedAt", m.deleted_at AS "deletedAt"`

// $1 conversation, $2 user, $3 cursor seq, $4 rows. The outer row exists only
// for a current member; the page starts at their joining (joined_seq).
const pageOf = (table: string, columns: string, where: string, order: 'ASC' | 'DESC') => `
  SELECT ${columns}
    FROM memberships me
    LEFT JOIN LATERAL (
      SELECT * FROM ${table}
       WHERE conversation_id = me.conversation_id AND seq >= me.joined_seq${where}
       ORDER BY seq ${order}
       LIMIT $4::int) m ON true
   WHERE me.conversation_id = $1::uuid AND me.user_id = $2::uuid AND me.left_at IS NULL
   ORDER BY m.seq ${order}`

const HISTORY = {
  before: pageOf('messages', MESSAGE_COLUMNS, ' AND seq < $3::int', 'DESC'),
  after: pageOf('messages', MESSAGE_COLUMNS, ' AND seq > $3::int', 'ASC'),
  // No cursor: $3 is only typed, so that every variant takes the same parameters.
  latest: pageOf('messages', MESSAGE_COLUMNS, ' AND $3::int IS NOT NULL', 'DESC')
}
// The edit or deletion of a message from before the member's window is not
// theirs to see (as the message itself is not): judged by the message's seq.
const EVENTS = pageOf('events', 'm.conversation_id AS "conversationId", m.seq, m.type, m.data, m.created_at AS "createdAt"',
  ` AND seq > $3::int AND NOT (type IN ('message.updated', 'message.deleted') AND (data->>'seq')::int < me.joined_seq)`, 'ASC')

/** Rows of a member's page; null when the user is not a member. A member's empty page is one row of nulls. */
async function page<T extends { seq: number | null }> (pool: pg.Pool, sql: string, params: unknown[]): Promise<T[] | null> {
  const { rows } = await pool.query<T>(sql, params)
  if (rows.length === 0) return null
  return rows[0]!.seq === null ? [] : rows
}

export function createPagesRepository (pool: pg.Pool) {
  return {
    /** `rows` messages of the conversation from the user's joining on, or null when they are not a member. */
    history (conversationId: string, userId: string, cursor: HistoryCursor, rows: number): Promise<MessageRow[] | null> {
      if ('before' in cursor) return page(pool, HISTORY.before, [conversationId, userId, cursor.before, rows])
      if ('after' in cursor) return page(pool, HISTORY.after, [conversationId, userId, cursor.after, rows])
      return page(pool, HISTORY.latest, [conversationId, userId, 0, rows])
    },

    /** `rows` events after `afterSeq`, ascending, from the user's joining on; null when they are not a member. */
    events (conversationId: string, userId: string, afterSeq: number, rows: number): Promise<EventRow[] | null> {
      return page(pool, EVENTS, [conversationId, userId, afterSeq, rows])
    }
  }
}
